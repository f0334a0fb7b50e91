"""``compare``'s table for random search, regularized evolution and local search on all six spaces.

Runs one fresh run per optimizer and space through the real engine (a temporary event log), then prints the
summary table ``run_agent.py compare`` prints (differences against random search), and a one-line anytime
summary per optimizer (mean best-so-far rank at T=0, T=B/2 and T=B-1).

    GENIUS_DATA_DIR=../shared/benchmarks python benchmarks/compare_baselines.py [--trials 100] [--iterations 10]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rich.console import Console

from agent.engine.compare import CompareSpec, run_compare
from agent.engine.config import RunConfig
from agent.read.comparison import compare_document, compare_tables
from tools.spaces import SPACE_NAMES, get_space


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--trials", type=int, default=100)
    ap.add_argument("--iterations", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--spaces", default=",".join(SPACE_NAMES))
    args = ap.parse_args()
    console = Console(width=220)
    with tempfile.TemporaryDirectory() as tmp:
        for space in args.spaces.split(","):
            base = RunConfig(space=space, optimizer="random", trials=args.trials, iterations=args.iterations,
                             seed=args.seed, parallel=16)
            t0 = time.perf_counter()
            optimizers = ("random", "evolution", "local")
            runs = await run_compare(CompareSpec(base=base, optimizers=optimizers),
                                     db=str(Path(tmp) / f"{space}.sqlite"))
            doc, _ = compare_document([(r.label, r.state, r.reused) for r in runs], space=space,
                                      size=get_space(space).size, trials=args.trials, iterations=args.iterations,
                                      optimizers=optimizers, seed=args.seed)
            dt = time.perf_counter() - t0
            summary, _curve = compare_tables(doc)
            console.print(summary)
            mid = args.iterations // 2
            for r in doc["optimizers"]:
                m = r["anytime"]["mean"]
                console.print(f"  anytime {r['label']:10} mean best-so-far rank T=0 {m[0]:8.1f}  T={mid} {m[mid]:8.1f}"
                              f"  T={args.iterations - 1} {m[-1]:8.1f}")
            console.print(f"  ({dt:.1f} s for {3 * args.trials} trials)\n")


if __name__ == "__main__":
    asyncio.run(main())
