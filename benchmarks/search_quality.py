"""Search quality after a budget of evaluations: GENIUS variants against the random-search baseline.

For each space and variant it runs (or resumes, or reuses: run ids are deterministic) one run of N trials
and prints mean/median best strict rank with a bootstrap 95% CI, mean best reported accuracy, the share
of repeats, seconds per iteration and (position questions) the share of choices that took the option with
the best mean so far, next to random search at the same budget (paper protocol, from
../shared/benchmarks/README.md) and the paper's GPT-4 results.

Variants (issue 8's ablation): paper (the paper's method), refuse / sorted / edit / compact / candidates /
schedule / explore / ranked / positions (one assisted behaviour alone), assisted (the defaults: one question per
position, compact prompt, each position's results in its question where options are named operations),
in_question / in_intro (those results forced into each question / into one table in the intro), control
(assisted, but the model's answers replaced by uniform random valid answers through the same pipeline: what
the program adds), assisted_lists / control_lists (the same for the previous default: whole lists with
repeats refused, ranked statistics and exploration, the paper's long prompt).

    GENIUS_DATA_DIR=../shared/benchmarks python benchmarks/search_quality.py --space nas_macro \
        --llm embedded --trials 20 --variants paper,assisted,control

Trials can come in batches: ``--seed 1 --trials 10`` runs ten more (trial seeds differ from seed 0's), and
``--pool OTHER.sqlite`` adds a row pooling every finished trial of the same config (but trials, seed,
scheduling and code version) in --db and the logs named, each trial seed once.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agent.engine.config import AssistOptions, RunConfig
from agent.engine.orchestrator import resume_run, start_run
from agent.logs import configure_logging
from storage import EventLog, RunState
from storage.fold import TrialState
from storage.runs import load_run, load_runs
from tools.spaces import SPACE_NAMES, get_space

RANDOM_BEST_OF_10 = {"nas_macro": (92.434, 593.3), "channel_resnet": (93.523, 1489.9),
                     "channel_mobilenet": (91.379, 1481.7), "nb201_cifar10": (93.026, 1616.3),
                     "nb201_cifar100": (69.761, 1508.3), "nb201_imagenet16": (43.271, 1503.5)}
# The paper's GPT-4 results (its Tables 2-8 / Table 1): best rank per trial where printed.
PAPER_GPT4 = {"nas_macro": "T=0: ranks 8, 27, 61 (Table 3)", "channel_resnet": "rank 33 (Fig. 3)",
              "channel_mobilenet": "rank 16 (Fig. 3)", "nb201_cifar10": "93.84 +- 0.33 (ranks 7, 280, 336)",
              "nb201_cifar100": "70.58 +- 0.33 (ranks 709, 394, 210)",
              "nb201_imagenet16": "44.85 +- 0.57 (ranks 636, 106, 434)"}

NONE = AssistOptions(refuse_repeats=False, sorted_history=False, edit_requests=False, compact_prompt=False,
                     explore_untried=False, ranked_values=False, position_questions=False)
LISTS = AssistOptions(position_questions=False, compact_prompt=False)
VARIANTS: dict[str, tuple[str, AssistOptions, bool] | tuple[str, AssistOptions, bool, bool]] = {
    # name: (mode, assist options, control model[, agent's model_help])
    "paper": ("paper", AssistOptions(), False),
    "refuse": ("assisted", replace(NONE, refuse_repeats=True), False),
    "sorted": ("assisted", replace(NONE, sorted_history=True), False),
    "edit": ("assisted", replace(NONE, edit_requests=True), False),
    "compact": ("assisted", replace(NONE, compact_prompt=True), False),
    "candidates": ("assisted", replace(NONE, candidates=3), False),
    "schedule": ("assisted", replace(NONE, temperature_schedule="1.0:0.3"), False),
    "explore": ("assisted", replace(NONE, explore_untried=True), False),
    "ranked": ("assisted", replace(NONE, ranked_values=True), False),
    "positions": ("assisted", replace(NONE, position_questions=True), False),
    "assisted": ("assisted", AssistOptions(), False),
    # the default decides per space (rows where options are named operations); these force one way
    "in_question": ("assisted", AssistOptions(results_in_question=True), False),
    "in_intro": ("assisted", AssistOptions(results_in_question=False), False),
    "control": ("assisted", AssistOptions(), True),
    # the default before position questions: whole lists with every list behaviour, the paper's long prompt
    "assisted_lists": ("assisted", LISTS, False),
    "control_lists": ("assisted", LISTS, True),
    # The LangChain agent (the main command): with the small-model help (position questions as middleware,
    # the default for the embedded model), its control (random valid answers), and without the help
    # (constrained tool calls: the model writes whole architectures as tool calls).
    "agent": ("agent", AssistOptions(), False, True),
    "agent_control": ("agent", AssistOptions(), True, True),
    "agent_plain": ("agent", AssistOptions(), False, False),
    # the agent's default decides per space whether operations are written by name (options_by_name, on
    # where the options are operations); these force one way
    "agent_named": ("agent", AssistOptions(options_by_name=True), False, True),
    "agent_ids": ("agent", AssistOptions(options_by_name=False), False, True),
    # the agent with the temperature falling over a trial's iterations (exploring first, then following the
    # results more closely); its first iteration asks exactly what the default asks. Tested at stop 34 and not
    # adopted (docs/small-models.md, "Three levers tried at stop 34, none adopted")
    "agent_cooling": ("agent", AssistOptions(temperature_schedule="0.7:0.2"), False, True),
    # the agent whose position questions, from the second iteration, also name the option the best
    # architecture so far has there: its proposals differ from the best in about 4 of 6-7 positions at every
    # iteration, so the results hardly steer it (docs/small-models.md). The default since stop 35;
    # agent_no_incumbent is the default before it
    "agent_incumbent": ("agent", AssistOptions(incumbent_in_question=True), False, True),
    "agent_no_incumbent": ("agent", AssistOptions(incumbent_in_question=False), False, True),
    # the agent whose position questions, from the second iteration, offer "keep" (the best architecture's
    # option there) beside the others (docs/small-models.md)
    "agent_keep": ("agent", AssistOptions(keep_or_change=True), False, True),
}
# Baselines printed beside the variants (--baselines): regularized evolution and local search at 10 and 30
# evaluations, BASELINE_TRIALS trials each through the same engine (a few ms per trial).
BASELINES = (("evolution", 10), ("local", 10), ("evolution", 30), ("local", 30))
BASELINE_TRIALS = 100


def bootstrap_ci(values: list[float], rng: np.random.Generator, n: int = 10_000) -> tuple[float, float]:
    arr = np.asarray(values, dtype=float)
    means = arr[rng.integers(0, len(arr), (n, len(arr)))].mean(axis=1)
    return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


async def run_variant(space: str, variant: str, args: argparse.Namespace) -> RunState:
    spec = VARIANTS[variant]
    mode, assist, control = spec[0], spec[1], spec[2]
    model_help = spec[3] if len(spec) > 3 else None
    llm = "control:random" if control else args.llm
    run_id = f"sq-{space}-{variant}-{llm.replace(':', '_').replace('/', '_')}-{args.trials}x{args.iterations}"
    if args.seed:  # another batch of trials (seed 0 keeps the ids of the runs recorded before this suffix)
        run_id += f"-seed{args.seed}"
    config = RunConfig(space=space, mode=mode, assist=assist, llm=llm, trials=args.trials,
                       iterations=args.iterations, temperature=args.temperature, seed=args.seed,
                       parallel=args.parallel, rate_limit=1000.0, model_help=model_help)
    log = await EventLog.open(args.db)
    try:
        exists = await log.has_run(run_id)
    finally:
        await log.close()
    if not exists:
        return await start_run(config, db=args.db, run_id=run_id)
    state = await load_run(run_id, db=args.db)
    return state if state.status == "finished" else await resume_run(run_id, db=args.db)


def seconds_per_iteration(state: RunState, wall: float | None) -> float:
    iterations = sum(len(t.iterations) for t in state.trials.values())
    if wall is not None and iterations:
        return wall / iterations
    return float("nan")


async def best_mean_counts(db: str, run_id: str, trials: set[int] | None = None) -> tuple[int, int]:
    """Position questions only: (choices that took the option with the best mean accuracy so far, choices),
    after each trial's first iteration (``best_mean_choices`` in the log; (0, 0) otherwise)."""
    log = await EventLog.open(db, create=False)
    try:
        done = [e.payload for e in await log.read(run_id)
                if e.type == "iteration.completed" and (trials is None or e.trial in trials)]
    finally:
        await log.close()
    counted = [p for p in done if "best_mean_choices" in p and p["iteration"] > 0]
    return sum(p["best_mean_choices"] for p in counted), sum(p["positions"] for p in counted)


