"""The most assisted mode's explore_untried + ranked_values can give: a model that follows them exactly.

A table-lookup simulation (no model, no event log): each trial first proposes one architecture per value
of the widest position, every position walking through its values in a random order (so every value is
tried once, as explore_untried asks), then, while budget is left, the architecture made of each position's
best value by mean accuracy (what ranked_values lists first); if that was evaluated already, the best one
with one position changed to its best-ranked untested alternative. Prints mean/median best strict rank
against the paper-protocol random search at the same budget.

    GENIUS_DATA_DIR=../shared/benchmarks python benchmarks/statistics_ceiling.py [--trials 300] [--budget 10]
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.baselines import PAPER_RANDOM
from tools.evaluation import Arch, Evaluation
from tools.spaces import SPACE_NAMES, get_space
from tools.spaces.base import SearchSpace


def value_means(space: SearchSpace, history: dict[Arch, Evaluation]) -> list[dict[int, float]]:
    """Per position: value -> mean accuracy of the evaluated architectures using it (-1 when untried)."""
    out = []
    for j, values in enumerate(space.positions):
        means = {}
        for v in values:
            accs = [e.accuracy for a, e in history.items() if a[j] == v]
            means[v] = float(np.mean(accs)) if accs else -1.0
        out.append(means)
    return out


def one_trial(space: SearchSpace, budget: int, rng: np.random.Generator) -> int:
    history: dict[Arch, Evaluation] = {}
    positions = space.positions
    orders = [rng.permutation(len(values)) for values in positions]
    for i in range(min(budget, max(len(values) for values in positions))):
        arch = tuple(int(values[orders[j][i % len(values)]]) for j, values in enumerate(positions))
        history.setdefault(arch, space.lookup(arch))
    while len(history) < budget:
        means = value_means(space, history)
        combined = tuple(max(m, key=lambda v, m=m: m[v]) for m in means)
        if combined not in history:
            history[combined] = space.lookup(combined)
            continue
        best = max(history, key=lambda a: history[a].accuracy)
        edits = []
        for j, values in enumerate(positions):
            for v in values:
                edited = (*best[:j], int(v), *best[j + 1:])
                if edited not in history:
                    edits.append((means[j][v], rng.random(), edited))
        if not edits:
            break
        arch = max(edits)[2]
        history[arch] = space.lookup(arch)
    return int(max(history.values(), key=lambda e: e.accuracy).rank or 0)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--trials", type=int, default=300)
    ap.add_argument("--budget", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    # What a prior that puts one option everywhere is worth (the k-th option at every position: on the
    # channel spaces the last is the widest network, on nas_macro the largest block, on NAS-Bench-201 an op).
    print("strict rank of the architecture with the k-th option at every position (k = 0, 1, ...):")
    for name in SPACE_NAMES:
        space = get_space(name)
        width = min(len(values) for values in space.positions)
        ranks = [space.lookup(tuple(int(values[k]) for values in space.positions)).rank for k in range(width)]
        print(f"  {name:18} {' / '.join(str(r) for r in ranks)} of {space.size}")
    print(f"{'space':18} {'mean rank':>10} {'median':>8}   random best-of-{args.budget} mean rank")
    for name in SPACE_NAMES:
        space = get_space(name)
        ranks = [one_trial(space, args.budget, rng) for _ in range(args.trials)]
        print(f"{name:18} {statistics.mean(ranks):10.0f} {statistics.median(ranks):8.0f}   "
              f"{PAPER_RANDOM[name][1]:.0f}", flush=True)


if __name__ == "__main__":
    main()
