"""Write tests/golden/eventlog_v1.sqlite: a small log of schema version 1 with an event of every type.

The committed file is the point: later versions of the log must still open it, verify its chain and fold
it to the same state (tests/test_fold.py::test_golden_v1_log). Do not regenerate it after the schema
changes; add a new ``eventlog_vN.sqlite`` beside it instead. Run: ``python tests/golden/make_golden_eventlog.py``.
"""

from __future__ import annotations

import asyncio
import sqlite3
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from storage import Event, EventLog  # noqa: E402
from storage.events import EVENT_TYPES  # noqa: E402
from storage.log import SCHEMA_VERSION  # noqa: E402

OUT = Path(__file__).with_name("eventlog_v1.sqlite")
RUN, OTHER = "golden-run-1", "golden-run-2"
T0 = 1_767_225_600.0  # fixed timestamps: the file is byte-for-byte reproducible


def events() -> list[Event]:
    clock = iter(T0 + i * 0.5 for i in range(1000))

    def e(type_: str, payload: dict[str, Any], *, run: str = RUN, trial: int | None = None,
          step: int | None = None, key: str | None = None) -> Event:
        return Event(type=type_, run_id=run, payload=payload, trial=trial, step=step, effect_key=key, ts=next(clock))

    llm_ok = {"content": "[1, 0, 2, 4, 3, 1]", "prompt_tokens": 812, "completion_tokens": 37, "cost": 0.0004,
              "attempts": [{"status": 429, "wait_s": 1.0}], "model": "scripted"}
    config = {"space": "nb201", "strategy": "genius", "iterations": 3, "trials": 2, "seed": 7,
              "model": {"provider": "openai", "model": "gpt-4", "api_key": "sk-golden0123456789"}}
    return [
        e("run.created", {"config": config}, key="run/created"),
        e("run.started", {"pid": 4242, "host": "golden", "mode": "live"}),
        e("effect.requested", {"kind": "seed", "request": {"base_seed": 7}}, trial=0, step=1, key="t0/s1/seed/req"),
        e("effect.completed", {"kind": "seed", "ok": 123}, trial=0, step=1, key="t0/s1/seed/res"),
        e("trial.started", {"seed": 123, "temperature": 0.7}, trial=0, step=2, key="t0/s2/trial.started"),
        e("trial.started", {"seed": 456, "temperature": 1.0}, trial=1, step=2, key="t1/s2/trial.started"),
        e("effect.requested", {"kind": "llm", "request": {"messages": [{"role": "user", "content": "propose"}],
                                                          "temperature": 0.7, "purpose": "propose"}},
          trial=0, step=3, key="t0/s3/llm/req"),
        e("effect.completed", {"kind": "llm", "ok": llm_ok}, trial=0, step=3, key="t0/s3/llm/res"),
        e("attempt.rejected", {"iteration": 0, "attempt": 1, "kind": "invalid", "answer": "[9, 9]",
                               "message": "expected 6 choices"}, trial=0, step=4, key="t0/s4/attempt.rejected"),
        e("effect.requested", {"kind": "evaluate", "request": {"arch": [1, 0, 2, 4, 3, 1], "key": "|a|",
                                                               "evaluator": "table"}},
          trial=0, step=5, key="t0/s5/evaluate/req"),
        e("effect.completed", {"kind": "evaluate", "ok": {"accuracy": 91.2, "test_accuracy": 90.8, "rank": 120,
                                                          "params": 1_200_000, "flops": 150_000_000}},
          trial=0, step=5, key="t0/s5/evaluate/res"),
        e("iteration.completed", {"iteration": 0, "status": "ok", "arch": [1, 0, 2, 4, 3, 1], "key": "|a|",
                                  "evaluation": {"accuracy": 91.2, "test_accuracy": 90.8, "rank": 120,
                                                 "params": 1_200_000, "flops": 150_000_000},
                                  "repeat": False, "attempts": 2}, trial=0, step=6, key="t0/s6/iteration.completed"),
        e("iteration.completed", {"iteration": 1, "status": "ok", "arch": [1, 0, 2, 4, 3, 1], "key": "|a|",
                                  "evaluation": {"accuracy": 91.2, "test_accuracy": 90.8, "rank": 120},
                                  "repeat": True, "attempts": 1}, trial=0, step=7, key="t0/s7/iteration.completed"),
        e("effect.requested", {"kind": "llm", "request": {"messages": [], "temperature": 1.0}},
          trial=1, step=3, key="t1/s3/llm/req"),
        e("effect.completed", {"kind": "llm", "error": {"type": "ModelGaveUp", "message": "429 five times"}},
          trial=1, step=3, key="t1/s3/llm/res"),
        e("iteration.completed", {"iteration": 0, "status": "failed", "arch": None, "attempts": 3,
                                  "reason": "no usable answer"}, trial=1, step=4, key="t1/s4/iteration.completed"),
        e("run.interrupted", {"reason": "interrupted by the user (Ctrl-C)"}),
        e("run.started", {"pid": 4343, "host": "golden", "mode": "resume"}),
        e("iteration.completed", {"iteration": 2, "status": "ok", "arch": [0, 0, 0, 0, 0, 0], "key": "|b|",
                                  "evaluation": {"accuracy": 93.5, "test_accuracy": 93.1, "rank": 3},
                                  "repeat": False, "attempts": 1}, trial=0, step=8, key="t0/s8/iteration.completed"),
        e("trial.finished", {"status": "finished", "reason": ""}, trial=0, step=9, key="t0/s9/trial.finished"),
        e("trial.finished", {"status": "failed", "reason": "model gave up"}, trial=1, step=5,
          key="t1/s5/trial.finished"),
        e("run.created", {"config": {"space": "nas_macro", "strategy": "random", "seed": 1}}, run=OTHER,
          key="run/created"),
        e("run.finished", {"status": "finished"}, key="run/finished"),
        e("run.started", {"pid": 4444, "host": "golden", "mode": "live"}, run=OTHER),
        e("run.interrupted", {"reason": "budget exhausted"}, run=OTHER),
    ]


async def write(path: Path) -> None:
    async with await EventLog.open(path) as log:
        await log.append_many(events())


def main() -> None:
    assert SCHEMA_VERSION == 1 and set(EVENT_TYPES.values()) == {1}, "this writes the v1 golden log"
    assert {ev.type for ev in events()} == set(EVENT_TYPES), "the golden log must hold every event type"
    OUT.unlink(missing_ok=True)
    asyncio.run(write(OUT))
    # Small pages and no free space keep the committed file a few KB; it stays in WAL mode like any log.
    con = sqlite3.connect(OUT)
    con.execute("PRAGMA journal_mode=DELETE")
    con.execute("PRAGMA page_size=1024")
    con.execute("VACUUM")
    con.execute("PRAGMA journal_mode=WAL")
    con.close()
    Path(f"{OUT}.writer-lock").unlink(missing_ok=True)
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes, {len(events())} events)")


if __name__ == "__main__":
    main()
