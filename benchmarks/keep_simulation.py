"""What keeping more of the best architecture could be worth, resampled from a model's recorded answers.

The embedded model's position answers hardly follow the results: at every iteration its proposal differs
from the best so far in about 4 of 6-7 positions, which is what drawing each position from its own answer
frequencies gives. This script takes those frequencies (every answer of the given runs, per position) and
simulates, through the space's table, two ways of spending a budget of 10:

* ``free``: every architecture drawn from the frequencies (what the runs do now);
* ``keep``: the first ``after`` drawn so, then at each position the best architecture's option kept with
  probability ``q``, else drawn from the frequencies (what ``keep_or_change`` asks the model to decide).

Repeats are drawn again; the trial reports the best by searched accuracy, ranked by the reported one, as
``search_quality.py`` does. No model is called: it says what a keep rate would be worth, not what rate the
model will choose.

    GENIUS_DATA_DIR=../shared/benchmarks python benchmarks/keep_simulation.py \\
        runs/sq31.sqlite:sq-nb201_cifar10-agent-embedded-10x10-seed11 [more db:run ...] [--trials 400]
"""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
import statistics
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tools.spaces import get_space
from tools.spaces.base import SearchSpace

BUDGET = 10
SETTINGS = ((0, 0.0), (1, 0.5), (1, 0.85), (2, 0.5), (3, 0.5), (3, 0.7), (4, 0.8))  # (after, q); after 0 = free


def answer_frequencies(sources: list[str]) -> tuple[str, list[Counter[int]]]:
    """The space of the runs and, per position, how often each option was evaluated."""
    space_name, counts = "", []
    for source in sources:
        db, run_id = source.split(":", 1)
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        (config,) = con.execute("SELECT payload FROM events WHERE run_id = ? AND type = 'run.created'",
                                (run_id,)).fetchone()
        name = json.loads(config)["config"]["space"]
        if space_name and name != space_name:
            raise SystemExit(f"{run_id} searches {name}, the others {space_name}: give runs of one space")
        space_name = name
        for (payload,) in con.execute("SELECT payload FROM events WHERE run_id = ? AND type = "
                                      "'iteration.completed'", (run_id,)):
            arch = json.loads(payload).get("arch") or []
            counts = counts or [Counter() for _ in arch]
            for j, value in enumerate(arch):
                counts[j][value] += 1
    if not counts:
        raise SystemExit("no evaluated architectures in the runs given")
    return space_name, counts


def simulate(space: SearchSpace, counts: list[Counter[int]], after: int, q: float, rng: random.Random,
             seen: dict[tuple[int, ...], tuple[float, int]]) -> int:
    """One trial's reported strict rank."""
    def draw(j: int) -> int:
        return rng.choices(list(counts[j]), list(counts[j].values()))[0]

    found: dict[tuple[int, ...], float] = {}
    while len(found) < BUDGET:
        if not after or len(found) < after:
            arch = tuple(draw(j) for j in range(len(counts)))
        else:
            best = max(found, key=lambda a: found[a])
            arch = tuple(best[j] if rng.random() < q else draw(j) for j in range(len(counts)))
        if arch in found:
            continue
        if arch not in seen:
            result = space.lookup(arch)
            seen[arch] = (float(result.accuracy), int(result.rank or 0))
        found[arch] = seen[arch][0]
    return seen[max(found, key=lambda a: found[a])][1]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("runs", nargs="+", help="db:run_id of recorded runs of one space")
    ap.add_argument("--trials", type=int, default=400)
    args = ap.parse_args()
    space_name, counts = answer_frequencies(args.runs)
    space = get_space(space_name)
    seen: dict[tuple[int, ...], tuple[float, int]] = {}
    parts = []
    for after, q in SETTINGS:
        rng = random.Random(0)
        ranks = [simulate(space, counts, after, q, rng, seen) for _ in range(args.trials)]
        label = "free" if not after else f"keep after {after}, q={q}"
        parts.append(f"{label}: {statistics.mean(ranks):.0f}")
    print(f"{space_name} ({args.trials} simulated trials each): " + "; ".join(parts))


if __name__ == "__main__":
    main()
