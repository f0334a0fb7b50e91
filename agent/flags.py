"""The command line's flags: the parser of every command, and the RunConfig a search's flags make."""

from __future__ import annotations

import argparse
import dataclasses
import math
import sys
from typing import Any

from agent.engine.config import MODES, OPTIMIZERS, AssistOptions, RunConfig
from storage import DEFAULT_DB
from tools.errors import UserError

# The paper samples at temperature 0; elsewhere trials must differ, which a local model does at 0.7 (the
# temperature every small-model measurement in the README used).
PAPER_TEMPERATURE = 0.0
DEFAULT_TEMPERATURE = 0.7

COMMANDS = ("search", "resume", "replay", "runs", "show", "verify", "spaces", "compare", "report",
            "build-llama-server")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # exit 2 with one line, as for every bad input
        print(f"error: {message} (see {self.prog} --help)", file=sys.stderr)
        raise SystemExit(2)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def _db_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--db", default=str(DEFAULT_DB), help=f"event log file (default {DEFAULT_DB})")


def _search_args(p: argparse.ArgumentParser, *, one_run: bool = True) -> None:
    """The flags of every command that starts runs (``search``; ``compare`` without ``--optimizer`` and
    ``--run-id``, since it starts one run per optimizer), so no command drops one."""
    p.add_argument("--space", required=True, help="search space (python run_agent.py spaces lists them)")
    p.add_argument("--llm", default="embedded", help="embedded[:qwen-1.5b|qwen-0.5b|smollm2|PATH.gguf] | "
                   "openai:MODEL | scripted:FILE.json (default embedded = embedded:qwen-1.5b)")
    p.add_argument("--base-url", default=None, help="OpenAI-compatible endpoint for openai:MODEL")
    if one_run:
        p.add_argument("--optimizer", choices=OPTIMIZERS, default="genius")
    p.add_argument("--mode", choices=MODES, default="agent",
                   help="agent (default): the LangChain agent with its tools; paper: the paper's method; "
                        "assisted: the position-question loop without the agent")
    p.add_argument("--model-help", choices=("auto", "on", "off"), default="auto",
                   help="agent mode: ask one position at a time (auto: on for the embedded model, control:random and "
                        "servers that report a model of at most 10B parameters, as llama.cpp's does)")
    p.add_argument("--history-scope", choices=("trial", "run", "space"), default="trial",
                   help="agent mode: what the history tool shows (default this trial; run: every trial of this run; "
                        "space: every run on this space in the log)")
    p.add_argument("--tool-calls", choices=("auto", "native", "json"), default="auto",
                   help="agent mode: native tool_calls, or a JSON-schema constrained reply turned into a tool call "
                        "(auto: json for the embedded model and llama.cpp servers)")
    p.add_argument("--json-schema", choices=("auto", "on", "off"), default="auto",
                   help="ask answers under a strict JSON schema (auto: where the endpoint is known to take one: "
                        "the embedded model, OpenAI's newer models, llama.cpp, vLLM and SGLang servers, and servers "
                        "whose /models advertises it)")
    p.add_argument("--embedded-runtime", choices=("auto", "native", "wheel"), default="auto",
                   help="which llama.cpp serves the embedded model: native, the llama-server that build-llama-server "
                        "compiled for this CPU; wheel, xllamacpp in process (auto: native where it is built)")
    p.add_argument("--trials", type=_positive_int, default=3)
    p.add_argument("--iterations", type=_positive_int, default=10)
    p.add_argument("--temperature", type=_float, default=None,
                   help=f"sampling temperature (default {PAPER_TEMPERATURE} in paper mode, as the paper; "
                        f"{DEFAULT_TEMPERATURE} otherwise, so that trials differ)")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--parallel", type=_positive_int, default=1, help="trials at once, sharing one LLM client")
    p.add_argument("--rate-limit", type=_float, default=None,
                   help="LLM requests per second, shared by the run's trials (default 5 for a network endpoint, "
                        "none for an in-process model)")
    p.add_argument("--tokens-per-minute", type=int, default=None, help="LLM token rate limit (shared)")
    p.add_argument("--max-tokens", type=int, default=None, help="stop new LLM calls after this many tokens")
    p.add_argument("--max-cost", type=_float, default=None, help="stop new LLM calls after this cost")
    p.add_argument("--price-prompt", type=_float, default=None,
                   help="price per 1,000 prompt tokens (default: the price database's, 0 for local models)")
    p.add_argument("--price-completion", type=_float, default=None,
                   help="price per 1,000 completion tokens (default: the price database's, 0 for local models)")
    p.add_argument("--timeout", type=_float, default=600.0, help="seconds per LLM request attempt")
    p.add_argument("--data-dir", default=None, help="benchmark tables (else $GENIUS_DATA_DIR, cache, download)")
    p.add_argument("--evaluator", choices=("table", "train"), default="table")
    p.add_argument("--dataset", default="cifar10", help="--evaluator train: cifar10 | cifar100 | PATH.npz")
    p.add_argument("--train-data-dir", default=None, help="--evaluator train: where the dataset lives")
    p.add_argument("--epochs", type=_positive_int, default=None)
    p.add_argument("--batch-size", type=_positive_int, default=None)
    p.add_argument("--executor", choices=("local", "ray"), default="local")
    p.add_argument("--ray-address", default=None)
    p.add_argument("--gpus-per-eval", type=_float, default=None)
    p.add_argument("--max-params", type=int, default=None)
    p.add_argument("--max-flops", type=int, default=None)
    p.add_argument("--obfuscate", action="store_true", help="neutral names, permuted positions (contamination probe)")
    p.add_argument("--population", type=_positive_int, default=5, help="regularized evolution population")
    p.add_argument("--sample-size", type=_positive_int, default=3, help="regularized evolution tournament size")
    p.add_argument("--local-init", type=_positive_int, default=10,
                   help="local search: random architectures evaluated before it starts from the best (NASLib's 10)")
    p.add_argument("--assist", default="all",
                   help="assisted mode behaviours: all (position_questions, compact_prompt, incumbent_in_question: "
                        "from the second iteration each question names the best architecture's option there; "
                        "for whole-list requests refuse_repeats, sorted_history, edit_requests, explore_untried, "
                        "ranked_values; results_in_question: by default on for named operations, off "
                        "for channel widths; options_by_name: operations written by name, by default on where the "
                        "options are operations; off by default: keep_or_change, each question offers 'keep' for "
                        "the best's option) | none | a comma list of those | the defaults changed by "
                        "no-NAME (off) and +NAME (on), e.g. +keep-or-change,no-incumbent-in-question")
    p.add_argument("--candidates", type=_positive_int, default=1, help="assisted: answers sampled per iteration")
    p.add_argument("--temperature-schedule", default="", help="assisted: START:END linear over iterations")
    if one_run:
        p.add_argument("--run-id", default=None)
    _db_arg(p)
    p.add_argument("--json", action="store_true", help="print one JSON document on stdout")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="run_agent.py", description="GENIUS: a language model searches neural architectures.")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)
    _search_args(sub.add_parser("search", help="start a search (the default command)"))
    for name, text in (("resume", "continue an interrupted run"), ("replay", "re-execute a run from its log")):
        p = sub.add_parser(name, help=text)
        p.add_argument("run_id")
        _db_arg(p)
        p.add_argument("--json", action="store_true")
        if name == "resume":  # how the endpoint is reached and the budget may change; what is asked may not
            p.add_argument("--base-url", default=None, help="a new OpenAI-compatible endpoint for the run's model")
            p.add_argument("--timeout", type=_float, default=None, help="seconds per LLM request attempt")
            p.add_argument("--rate-limit", type=_float, default=None, help="LLM requests per second (shared)")
            p.add_argument("--max-cost", type=_float, default=None, help="a new cost budget for the whole run")
            p.add_argument("--max-tokens", type=int, default=None, help="a new token budget for the whole run")
            p.add_argument("--retry-failed", action="store_true",
                           help="evaluate failed candidates again (a finished run too): each trial with a failure "
                                "runs again from its first one; what it did after that stays in the log, superseded")
    p = sub.add_parser("runs", help="table of runs")
    _db_arg(p)
    p.add_argument("--json", action="store_true")
    p = sub.add_parser("show", help="a run's per-iteration table")
    p.add_argument("run_id")
    _db_arg(p)
    p.add_argument("--json", action="store_true")
    p.add_argument("--csv", action="store_true", help="one row per evaluation")
    p.add_argument("--plot", default=None, help="write accuracy/rank per iteration to this PNG")
    p = sub.add_parser("compare", help="run (or reuse) one run per optimizer and compare them")
    # every search flag (the model's apply to genius only), with a comparison's defaults
    _search_args(p, one_run=False)
    p.set_defaults(trials=10, mode="paper", seed=0)
    p.add_argument("--optimizers", default="genius,random,evolution,local",
                   help=f"comma list of {','.join(OPTIMIZERS)}; compared against genius, else the first")
    p.add_argument("--reuse", action="store_true",
                   help="take the newest finished run of the same protocol in --db instead of a new one")
    p.add_argument("--plot", default=None, help="write the best-so-far rank curves to this PNG")
    p = sub.add_parser("report", help="one self-contained HTML page for one or more runs")
    p.add_argument("run_ids", nargs="+", metavar="RUN_ID")
    _db_arg(p)
    p.add_argument("--html", required=True, help="write the page to this file")
    p = sub.add_parser("verify", help="check the log's hash chain")
    _db_arg(p)
    p = sub.add_parser("spaces", help="list the search spaces")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--json", action="store_true")
    p = sub.add_parser("build-llama-server",
                       help="compile llama.cpp's server for this CPU (minutes, once); the embedded model then runs on "
                            "it, reading prompts faster where the cores have more than AVX2")
    p.add_argument("--jobs", type=int, default=None, help="parallel compile jobs (default: the CPU count)")
    p.add_argument("--if-useful", action="store_true",
                   help="build only where it pays: the cores have AVX-512 and nothing is built for them yet; where "
                        "it cannot build (no cmake or compiler, no PyPI, a compile error), say why and exit 0, and "
                        "the embedded model stays on the in-process wheel")
    return parser


