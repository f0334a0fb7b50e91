"""Start-up time of the commands that only read: --help, spaces, runs and show (issue 18 asks < 0.3 s).

Runs each command N times as a new process and prints the median and best wall time.

    GENIUS_DATA_DIR=../shared/benchmarks python benchmarks/startup.py [--repeat 7]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def timed(args: list[str], repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        subprocess.run([sys.executable, str(ROOT / "run_agent.py"), *args], capture_output=True, check=True)
        times.append(time.perf_counter() - started)
    return times


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args()
    from agent.engine.config import RunConfig
    from agent.engine.orchestrator import start_run

    with tempfile.TemporaryDirectory() as tmp:
        db = str(Path(tmp) / "l.sqlite")
        state = asyncio.run(start_run(RunConfig(space="nas_macro", optimizer="random", trials=3), db=db))
        python = []
        for _ in range(args.repeat):
            started = time.perf_counter()
            subprocess.run([sys.executable, "-c", "pass"], check=True)
            python.append(time.perf_counter() - started)
        print(f"python itself: median {statistics.median(python):.3f} s")
        for label, command in (("--help", ["--help"]), ("spaces", ["spaces"]), ("runs", ["runs", "--db", db]),
                               ("show", ["show", state.run_id, "--db", db])):
            times = timed(command, args.repeat)
            print(f"{label:8} median {statistics.median(times):.3f} s, best {min(times):.3f} s")


if __name__ == "__main__":
    main()