# What may differ between runs pooled into one row: how many trials and from which seed, how they were
# scheduled, and the code version (pooled rows list the versions; prompts must not have changed between them).
POOL_IGNORES = ("trials", "seed", "parallel", "rate_limit", "code_version")


def pool_key(config: dict[str, Any]) -> str:
    """The recorded config of a run as the pool compares it: behaviours left to the space resolved."""
    parsed = RunConfig.from_json(config)
    space = get_space(parsed.space, parsed.data_dir)
    assist = parsed.assist.resolved(named_options=bool(space.value_names), has_option_names=bool(space.option_names))
    data = replace(parsed, assist=assist).to_json()
    return json.dumps({k: v for k, v in data.items() if k not in POOL_IGNORES}, sort_keys=True)


async def pooled_trials(state: RunState, dbs: list[str]) -> list[tuple[str, RunState, list[TrialState]]]:
    """Finished trials of every finished or unfinished run in ``dbs`` with ``state``'s config (but trials,
    seed, scheduling, code version), ``state``'s first; a trial whose seed an earlier one had is left out
    (two runs from the same base seed share their first trials)."""
    key, seen = pool_key(state.config), set[int | None]()
    found: list[tuple[str, RunState, list[TrialState]]] = []
    candidates = [(dbs[0], state)]
    for db in dict.fromkeys(dbs):
        candidates += [(db, s) for s in await load_runs(db=db)
                       if s.run_id != state.run_id and s.config.get("space") == state.config["space"]]
    for db, run in candidates:
        if pool_key(run.config) != key:
            continue
        done = [t for t in run.trials.values()
                if t.status == "finished" and len(t.iterations) == run.config["iterations"] and t.seed not in seen]
        seen.update(t.seed for t in done)
        if done:
            found.append((db, run, done))
    return found


