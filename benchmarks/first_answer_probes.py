"""Two ways of asking the first iteration's position questions that did not bring out a better prior.

Takes a recorded run of position questions and sends its first iteration's questions again to the embedded
model, ``--samples`` times each with independent seeds (sample k of every position shares k, so sample k
assembles one architecture), once as recorded and once changed:

* ``--way shuffled``: each question lists its options in a random order (one per sample) instead of the
  space's order: is the model's liking for the option listed before conv3x3 (conv1x1) an order effect?
* ``--way note``: before the questions the model writes a short note (at most three sentences, up to 90
  tokens, temperature 0.7) on which options of the space tend to give the highest accuracy; the note then
  opens every question of that sample, as the model's own notes.

Prints the strict ranks of the assembled architectures both ways, how often each option was chosen per
position, and the first three notes. Only the first iteration: the prior the questions bring out before any result is
shown, not a search. Any space; a run to take the questions from is one iteration of one trial:

    python run_agent.py search --space channel_mobilenet --trials 1 --iterations 1 --db runs/probe.sqlite \
        --run-id probe-mb
    GENIUS_DATA_DIR=../shared/benchmarks python benchmarks/first_answer_probes.py probe-mb --db runs/probe.sqlite \
        --way note [--samples 16]
"""

from __future__ import annotations

import argparse
import asyncio
import random
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

QUESTION_START = "\n\nConsider "
NOTE_REQUEST = ("Before the questions: in at most three short sentences, which options of these positions tend to "
                "give the highest accuracy, and why? Ignore size and cost.")
NOTE_TOKENS = 90


def with_options_shuffled(user: str, rng: random.Random) -> str:
    """The question at the end of ``user`` with its options (or their rows) in a random order."""
    head, question = user.rsplit(QUESTION_START, 1)
    found = re.search(r"(Its options: |What its options gave so far: )(.*?)\. Ignoring", question)
    if found is None:
        raise SystemExit("the recorded question does not list its options as position questions do")
    items = found.group(2).split(", ")
    rng.shuffle(items)
    return head + QUESTION_START + question[:found.start(2)] + ", ".join(items) + question[found.end(2):]


def without_example(user: str) -> str:
    """``user`` without the task's line on the whole-list answer format and its example list."""
    lines = user.split("\n")
    kept = [line for line in lines if not line.startswith("Your response should be")]
    if len(kept) == len(lines):
        raise SystemExit("the recorded question has no 'Your response should be ...' line to leave out")
    return "\n".join(kept)


def with_note(user: str, note: str) -> str:
    """``user`` with the model's own note between the intro and the question."""
    head, question = user.rsplit(QUESTION_START, 1)
    return f"{head}\n\nYour own notes on this space: {note}{QUESTION_START}{question}"


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("run_id")
    ap.add_argument("--db", default="runs/genius.sqlite")
    ap.add_argument("--way", choices=("shuffled", "note", "no-example"), required=True)
    ap.add_argument("--samples", type=int, default=16)
    ap.add_argument("--model", default="qwen-1.5b")
    args = ap.parse_args()
    run = await load_run(args.run_id, db=args.db)
    space = get_space(run.config["space"])
    first = [e.payload["request"] for e in await read_run(args.run_id, db=args.db)
             if e.type == "effect.requested" and e.payload["kind"] == "llm" and e.trial == 0]
    first = first[:len(space.position_names)]
    if len(first) < len(space.position_names) or any(r.get("purpose") != "position" for r in first):
        raise SystemExit(f"run {args.run_id} does not start with one position question per position")
    url = f"{get_server(ensure_bundled(args.model), 1).base_url}/chat/completions"

    async def answer(http: httpx.AsyncClient, body: dict[str, Any]) -> str:
        return str((await http.post(url, json=body)).json()["choices"][0]["message"]["content"])

    async with httpx.AsyncClient(timeout=600) as http:
        for changed in (False, True):
            ranks: list[int] = []
            notes: list[str] = []
            chosen: list[dict[str, int]] = [{} for _ in first]
            for k in range(args.samples):
                rng = random.Random(k)
                note = ""
                if changed and args.way == "note":
                    system, user = first[0]["messages"][0]["content"], first[0]["messages"][1]["content"]
                    intro = user.rsplit(QUESTION_START, 1)[0]
                    note = (await answer(http, {
                        "messages": [{"role": "system", "content": system},
                                     {"role": "user", "content": f"{intro}\n\n{NOTE_REQUEST}"}],
                        "temperature": 0.7, "seed": 1000 + k, "max_tokens": NOTE_TOKENS})).strip()
                    notes.append(note)
                arch: list[int] = []
                for position, request in enumerate(first):
                    system, user = request["messages"][0]["content"], request["messages"][1]["content"]
                    if changed:
                        if args.way == "shuffled":
                            user = with_options_shuffled(user, rng)
                        elif args.way == "note":
                            user = with_note(user, note)
                        else:
                            user = without_example(user)
                    enum = request["answer_schema"]["enum"]
                    labels = [str(v) for v in enum]
                    content = await answer(http, {
                        "messages": [{"role": "system", "content": system}, {"role": "user", "content": user}],
                        "temperature": 0.7, "seed": 7919 * position + k, "max_tokens": 16,
                        **embedded_answer_format(request["answer_schema"])})
                    # read as the engine reads a position answer; an unreadable one counts as the first option
                    label = read_choice(content, labels)
                    index = labels.index(label) if label is not None else 0
                    chosen[position][labels[index]] = chosen[position].get(labels[index], 0) + 1
                    # a number answered is the value itself (a width; an operation's id is its index), a name
                    # stands for its index
                    arch.append(enum[index] if isinstance(enum[0], int) else index)
                ranks.append(int(space.lookup(tuple(arch)).rank or 0))
            way = args.way if changed else "as recorded"
            print(f"{space.name} {way}: ranks of the assembled architectures: mean {statistics.mean(ranks):.0f}, "
                  f"median {statistics.median(ranks):.0f}, {sorted(ranks)}", flush=True)
            print(f"  chosen per position: {chosen}", flush=True)
            for note in notes[:3]:
                print(f"  note: {' '.join(note.split())}", flush=True)


if __name__ == "__main__":
    asyncio.run(main())
