"""Where an embedded run's time goes: send a recorded run's first model calls again to the embedded llama.cpp
server and print llama.cpp's own timings per call (prompt tokens processed and reused from the cache, prompt
and generation milliseconds).

    GENIUS_DATA_DIR=../shared/benchmarks python benchmarks/embedded_timings.py RUN_ID --db runs/genius.sqlite \
        [--calls 15] [--model qwen-1.5b] [--runtime auto|native|wheel | --base-url http://127.0.0.1:8089/v1]

The calls go in the recorded order, so the server's prompt cache behaves as it did in the run (after the
first call, which starts from an empty cache). ``--base-url`` sends them to a llama.cpp server started by hand
instead (to compare its flags); ``--runtime`` picks which embedded llama.cpp serves them. One-value answers
go as the client sends them, stopped once decided (agent/llm/grammar.py); ``--whole-answers`` lets them run
to their end, and the last line lists the answers, so two passes can be compared.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agent.llm.bundled import ensure_bundled
from agent.llm.embedded import get_server
from agent.llm.grammar import embedded_answer_request
from storage.runs import read_run


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("run_id")
    ap.add_argument("--db", default="runs/genius.sqlite")
    ap.add_argument("--calls", type=int, default=15)
    ap.add_argument("--model", default="qwen-1.5b")
    ap.add_argument("--runtime", default="auto", choices=("auto", "native", "wheel"))
    ap.add_argument("--base-url", default=None, help="a llama.cpp server's /v1 instead of the embedded one")
    ap.add_argument("--whole-answers", action="store_true", help="do not stop one-value answers once decided")
    args = ap.parse_args()
    requests = [e.payload["request"] for e in await read_run(args.run_id, db=args.db)
                if e.type == "effect.requested" and e.payload["kind"] == "llm" and e.trial == 0][: args.calls]
    base_url = args.base_url or get_server(ensure_bundled(args.model), 1, args.runtime).base_url
    totals = [0.0, 0.0, 0.0, 0, 0]
    answers: list[str] = []
    print(f"{'call':>4} {'purpose':>9} {'cached':>7} {'new':>5} {'prompt ms':>10} {'tokens/s':>9} {'gen':>4} "
          f"{'gen ms':>7} {'wall s':>7}")
    with httpx.Client(timeout=600) as http:
        for i, r in enumerate(requests):
            body = {"model": args.model, "messages": r["messages"], "temperature": r["temperature"],
                    "seed": r["seed"], "max_tokens": r.get("max_tokens", 256)}
            if r.get("answer_schema") is not None:
                body.update(embedded_answer_request(r["answer_schema"], body["max_tokens"],
                                                    whole=args.whole_answers))
            started = time.perf_counter()
            reply = http.post(f"{base_url}/chat/completions", json=body).json()
            t = reply.get("timings", {})
            answers.append(str(reply["choices"][0]["message"]["content"]).strip())
            wall = time.perf_counter() - started
            for k, v in enumerate((t.get("prompt_ms", 0), t.get("predicted_ms", 0), wall, t.get("prompt_n", 0),
                                   t.get("predicted_n", 0))):
                totals[k] += v
            print(f"{i:4} {r.get('purpose', ''):>9} {t.get('cache_n', 0):7} {t.get('prompt_n', 0):5} "
                  f"{t.get('prompt_ms', 0):10.0f} {t.get('prompt_per_second', 0):9.1f} {t.get('predicted_n', 0):4} "
                  f"{t.get('predicted_ms', 0):7.0f} {wall:7.2f}", flush=True)
    print(f"{len(requests)} calls: prompt {totals[3]} tokens in {totals[0] / 1000:.1f} s, generation {totals[4]} "
          f"tokens in {totals[1] / 1000:.1f} s, wall {totals[2]:.1f} s")
    print("answers (as sent back; cut off where decided):", " ".join(answers))


if __name__ == "__main__":
    asyncio.run(main())