def print_row(space: str, label: str, trials: list[TrialState], spi: float, led: float) -> None:
    bests = [t.best() for t in trials]
    ranks = [float(b.rank) for b in bests if b is not None and b.rank is not None]
    accs = [float(b.test_accuracy) for b in bests if b is not None and b.test_accuracy is not None]
    reps = [t.repeat_fraction() for t in trials]
    lo, hi = bootstrap_ci(ranks, np.random.default_rng(0)) if ranks else (float("nan"), float("nan"))
    ref = RANDOM_BEST_OF_10.get(space, (float("nan"), float("nan")))
    print(f"{space:18} {label:11} {statistics.mean(ranks):9.0f} [{lo:6.0f}, {hi:6.0f}]"
          f" {statistics.median(ranks):7.0f} {statistics.mean(accs):9.2f} {100 * statistics.mean(reps):7.0f}%"
          f" {spi:7.2f} {100 * led:8.0f}%   {ref[0]:.2f} / {ref[1]:.0f}; {PAPER_GPT4.get(space, '')}", flush=True)


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--space", default="all", help="a space name, a comma list, or all")
    ap.add_argument("--llm", default="embedded")
    ap.add_argument("--variants", default="paper,assisted,control")
    ap.add_argument("--trials", type=int, default=20)
    ap.add_argument("--iterations", type=int, default=10)
    ap.add_argument("--temperature", type=float, default=0.7,
                    help="sampling temperature of every trial (0 makes all trials of a local model identical)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--parallel", type=int, default=2)
    ap.add_argument("--db", default="runs/search_quality.sqlite")
    ap.add_argument("--baselines", action="store_true",
                    help="also print regularized evolution and local search at 10 and 30 evaluations per space")
    ap.add_argument("--pool", default="",
                    help="comma list of more logs: also print each row pooled with the finished trials of runs "
                         "there (and in --db) with the same config but trials and seed, e.g. earlier batches")
    args = ap.parse_args()
    configure_logging(Path(args.db).resolve().parent / "genius.log", quiet=True)
    spaces = list(SPACE_NAMES) if args.space == "all" else args.space.split(",")
    print(f"llm {args.llm}; {args.trials} trials x {args.iterations} iterations; temperature {args.temperature}")
    print(f"{'space':18} {'variant':11} {'mean rank [95% CI]':>26} {'median':>7} {'mean acc':>9} {'repeats':>8}"
          f" {'s/iter':>7} {'best-mean':>9}   random best-of-10 (acc / rank); paper GPT-4")
    for space in spaces:
        if args.baselines:
            for optimizer, budget in BASELINES:
                state = await run_baseline(space, optimizer, budget, args.db)
                print_row(space, f"{optimizer[:5]}@{budget}", list(state.trials.values()), float("nan"), float("nan"))
        for variant in [v for v in args.variants.split(",") if v]:
            started = time.perf_counter()
            state = await run_variant(space, variant, args)
            wall = time.perf_counter() - started
            fresh = wall > 5  # a reused run's wall time says nothing
            spi = seconds_per_iteration(state, wall) if fresh else float("nan")
            hits, choices = await best_mean_counts(args.db, state.run_id)
            print_row(space, variant, list(state.trials.values()), spi, hits / choices if choices else float("nan"))
            if args.pool:
                await print_pooled(space, state, [args.db, *args.pool.split(",")])