def _assist_options(text: str, candidates: int, schedule: str) -> AssistOptions:
    """``all`` (the defaults) | ``none`` | names to switch on (``a,b``) | the defaults with some switched off
    (``no-a``) and some on (``+b``). A behaviour the defaults leave to the space (results_in_question,
    options_by_name) is forced on or off by naming it."""
    defaults = AssistOptions()
    # Every on/off behaviour of AssistOptions, so a behaviour added there is reachable here too.
    names = tuple(f.name for f in dataclasses.fields(AssistOptions) if f.type in (bool, "bool", "bool | None"))
    items = [s.strip().replace("-", "_") for s in text.split(",") if s.strip()]
    if items == ["all"]:
        flags = {n: getattr(defaults, n) for n in names}
    elif items == ["none"]:
        flags = dict.fromkeys(names, False)
    else:
        changes = [i.startswith(("no_", "+")) for i in items]
        if any(changes) and not all(changes):
            raise UserError(f"--assist {text!r} mixes names to switch on alone with changes to the defaults; "
                            "either list every behaviour wanted (a,b) or change the defaults (no-a,+b)")
        relative = all(changes)
        flags = {n: getattr(defaults, n) for n in names} if relative else dict.fromkeys(names, False)
        for item in items:
            key = item.removeprefix("no_").removeprefix("+")
            if key not in flags:
                raise UserError(f"--assist: unknown behaviour {item!r}; use all, none, or names from "
                                f"{', '.join(names)} (alone, or as changes to the defaults with no- and +)")
            flags[key] = not item.startswith("no_")
    return AssistOptions(candidates=candidates, temperature_schedule=schedule, **flags)


