"""Would asking an iteration's position questions at once make the embedded model faster? Send a recorded
run's iterations again to the embedded llama.cpp server: the first question alone (it brings the iteration's
intro into the prompt cache), then the other questions one after another, and then the same questions all
at once to a server with one slot per question. Prints each way's seconds and the cached tokens per call.

    GENIUS_DATA_DIR=../shared/benchmarks python benchmarks/embedded_concurrency.py RUN_ID --db runs/genius.sqlite \
        [--iterations 5,9] [--model qwen-1.5b]

Why it matters: the questions after the first cost ~45% of an embedded run (each ~50 new tokens, prefilled
in small batches). At once they would be one larger batch, but only if llama.cpp's slots shared the cached
intro; each slot keeps its own cache, so a concurrent question pays for the whole intro again.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agent.llm.bundled import ensure_bundled
from agent.llm.embedded import get_server
from storage.runs import read_run


def body(request: dict[str, Any]) -> dict[str, Any]:
    """The recorded request as the client sends it (temperature, seed, answer schema)."""
    sent = {"messages": request["messages"], "temperature": request["temperature"], "seed": request["seed"],
            "max_tokens": request.get("max_tokens", 16)}
    if request.get("answer_schema") is not None:
        sent["response_format"] = {"type": "json_schema", "json_schema": {
            "name": "answer", "strict": True, "schema": request["answer_schema"]}}
    return sent


async def send(http: httpx.AsyncClient, url: str, request: dict[str, Any]) -> tuple[str, int, int]:
    """The answer, the cached prompt tokens and the new ones."""
    reply = (await http.post(url, json=body(request))).json()
    timings = reply.get("timings", {})
    return reply["choices"][0]["message"]["content"], timings.get("cache_n", 0), timings.get("prompt_n", 0)


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("run_id")
    ap.add_argument("--db", default="runs/genius.sqlite")
    ap.add_argument("--iterations", default="5,9", help="comma list of trial 0's iterations to send again")
    ap.add_argument("--model", default="qwen-1.5b")
    args = ap.parse_args()
    events = await read_run(args.run_id, db=args.db)
    calls = [e.payload["request"] for e in events
             if e.type == "effect.requested" and e.payload["kind"] == "llm" and e.trial == 0]
    per_iteration = [e.payload["questions"] for e in events if e.type == "iteration.completed" and e.trial == 0]
    starts = [sum(per_iteration[:i]) for i in range(len(per_iteration))]
    iterations = [int(i) for i in args.iterations.split(",")]
    slots = max(per_iteration)
    # One server with a slot per question; sent one after another, the questions all land in one slot.
    url = f"{get_server(ensure_bundled(args.model), slots).base_url}/chat/completions"
    async with httpx.AsyncClient(timeout=900) as http:
        await send(http, url, calls[0])  # the task prompt, common to every iteration, into the cache
        print(f"{'iteration':>9} {'way':>10} {'first s':>8} {'rest s':>7}  cached/new tokens per call")
        for it in iterations:
            questions = calls[starts[it]:starts[it] + per_iteration[it]]
            for way in ("in turn", "at once"):
                started = time.perf_counter()
                replies = [await send(http, url, questions[0])]
                first = time.perf_counter() - started
                if way == "in turn":
                    replies += [await send(http, url, q) for q in questions[1:]]
                else:
                    replies += await asyncio.gather(*[send(http, url, q) for q in questions[1:]])
                rest = time.perf_counter() - started - first
                print(f"{it:9} {way:>10} {first:8.2f} {rest:7.2f}  "
                      + " ".join(f"{cached}/{new}" for _, cached, new in replies), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
