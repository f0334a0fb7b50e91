"""Our own overhead per search iteration: everything but the model, durably logged.

A paper-mode GENIUS search with a scripted model and table lookups, 100 trials x 10 iterations: every
LLM call and evaluation goes through the journal into the SQLite log (committed before the trial goes on),
the fold keeps each trial's state, prompts are rebuilt every iteration. The model's own time is the
latency recorded for each call (the scripted model answers in-process); the rest is ours.

    GENIUS_DATA_DIR=../shared/benchmarks python benchmarks/overhead.py [--trials 100] [--parallel 16]

``--mode agent`` measures the LangChain agent instead (create_agent, its middleware, the journal): one run
whose model turns each make one lookup call, one whose turns make three; the difference gives the cost of a
tool call, the rest the cost of a model turn (scripted model, one trial at a time).
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

from agent.engine.config import RunConfig
from agent.engine.orchestrator import start_run
from storage import EventLog
from tools.spaces import get_space


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--trials", type=int, default=100)
    ap.add_argument("--iterations", type=int, default=10)
    ap.add_argument("--parallel", type=int, default=16)
    ap.add_argument("--space", default="nas_macro")
    ap.add_argument("--mode", choices=("paper", "agent"), default="paper")
    args = ap.parse_args()
    if args.mode == "agent":
        await agent_overhead(args)
        return
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


async def timed_agent_run(space_name: str, trials: int, iterations: int, per_turn: int, tmp: str) -> tuple[float, int]:
    """Wall seconds of an agent run whose turns each call the lookup ``per_turn`` times, and its model turns."""
    space = get_space(space_name)
    archs = [list(space.from_index(i * 53 % space.size)) for i in range(iterations)]
    turns = [{"content": "", "tool_calls": [{"name": "lookup_benchmark", "args": {"architecture": a}}
                                            for a in archs[i:i + per_turn]]} for i in range(0, iterations, per_turn)]
    script = Path(tmp) / f"agent{per_turn}.json"
    script.write_text(json.dumps(turns))
    config = RunConfig(space=space_name, mode="agent", llm=f"scripted:{script}", trials=trials,
                       iterations=iterations, parallel=1, rate_limit=1e9, seed=0, model_help=False)
    t0 = time.perf_counter()
    state = await start_run(config, db=str(Path(tmp) / f"agent{per_turn}.sqlite"))
    wall = time.perf_counter() - t0
    assert all(len(t.iterations) == iterations for t in state.trials.values())
    return wall, trials * len(turns)


async def agent_overhead(args: argparse.Namespace) -> None:
    get_space(args.space).table()
    trials, iterations = max(1, args.trials // 5), 12
    with tempfile.TemporaryDirectory() as tmp:
        await timed_agent_run(args.space, 1, iterations, 1, tmp)  # imports and graph compilation, untimed
        one, turns_one = await timed_agent_run(args.space, trials, iterations, 1, tmp + "/")
        three, turns_three = await timed_agent_run(args.space, trials, iterations, 3, tmp + "/.")
    calls = trials * iterations
    # one: turns_one x (turn + call); three: turns_three x turn + calls x call
    per_call = (three - one * turns_three / turns_one) / (calls - turns_three)
    per_turn = one / turns_one - per_call
    print(f"agent, {trials} trials x {iterations} evaluations on {args.space}, one trial at a time, scripted model:")
    print(f"  one lookup per turn: {1000 * one / turns_one:.2f} ms per turn (model turn + its tool call)")
    print(f"  three lookups per turn: {1000 * three / turns_three:.2f} ms per turn")
    print(f"  => model turn {1000 * per_turn:.2f} ms, tool call {1000 * per_call:.2f} ms (target < 5 ms per turn)")


if __name__ == "__main__":
    asyncio.run(main())