def config_from_args(a: argparse.Namespace, *, optimizer: str | None = None) -> RunConfig:
    """The RunConfig the search flags in ``a`` ask for (``optimizer``: for ``compare``, which has none)."""
    train: dict[str, Any] = {"dataset": a.dataset}
    for key, value in (("data_dir", a.train_data_dir), ("epochs", a.epochs), ("batch_size", a.batch_size)):
        if value is not None:
            train[key] = value
    if a.executor != "local":
        train.update(executor=a.executor, ray_address=a.ray_address, gpus_per_eval=a.gpus_per_eval)
    temperature = a.temperature
    if temperature is None:
        temperature = PAPER_TEMPERATURE if a.mode == "paper" else DEFAULT_TEMPERATURE
    return RunConfig(
        space=a.space, optimizer=optimizer or a.optimizer, mode=a.mode, llm=a.llm, base_url=a.base_url, trials=a.trials,
        iterations=a.iterations, temperature=temperature, seed=a.seed, parallel=a.parallel,
        model_help={"auto": None, "on": True, "off": False}[a.model_help], tool_calls=a.tool_calls,
        json_schema=a.json_schema, history_scope=a.history_scope, embedded_runtime=a.embedded_runtime,
        rate_limit=a.rate_limit, tokens_per_minute=a.tokens_per_minute, evaluator=a.evaluator,
        data_dir=a.data_dir, max_params=a.max_params,
        max_flops=a.max_flops, obfuscate=a.obfuscate, population=a.population, sample_size=a.sample_size,
        local_init=a.local_init,
        max_tokens=a.max_tokens, max_cost=a.max_cost, request_timeout_s=a.timeout,
        price_prompt_per_1k=a.price_prompt, price_completion_per_1k=a.price_completion,
        train=train if a.evaluator == "train" else {},
        assist=_assist_options(a.assist, a.candidates, a.temperature_schedule))