async def run_baseline(space: str, optimizer: str, budget: int, db: str) -> RunState:
    run_id = f"sq-{space}-{optimizer}-{BASELINE_TRIALS}x{budget}"
    log = await EventLog.open(db)
    try:
        exists = await log.has_run(run_id)
    finally:
        await log.close()
    if exists:
        return await load_run(run_id, db=db)
    config = RunConfig(space=space, optimizer=optimizer, trials=BASELINE_TRIALS, iterations=budget, seed=0,
                       parallel=16, rate_limit=1000.0)
    return await start_run(config, db=db, run_id=run_id)


async def print_pooled(space: str, state: RunState, dbs: list[str]) -> None:
    """One more row: this run's trials with those of the same config in ``dbs`` (other seeds, other sizes)."""
    found = await pooled_trials(state, dbs)
    trials = [t for _, _, done in found for t in done]
    hits = choices = 0
    for db, run, done in found:
        h, c = await best_mean_counts(db, run.run_id, {t.trial for t in done})
        hits, choices = hits + h, choices + c
    print_row(space, f"pooled {len(trials)}", trials, float("nan"), hits / choices if choices else float("nan"))
    versions = sorted({run.config.get("code_version", "") for _, run, _ in found})
    for db, run, done in found:
        print(f"{'':18}   {len(done):2} trials of {run.run_id} in {db} (seed {run.config.get('seed')})")
    print(f"{'':18}   code versions: {', '.join(versions)}", flush=True)


if __name__ == "__main__":
    asyncio.run(main())
