"""Baselines at the same budget on all six spaces, through the real engine (journal, event log, fold).

Prints, per space, the mean best reported accuracy and mean/median strict rank of random search,
regularized evolution and local search over N trials at budget B, next to the paper-protocol random-search
figures of ../shared/benchmarks/README.md.

    GENIUS_DATA_DIR=../shared/benchmarks python benchmarks/baselines.py [--trials 100] [--iterations 10]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agent.engine.config import RunConfig
from agent.engine.orchestrator import start_run
from tools.spaces import SPACE_NAMES

# Best of 10 uniform samples, 10,000 repeats (../shared/benchmarks/README.md).
PAPER_RANDOM = {"nas_macro": (92.434, 593.3), "channel_resnet": (93.523, 1489.9),
                "channel_mobilenet": (91.379, 1481.7), "nb201_cifar10": (93.026, 1616.3),
                "nb201_cifar100": (69.761, 1508.3), "nb201_imagenet16": (43.271, 1503.5)}


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--trials", type=int, default=100)
    ap.add_argument("--iterations", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    print(f"{'space':18} {'optimizer':10} {'mean acc':>9} {'mean rank':>10} {'median':>8} {'s/trial':>8}"
          f"   paper random (acc / rank)")
    with tempfile.TemporaryDirectory() as tmp:
        for space in SPACE_NAMES:
            for optimizer in ("random", "evolution", "local"):
                config = RunConfig(space=space, optimizer=optimizer, trials=args.trials, iterations=args.iterations,
                                   seed=args.seed, parallel=16)
                t0 = time.perf_counter()
                state = await start_run(config, db=str(Path(tmp) / f"{space}-{optimizer}.sqlite"))
                dt = time.perf_counter() - t0
                bests = [t.best() for t in state.trials.values()]
                accs = [b.test_accuracy for b in bests if b and b.test_accuracy is not None]
                ranks = [b.rank for b in bests if b and b.rank is not None]
                ref = PAPER_RANDOM[space]
                print(f"{space:18} {optimizer:10} {statistics.mean(accs):9.3f} {statistics.mean(ranks):10.1f} "
                      f"{statistics.median(ranks):8.0f} {dt / args.trials:8.4f}   "
                      f"{ref[0]:.3f} / {ref[1]:.1f}" if optimizer == "random" else
                      f"{space:18} {optimizer:10} {statistics.mean(accs):9.3f} {statistics.mean(ranks):10.1f} "
                      f"{statistics.median(ranks):8.0f} {dt / args.trials:8.4f}", flush=True)


if __name__ == "__main__":
    asyncio.run(main())
