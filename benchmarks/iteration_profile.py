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
import json
import sqlite3
import statistics
from collections import defaultdict
from typing import Any


def trials_of(db: str, run_id: str) -> list[list[dict[str, Any]]]:
    """Each trial's completed iterations (payloads, in order) for the trials that have any."""
    rows = sqlite3.connect(db).execute(
        "SELECT trial, payload FROM events WHERE run_id = ? AND type = 'iteration.completed' ORDER BY seq",
        (run_id,))
    by_trial: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for trial, payload in rows:
        by_trial[trial].append(json.loads(payload))
    return [by_trial[t] for t in sorted(by_trial)]


def profile(trials: list[list[dict[str, Any]]]) -> tuple[dict[int, list[int]], dict[int, list[int]]]:
    """(positions changed from the best so far, strict rank evaluated), each by iteration."""
    changed: dict[int, list[int]] = defaultdict(list)
    ranks: dict[int, list[int]] = defaultdict(list)
    for iterations in trials:
        best: dict[str, Any] | None = None
        for p in iterations:
            evaluation = p.get("evaluation") or {}
            if best is not None:
                changed[p["iteration"]].append(sum(a != b for a, b in zip(p["arch"], best["arch"], strict=True)))
            if evaluation.get("rank") is not None:
                ranks[p["iteration"]].append(int(evaluation["rank"]))
            accuracy = evaluation.get("accuracy")
            if accuracy is not None and (best is None or accuracy > best["evaluation"]["accuracy"]):
                best = p
    return changed, ranks


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("db")
    ap.add_argument("--runs", default="", help="only runs whose id contains this")
    args = ap.parse_args()
    run_ids = [r for (r,) in sqlite3.connect(args.db).execute("SELECT DISTINCT run_id FROM events ORDER BY seq")
               if args.runs in r]
    if not run_ids:
        raise SystemExit(f"no runs in {args.db}" + (f" with {args.runs!r} in their id" if args.runs else ""))
    for run_id in run_ids:
        trials = trials_of(args.db, run_id)
        changed, ranks = profile(trials)
        positions = len(trials[0][0]["arch"]) if trials else 0
        print(f"{run_id}: {len(trials)} trials, {positions} positions")
        print("  iteration            " + " ".join(f"{i + 1:>6}" for i in sorted(ranks)))
        print("  changed from best    " + " ".join(
            f"{statistics.mean(changed[i]):6.1f}" if changed.get(i) else f"{'-':>6}" for i in sorted(ranks)))
        print("  median rank          " + " ".join(f"{int(statistics.median(ranks[i])):6d}" for i in sorted(ranks)))


if __name__ == "__main__":
    main()
