"""A run's configuration: everything needed to resume or replay it, recorded in ``run.created``."""

from __future__ import annotations

import dataclasses
import math
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tools.errors import UserError

OPTIMIZERS = ("genius", "random", "evolution", "local")
MODES = ("paper", "agent", "assisted")
EVALUATORS = ("table", "train")
TOOL_CALLS = ("auto", "native", "json")
JSON_SCHEMA_MODES = ("auto", "on", "off")
EMBEDDED_RUNTIMES = ("auto", "native", "wheel")
HISTORY_SCOPES = ("trial", "run", "space")
# Models in this process (no endpoint of the user's): agent mode helps them by default (model_help).
IN_PROCESS_MODELS = ("embedded", "control")
# The default request rate for a network endpoint (requests per second, shared by every trial of a run).
NETWORK_RATE_LIMIT = 5.0
# The most a count may be: beyond these a typo, not a plan (a run of 10^12 trials would never end).
MOST = {"trials": 100_000, "iterations": 100_000, "parallel": 1_024, "max_attempts": 100, "population": 100_000,
        "sample_size": 100_000, "local_init": 100_000}
# The longest a single model request may be given (--timeout), in seconds.
MAX_TIMEOUT_S = 3600.0


def _finite(value: float | None) -> bool:
    return value is None or math.isfinite(value)


def _number_problems(c: RunConfig) -> list[str]:
    """What is wrong with the run's numbers, each naming the flag, the value and what is allowed."""
    out = []
    # flag, value, whether 0 is allowed, highest allowed
    checks: list[tuple[str, float | None, bool, float | None]] = [
        ("--rate-limit", c.rate_limit, False, None),
        ("--timeout", c.request_timeout_s, False, MAX_TIMEOUT_S),
        ("--max-cost", c.max_cost, False, None),
        ("--price-prompt", c.price_prompt_per_1k, True, None),
        ("--price-completion", c.price_completion_per_1k, True, None),
    ]
    for flag, value, zero_ok, high in checks:
        if value is None:
            continue
        low_ok = value >= 0 if zero_ok else value > 0
        if not _finite(float(value)) or not low_ok or (high is not None and value > high):
            allowed = "a number >= 0" if zero_ok else "a number > 0"
            if high is not None:
                allowed += f" and at most {high:g}"
            out.append(f"{flag} must be {allowed}, got {value}")
    for flag, count in (("--max-tokens", c.max_tokens), ("--tokens-per-minute", c.tokens_per_minute),
                        ("--max-params", c.max_params), ("--max-flops", c.max_flops)):
        if count is not None and count < 1:
            out.append(f"{flag} must be a whole number of at least 1, got {count}")
    return out


