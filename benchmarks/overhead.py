"""Our own overhead per search iteration: everything but the model, durably logged.

A paper-mode GENIUS search with a scripted model and table lookups, 100 trials x 10 iterations: every
LLM call and evaluation goes through the journal into the SQLite log (committed before the trial goes on),
the fold keeps each trial's state, prompts are rebuilt every iteration. The model's own time is the
latency recorded for each call (the scripted model answers in-process); the rest is ours.

    GENIUS_DATA_DIR=../shared/benchmarks python benchmarks/overhead.py [--trials 100] [--parallel 16]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agent.config import RunConfig
from agent.orchestrator import start_run
from storage import EventLog
from tools.spaces import get_space


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--trials", type=int, default=100)
    ap.add_argument("--iterations", type=int, default=10)
    ap.add_argument("--parallel", type=int, default=16)
    ap.add_argument("--space", default="nas_macro")
    args = ap.parse_args()
    space = get_space(args.space)
    space.table()  # load outside the timed part
    with tempfile.TemporaryDirectory() as tmp:
        answers = [json.dumps(list(space.from_index(i * 53 % space.size))) for i in range(args.iterations)]
        script = Path(tmp) / "script.json"
        script.write_text(json.dumps(answers))
        db = str(Path(tmp) / "log.sqlite")
        config = RunConfig(space=args.space, llm=f"scripted:{script}", trials=args.trials, iterations=args.iterations,
                           parallel=args.parallel, rate_limit=1e9, seed=0)
        cpu0, t0 = time.process_time(), time.perf_counter()
        state = await start_run(config, db=db)
        wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
        log = await EventLog.open(db, create=False, writable=False)
        events = await log.read()
        await log.close()
        size = os.path.getsize(db) + (os.path.getsize(db + "-wal") if os.path.exists(db + "-wal") else 0)
    n = sum(len(t.iterations) for t in state.trials.values())
    model_s = sum(float(e.payload["ok"]["latency_s"]) for e in events
                  if e.type == "effect.completed" and e.payload.get("kind") == "llm" and "ok" in e.payload)
    print(f"{args.trials} trials x {args.iterations} iterations on {args.space}, {args.parallel} trials at once: "
          f"{n} iterations, {len(events)} events ({len(events) / n:.1f} per iteration), {size / n:.0f} bytes/iteration")
    print(f"wall {wall:.2f} s = {1000 * wall / n:.3f} ms/iteration; process CPU {1000 * cpu / n:.3f} ms/iteration")
    if args.parallel == 1:
        # one call at a time: the recorded latencies do not overlap, so they can be taken off the wall time
        print(f"model (scripted, recorded latency) {1000 * model_s / n:.3f} ms/iteration")
        print(f"our overhead: {1000 * (wall - model_s) / n:.3f} ms/iteration wall (target < 2 ms)")
    else:
        # concurrent calls overlap, so the wall time per iteration, model included, bounds our overhead
        print(f"our overhead <= {1000 * wall / n:.3f} ms/iteration wall, model included (target < 2 ms)")


if __name__ == "__main__":
    asyncio.run(main())
