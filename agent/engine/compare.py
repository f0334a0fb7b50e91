"""Compare optimizers on one space at the same budget: run (or with ``--reuse`` find) one run each, then
summarise them with :mod:`agent.read.comparison`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from agent.engine import orchestrator
from agent.engine.config import OPTIMIZERS, RunConfig
from storage.fold import RunState
from storage.runs import load_runs
from tools.errors import UserError


@dataclass(frozen=True)
class CompareSpec:
    """What ``compare`` was asked for. The base config carries space, budget, seed, model and mode."""

    base: RunConfig
    optimizers: tuple[str, ...]
    reuse: bool = False


def parse_optimizers(text: str) -> tuple[str, ...]:
    """``genius,random`` -> ("genius", "random"); unknown or repeated names are a user error."""
    names = tuple(s.strip() for s in text.split(",") if s.strip())
    unknown = [n for n in names if n not in OPTIMIZERS]
    if not names or unknown:
        raise UserError(f"--optimizers takes a comma list of {', '.join(OPTIMIZERS)}; got {text!r}")
    if len(set(names)) != len(names):
        raise UserError(f"--optimizers names an optimizer twice ({text!r}); list each once")
    return names


def matches(state: RunState, config: RunConfig) -> bool:
    """Whether a logged run can stand in for a new run of ``config`` (``compare --reuse``).

    Same space, optimizer, iteration budget, evaluator and constraints, finished, with at least as many
    trials; for evolution also its population and tournament size; for genius also the model, mode,
    temperature and assisted-mode options. Seeds are not compared: any finished run of the same protocol
    is a fair sample.
    """
    c = state.config
    if state.status != "finished" or len(state.trials) < config.trials:
        return False
    want = config.to_json()
    keys = ["space", "optimizer", "iterations", "evaluator", "max_params", "max_flops", "obfuscate"]
    if config.optimizer == "evolution":
        keys += ["population", "sample_size"]
    if config.optimizer == "local":
        keys += ["local_init"]
    if config.optimizer == "genius":
        keys += ["llm", "base_url", "mode", "temperature", "assist"]
    # A key missing from an older log counts as this version's default, except where RunConfig.from_json says
    # what older versions did instead (local search's start: 1 random architecture before local_init).
    defaults = {**RunConfig(space=config.space).to_json(), "local_init": 1}
    return all(c.get(k, defaults.get(k)) == want[k] for k in keys)


def newest_match(states: Sequence[RunState], config: RunConfig) -> RunState | None:
    found = [s for s in states if matches(s, config)]
    return max(found, key=lambda s: (s.created_ts or 0.0, s.run_id)) if found else None


def _announce(say: Callable[[str], None], optimizer: str) -> Callable[[str], None]:
    return lambda run_id: say(f"{optimizer}: run {run_id}")


@dataclass(frozen=True)
class ComparedRun:
    """One optimizer's run in a comparison: found in the log (``reused``) or started for it."""

    label: str
    state: RunState
    reused: bool


async def run_compare(spec: CompareSpec, *, db: str, note: Callable[[str], None] | None = None) -> list[ComparedRun]:
    """Run (or with ``reuse`` find) one run per optimizer, in the order asked; the read side summarises them
    (:func:`agent.read.comparison.compare_document`)."""
    say = note or (lambda _text: None)
    base = spec.base
    existing: list[RunState] = []
    if spec.reuse and db != ":memory:" and Path(db).exists():
        existing = await load_runs(db=db)
    runs: list[ComparedRun] = []
    for optimizer in spec.optimizers:
        config = replace(base, optimizer=optimizer)
        found = newest_match(existing, config) if spec.reuse else None
        if found is not None:
            say(f"{optimizer}: reusing run {found.run_id}")
            state, reused = found, True
        else:
            if spec.reuse:
                say(f"{optimizer}: no finished run to reuse; starting one")
            state = await orchestrator.start_run(config, db=db, on_run_id=_announce(say, optimizer))
            reused = False
        label = optimizer if optimizer != "genius" else f"genius ({config.llm}, {config.mode})"
        runs.append(ComparedRun(label=label, state=state, reused=reused))
    return runs