@dataclass(frozen=True)
class AssistOptions:
    """Help for small models (``--mode assisted``); each behaviour can be switched off to measure it."""

    refuse_repeats: bool = True  # a repeat is refused with its recorded result and re-asked, at no budget cost
    sorted_history: bool = True  # history shown best first, with per-position statistics
    edit_requests: bool = True  # ask to change one or two positions of the best architecture so far
    candidates: int = 1  # >1: sample several answers at temperature > 0 and let the model pick one
    temperature_schedule: str = ""  # e.g. "0.2:1.0" = linear from 0.2 at the first iteration to 1.0 at the last
    max_refusals: int = 6  # refused repeats per iteration before the repeat is accepted as the paper would
    compact_prompt: bool = True  # a short space description instead of the paper's PyTorch listings
    explore_untried: bool = True  # first iterations: ask for values never tried, until every value has a result
    ranked_values: bool = True  # statistics list each position's values best first; ask to build from the best
    # Ask for one position at a time (with every option's results in the prompt) instead of a whole list;
    # the whole-list behaviours above (repeats, edits, candidates, exploration, ranking) then do not apply.
    position_questions: bool = True
    # Position questions: each question lists its own position's results (mean accuracy per option, or
    # untried) right before asking, instead of one table of every position in the intro. None (default) =
    # decided per space when the run starts (see :meth:`asks_with_results`) and recorded resolved.
    results_in_question: bool | None = None
    # Position questions on spaces whose options are operations: write each option by its short name
    # ("conv3x3") instead of its id ("3"), in the task, the questions, their rows and the best results.
    # None (default) = on where the space has such names (NAS-Bench-201, nas_macro), decided when the run
    # starts (see :meth:`writes_names`) and recorded resolved (docs/small-models.md).
    options_by_name: bool | None = None
    # Position questions, from the second iteration: each question also says which option the best
    # architecture so far has at its position ("The best channel list so far (91.00%) has 576 here."). The
    # default since stop 35: chosen on nb201_cifar10 (642 against 928 on the same trial seeds), then on fresh
    # seeds better than the bar on four of six, nb201_cifar10 among them (docs/small-models.md).
    incumbent_in_question: bool = True
    # Position questions, once three architectures have results: each question offers "keep" (the option the
    # best architecture so far has at its position) beside the other options.
    keep_or_change: bool = False

    # Behaviours added after the first version: a recorded config without them ran without them, so it
    # must load with them off (replay re-sends exactly the recorded prompts).
    ADDED_LATER = ("explore_untried", "ranked_values", "position_questions", "results_in_question", "options_by_name",
                   "incumbent_in_question", "keep_or_change")

    def problems(self) -> list[str]:
        """What is wrong with these options, for the one-line error (empty when nothing is)."""
        out = []
        if self.candidates < 1:
            out.append(f"--candidates must be at least 1, got {self.candidates}")
        if self.temperature_schedule:
            parts = self.temperature_schedule.split(":")
            try:
                values = [float(x) for x in parts]
            except ValueError:
                values = []
            if len(parts) != 2 or len(values) != 2 or not all(0.0 <= v <= 2.0 for v in values):
                out.append(f"--temperature-schedule must be START:END with temperatures between 0 and 2, e.g. "
                           f"1.0:0.3; got {self.temperature_schedule!r}")
        return out

    def asks_with_results(self, named_options: bool) -> bool:
        """Whether position questions carry their position's results: as set, or when unset (auto) where
        the options are named operations (NAS-Bench-201, nas_macro) and not where they are sizes (channel
        widths). Measured with the 1.5B default (README, "Small models"): the rows beat random search where
        the model has no prior over operations, and pull it off its good prior (wider is better) on widths."""
        return named_options if self.results_in_question is None else self.results_in_question

    def writes_names(self, has_option_names: bool) -> bool:
        """Whether position questions write options by name: as set, or when unset (auto) where the space
        has short names for them. Measured with the 1.5B default on nb201_cifar10: the first answers' mean
        rank halved (7,024 with ids, 3,515 with names, 20 samples) and the search went from 1,193 to 585 on
        the same trial seeds (docs/small-models.md)."""
        return has_option_names if self.options_by_name is None else self.options_by_name

    def resolved(self, named_options: bool, has_option_names: bool = False) -> AssistOptions:
        """These options with the behaviours left to the space (``results_in_question``,
        ``options_by_name``) decided, as a run records them."""
        return dataclasses.replace(self, results_in_question=self.asks_with_results(named_options),
                                   options_by_name=self.writes_names(has_option_names))


