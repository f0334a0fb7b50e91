"""Print how long each benchmark table takes to load and how many lookups per second a space serves.

Usage: ``GENIUS_DATA_DIR=/path/to/benchmarks python benchmarks/spaces_load.py [--data-dir DIR]``
(not a test: figures are printed, not asserted).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from tools.data import data_location
from tools.spaces import SPACE_NAMES, get_space


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--lookups", type=int, default=200_000)
    args = parser.parse_args()
    print(f"{'space':18} {'size':>6} {'load ms':>8} {'lookup/s':>11} {'parse+lookup/s':>15} {'index/s':>10}")
    for name in SPACE_NAMES:
        space = type(get_space(name, args.data_dir))(data_location(args.data_dir))  # fresh: cold load
        t0 = time.perf_counter()
        space.table()
        load_ms = (time.perf_counter() - t0) * 1e3

        rng = np.random.default_rng(0)
        archs = [space.from_index(int(i)) for i in rng.integers(0, space.size, args.lookups)]
        keys = [space.key(a) for a in archs[: args.lookups // 4]]
        t0 = time.perf_counter()
        for arch in archs:
            space.lookup(arch)
        lookups = len(archs) / (time.perf_counter() - t0)
        t0 = time.perf_counter()
        for key in keys:
            space.lookup(space.parse(key))
        parsed = len(keys) / (time.perf_counter() - t0)
        t0 = time.perf_counter()
        for arch in archs:
            space.index(arch)
        indexed = len(archs) / (time.perf_counter() - t0)
        print(f"{name:18} {space.size:6d} {load_ms:8.1f} {lookups:11,.0f} {parsed:15,.0f} {indexed:10,.0f}")


if __name__ == "__main__":
    main()
