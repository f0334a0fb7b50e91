"""One-string answers on the embedded server: llama.cpp's json_schema grammar against our exact grammar.

Takes the first ``--questions`` recorded questions of a run whose answers are one string out of a list
(position questions that write operations by name, or letters), and sends each ``--samples`` times with
independent seeds, once under the strict ``json_schema`` response format and once under the exact GBNF grammar
the client now sends there (agent/llm/grammar.py). Prints, for each way, the unusable answers (the engine would
ask again), the generated tokens and seconds per answer, and how often each option came out.

    GENIUS_DATA_DIR=../shared/benchmarks python benchmarks/answer_grammar.py RUN_ID --db runs/sq23.sqlite \
        [--questions 12] [--samples 5]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import statistics
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agent.engine.strategies.position_questions import read_choice
from agent.llm.bundled import ensure_bundled
from agent.llm.embedded import get_server
from agent.llm.grammar import enum_literals, literal_grammar
from storage.runs import read_run


def _one_string(schema: dict) -> bool:
    """Whether ``schema`` asks for one string out of a list."""
    return schema.get("type") == "string" and enum_literals(schema) is not None


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("run_id")
    ap.add_argument("--db", default="runs/genius.sqlite")
    ap.add_argument("--questions", type=int, default=12)
    ap.add_argument("--samples", type=int, default=5)
    ap.add_argument("--model", default="qwen-1.5b")
    args = ap.parse_args()
    asked = [e.payload["request"] for e in await read_run(args.run_id, db=args.db)
             if e.type == "effect.requested" and e.payload["kind"] == "llm"
             and _one_string(e.payload["request"].get("answer_schema") or {})][:args.questions]
    if not asked:
        raise SystemExit(f"run {args.run_id} has no recorded question answered by one string out of a list")
    url = f"{get_server(ensure_bundled(args.model), 1).base_url}/chat/completions"
    ways = {
        "json_schema": lambda schema: {"response_format": {"type": "json_schema", "json_schema": {
            "name": "answer", "strict": True, "schema": schema}}},
        "exact grammar": lambda schema: {"grammar": literal_grammar(enum_literals(schema) or [])},
    }
    async with httpx.AsyncClient(timeout=600) as http:
        for way, answer_format in ways.items():
            unusable, tokens, seconds = 0, [], []
            chosen: collections.Counter[str] = collections.Counter()
            for q, request in enumerate(asked):
                labels = [str(v) for v in request["answer_schema"]["enum"]]
                for k in range(args.samples):
                    body = {"messages": request["messages"], "temperature": request.get("temperature") or 0.7,
                            "seed": 7919 * q + k, "max_tokens": request.get("max_tokens") or 16,
                            **answer_format(request["answer_schema"])}
                    started = time.perf_counter()
                    reply = (await http.post(url, json=body)).json()
                    seconds.append(time.perf_counter() - started)
                    tokens.append(int(reply["usage"]["completion_tokens"]))
                    label = read_choice(reply["choices"][0]["message"]["content"], labels)
                    unusable += label is None
                    chosen[label or "(unusable)"] += 1
            n = len(tokens)
            print(f"{way}: {n} answers to {len(asked)} questions; unusable {unusable}; generated tokens mean "
                  f"{statistics.mean(tokens):.1f} (max {max(tokens)}); {statistics.mean(seconds):.2f} s per answer; "
                  f"chosen {dict(chosen.most_common())}", flush=True)


if __name__ == "__main__":
    asyncio.run(main())
