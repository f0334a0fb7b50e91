"""Whether a search uses its results: per iteration, how far each proposal is from the best so far, and how good
the proposals are, over the trials of recorded runs.

For each iteration after the first it prints the mean number of positions in which the proposal differs from the
trial's best architecture so far (the best by searched accuracy, the one the agent's questions name) and the
median strict rank of what was evaluated there. A search that learns from its results changes fewer positions
and evaluates better ranks as it goes; one that samples its prior shows flat rows.

    python benchmarks/iteration_profile.py runs/sq36.sqlite [--runs SUBSTRING]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import statistics
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from storage.fold import TrialState
from storage.runs import load_runs


def profile(trials: list[TrialState]) -> tuple[dict[int, list[int]], dict[int, list[int]]]:
    """(positions changed from the best so far, strict rank evaluated), each by iteration. The best so far is
    the fold's own (``TrialState.best`` of the iterations before), the one the agent's questions name."""
    changed: dict[int, list[int]] = defaultdict(list)
    ranks: dict[int, list[int]] = defaultdict(list)
    for trial in trials:
        for n, it in enumerate(trial.iterations):
            best = dataclasses.replace(trial, iterations=trial.iterations[:n]).best()
            if it.arch is not None and best is not None and best.arch is not None:
                changed[it.iteration].append(sum(a != b for a, b in zip(it.arch, best.arch, strict=True)))
            if it.rank is not None:
                ranks[it.iteration].append(it.rank)
    return changed, ranks


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("db")
    ap.add_argument("--runs", default="", help="only runs whose id contains this")
    args = ap.parse_args()
    runs = [r for r in asyncio.run(load_runs(db=args.db)) if args.runs in r.run_id]
    if not runs:
        raise SystemExit(f"no runs in {args.db}" + (f" with {args.runs!r} in their id" if args.runs else ""))
    for run in runs:
        trials = [t for _, t in sorted(run.trials.items()) if t.iterations]
        changed, ranks = profile(trials)
        positions = len(next((it.arch for t in trials for it in t.iterations if it.arch), []))
        print(f"{run.run_id}: {len(trials)} trials, {positions} positions")
        print("  iteration            " + " ".join(f"{i + 1:>6}" for i in sorted(ranks)))
        print("  changed from best    " + " ".join(
            f"{statistics.mean(changed[i]):6.1f}" if changed.get(i) else f"{'-':>6}" for i in sorted(ranks)))
        print("  median rank          " + " ".join(f"{int(statistics.median(ranks[i])):6d}" for i in sorted(ranks)))


if __name__ == "__main__":
    main()