@dataclass(frozen=True)
class RunConfig:
    """The whole configuration of a run (JSON-serialisable; recorded in the log)."""

    space: str
    optimizer: str = "genius"
    mode: str = "paper"
    llm: str = "embedded"
    base_url: str | None = None
    trials: int = 3
    iterations: int = 10
    temperature: float = 0.0
    seed: int | None = None
    parallel: int = 1
    # Requests per second to the model's endpoint. None: NETWORK_RATE_LIMIT for a network endpoint, none for
    # an in-process model (embedded, scripted, control), which only a concurrency cap limits.
    rate_limit: float | None = None
    tokens_per_minute: int | None = None
    max_attempts: int = 3
    evaluator: str = "table"
    data_dir: str | None = None
    max_params: int | None = None
    max_flops: int | None = None
    obfuscate: bool = False
    obfuscation_seed: int | None = None  # drawn at start when --obfuscate and not given; recorded
    population: int = 5  # regularized evolution
    sample_size: int = 3  # regularized evolution
    # local search: random architectures evaluated before the first step (NASLib's num_init, default 10); it
    # then starts from the best of them. Runs recorded before this setting started from 1 (see from_json).
    local_init: int = 10
    max_tokens: int | None = None
    max_cost: float | None = None
    # Per 1,000 tokens, for cost accounting and --max-cost. None: from the price database when the run starts
    # (agent/llm/prices.py; 0 for local models), and recorded resolved.
    price_prompt_per_1k: float | None = None
    price_completion_per_1k: float | None = None
    request_timeout_s: float = 600.0
    # Decided when the run starts (from what the endpoint supports) and recorded, so that resume and
    # replay send exactly the same requests.
    structured_output: bool | None = None
    tool_calling: bool | None = None
    train: dict[str, Any] = field(default_factory=dict)
    assist: AssistOptions = field(default_factory=AssistOptions)
    code_version: str = ""
    # Agent mode: the small-model help (one question per position, as middleware). None = decided when the
    # run starts (on for in-process models: the embedded model and the random control; and for a server that
    # reports a model of at most 10B parameters, as llama.cpp's /models does) and recorded.
    model_help: bool | None = None
    # How tool calls reach the agent: "native" (the endpoint returns tool_calls), "json" (a JSON-schema
    # constrained reply naming the tool and its arguments, turned into a tool call), "auto" (json for the
    # embedded model and llama.cpp servers, native elsewhere).
    tool_calls: str = "auto"
    # Whether answers are asked under a strict ``json_schema`` response format: "on", "off", or "auto"
    # (decided per endpoint: the embedded model, OpenAI models that have it, and servers whose /models says
    # so or that are known to take it; agent/llm/providers.py). What was decided is ``structured_output``.
    json_schema: str = "auto"
    # What the agent's history tool shows: this trial (the default, what the per-trial budget and every
    # comparison assume), this run's trials, or every run on this space in the log.
    history_scope: str = "trial"
    # Which llama.cpp serves the embedded model: "auto" (a llama-server built for this CPU by build-llama-server
    # where there is one, else the xllamacpp wheel in process), "native" or "wheel"; ``embedded_server`` records
    # which one served when the run started. Only speed differs: both get the same requests.
    embedded_runtime: str = "auto"
    embedded_server: str | None = None

    def __post_init__(self) -> None:
        problems = []
        if self.optimizer not in OPTIMIZERS:
            problems.append(f"--optimizer must be one of {', '.join(OPTIMIZERS)}")
        if self.mode not in MODES:
            problems.append(f"--mode must be one of {', '.join(MODES)}")
        if self.tool_calls not in TOOL_CALLS:
            problems.append(f"--tool-calls must be one of {', '.join(TOOL_CALLS)}")
        if self.json_schema not in JSON_SCHEMA_MODES:
            problems.append(f"--json-schema must be one of {', '.join(JSON_SCHEMA_MODES)}")
        if self.embedded_runtime not in EMBEDDED_RUNTIMES:
            problems.append(f"--embedded-runtime must be one of {', '.join(EMBEDDED_RUNTIMES)}")
        if self.history_scope not in HISTORY_SCOPES:
            problems.append(f"--history-scope must be one of {', '.join(HISTORY_SCOPES)}")
        if self.evaluator not in EVALUATORS:
            problems.append(f"--evaluator must be one of {', '.join(EVALUATORS)}")
        for name in ("trials", "iterations", "parallel", "max_attempts", "population", "sample_size", "local_init"):
            value, most = getattr(self, name), MOST[name]
            if not 1 <= value <= most:
                problems.append(f"--{name.replace('_', '-')} must be between 1 and {most:,}, got {value}")
        if not 0.0 <= self.temperature <= 2.0:
            problems.append(f"--temperature must be between 0 and 2, got {self.temperature}")
        problems += _number_problems(self)
        problems += self.assist.problems()
        if self.sample_size > self.population:
            problems.append("--sample-size must not exceed --population")
        if problems:
            raise UserError("; ".join(problems))

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def request_rate_limit(self) -> float:
        """Requests per second the run's client allows (0: no limit): as given, else by where the model is."""
        if self.rate_limit is not None:
            return self.rate_limit
        return 0.0 if self.llm.split(":", 1)[0] in (*IN_PROCESS_MODELS, "scripted") else NETWORK_RATE_LIMIT

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunConfig:
        data = dict(data)
        recorded = dict(data.pop("assist", None) or {})
        for name in AssistOptions.ADDED_LATER:
            recorded.setdefault(name, False)
        assist = AssistOptions(**{k: v for k, v in recorded.items() if k in AssistOptions.__dataclass_fields__})
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        known.setdefault("local_init", 1)  # what local search did before the setting was recorded
        return cls(assist=assist, **known)

    @property
    def uses_llm(self) -> bool:
        return self.optimizer == "genius"

    def resolved_model_help(self) -> bool:
        """Whether agent mode asks one position at a time: as set, else for in-process models."""
        if self.mode != "agent" or not self.uses_llm:
            return False
        if self.model_help is not None:
            return self.model_help
        return self.llm.split(":", 1)[0] in IN_PROCESS_MODELS


def code_version() -> str:
    """The package version plus the git commit when run from a checkout (recorded, not enforced)."""
    from importlib import metadata

    try:
        version = metadata.version("genius-agent")
    except metadata.PackageNotFoundError:
        version = "0+unknown"
    try:
        root = Path(__file__).resolve().parents[2]
        sha = subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True, timeout=5, check=False).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        sha = ""
    return f"{version}+{sha}" if sha else version
