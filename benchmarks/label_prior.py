"""The model's first answers with option ids against option names: does naming the operations in the
position questions bring out a better prior?

Takes a recorded run of position questions on a space whose options are numbered operations (NAS-Bench-201,
nas_macro), and sends its first iteration's questions again to the embedded model, ``--samples`` times each
with independent seeds: once as recorded ("0 untried, 1 untried, ..." answered with an id), once with every id
replaced by the name given in ``--names`` ("none untried, skip untried, ..." answered with a name). Prints how
often each option was chosen per position, and the strict ranks of the architectures assembled from the
k-th answers (where none of them was unreadable).

    GENIUS_DATA_DIR=../shared/benchmarks python benchmarks/label_prior.py RUN_ID --db runs/sq23.sqlite \
        --names none,skip,conv1x1,conv3x3,avgpool [--samples 20]

Each answer is constrained as the client constrains it on the embedded server (agent/llm/grammar.py: names
under an exact grammar since stop 23; the figures of stop 22 in docs/small-models.md were taken under
llama.cpp's json_schema grammar). Only the first iteration: it measures the prior the questions bring out
before any result is shown (where the 1.5B model's first answers on NAS-Bench-201 lie around rank 10,000 of
15,625), not a search.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import statistics
import sys
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agent.engine.strategies.position_questions import read_choice
from agent.llm.bundled import ensure_bundled
from agent.llm.embedded import get_server
from agent.llm.grammar import embedded_answer_format
from storage.runs import load_run, read_run
from tools.spaces import get_space


def with_names(request: dict[str, Any], names: list[str]) -> dict[str, Any]:
    """``request`` with every option id written as its name: in the task's list of operations ("3 = ..."), in
    the example answer, in the question's row ("3 untried") and in the answer schema."""
    system, user = request["messages"][0]["content"], request["messages"][1]["content"]
    ids = "|".join(str(i) for i in range(len(names)))
    user = re.sub(rf"\b({ids}) = ", lambda m: f"{names[int(m.group(1))]} = ", user)
    user = re.sub(r"for example \[([0-9, ]+)\]",
                  lambda m: "for example [" + ", ".join(names[int(x)] for x in m.group(1).split(", ")) + "]", user)
    user = re.sub(rf"\b({ids}) untried", lambda m: f"{names[int(m.group(1))]} untried", user)
    user = user.replace("operation ID list", "operation list")
    return {**request, "messages": [{"role": "system", "content": system}, {"role": "user", "content": user}],
            "answer_schema": {"type": "string", "enum": names}}


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("run_id")
    ap.add_argument("--db", default="runs/genius.sqlite")
    ap.add_argument("--names", required=True, help="comma list: the name of option 0, 1, ...")
    ap.add_argument("--samples", type=int, default=20)
    ap.add_argument("--model", default="qwen-1.5b")
    args = ap.parse_args()
    names = args.names.split(",")
    run = await load_run(args.run_id, db=args.db)
    space = get_space(run.config["space"])
    positions = len(space.position_names)
    first = [e.payload["request"] for e in await read_run(args.run_id, db=args.db)
             if e.type == "effect.requested" and e.payload["kind"] == "llm" and e.trial == 0][:positions]
    if any(r.get("purpose") != "position" for r in first) or any("untried" not in r["messages"][1]["content"]
                                                               for r in first):
        raise SystemExit(f"run {args.run_id} does not start with position questions that list their rows")
    url = f"{get_server(ensure_bundled(args.model), 1).base_url}/chat/completions"
    async with httpx.AsyncClient(timeout=600) as http:
        for way, requests in (("ids", first), ("names", [with_names(r, names) for r in first])):
            answers: list[list[int | None]] = []
            for position, request in enumerate(requests):
                column: list[int | None] = []
                for k in range(args.samples):
                    body = {"messages": request["messages"], "temperature": request["temperature"],
                            "seed": 7919 * position + k, "max_tokens": 16,
                            **embedded_answer_format(request["answer_schema"])}
                    reply = (await http.post(url, json=body)).json()
                    labels = [str(v) for v in request["answer_schema"]["enum"]]
                    # read as the engine reads a position answer (JSON, or the first label in the text)
                    label = read_choice(reply["choices"][0]["message"]["content"], labels)
                    # an unreadable answer (the engine would re-ask it) counts as such, not as an option
                    column.append(None if label is None else labels.index(label))
                answers.append(column)
            complete = [k for k in range(args.samples) if all(col[k] is not None for col in answers)]
            ranks = [int(space.lookup(tuple(int(col[k] or 0) for col in answers)).rank or 0) for k in complete]
            print(f"{way}: chosen per position ({', '.join(names)}, unreadable): "
                  + " | ".join(" ".join(str(col.count(o)) for o in [*range(len(names)), None]) for col in answers))
            print(f"{way}: ranks of the assembled architectures: mean {statistics.mean(ranks):.0f}, median "
                  f"{statistics.median(ranks):.0f}, best {min(ranks)}, {sorted(ranks)}", flush=True)


if __name__ == "__main__":
    asyncio.run(main())
