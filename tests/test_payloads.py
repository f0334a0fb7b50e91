"""Typed event payloads: one declaration per event type (storage/payloads.py) that the writer builds, Event checks
and the fold reads; versions upcast on read, so a log written before a payload changed still replays."""

from __future__ import annotations

import json

import pytest

from agent.engine.orchestrator import replay_run, start_run
from agent.read.report import run_document
from storage import Event
from storage.events import EVENT_TYPES
from storage.payloads import PAYLOADS, failure_cause
from tests.conftest import rewrite_run
from tests.test_failures import script_for, wide
from tests.test_search_e2e import cfg, valid_answers, write_script


def test_every_event_type_has_one_payload_type():
    assert set(PAYLOADS) == set(EVENT_TYPES)


def test_an_event_without_a_required_key_of_its_type_is_refused():
    with pytest.raises(ValueError, match=r"iteration\.completed payload needs arch, attempts"):
        Event("iteration.completed", "r", {"iteration": 0, "status": "ok"})
    with pytest.raises(ValueError, match=r"tool\.returned payload needs status"):
        Event("tool.returned", "r", {"id": "c", "name": "lookup_benchmark", "content": "93.1"})
    Event("iteration.completed", "r", {"iteration": 0, "status": "ok", "arch": None, "attempts": 1})
    # an older version's payload (as read back from an old log) is not held to the current shape
    Event("iteration.completed", "r", {"iteration": 0}, schema_version=1)


@pytest.mark.parametrize(("reason", "cause"), [
    ("LLM call failed: ScriptExhausted: no more replies", "llm"),
    ("evaluation failed: RuntimeError: CUDA out of memory", "evaluation"),
    ("no valid answer in 3 attempts", "no_valid_answer"),
    ("no valid value for channels[2] in 3 attempts", "no_valid_answer"),
    ("no usable answer", "no_valid_answer"),
    ("no channel list within the limits", "over_limits"),
    ("something else", "other"),
])
def test_the_cause_of_a_failure_recorded_before_causes_is_read_from_its_reason(reason, cause):
    assert failure_cause(reason) == cause


async def test_a_log_written_before_causes_replays_and_reads_the_same_causes(tmp_path, tables, monkeypatch):
    """A run with every kind of failure, its log rewritten as version 1 wrote it (no cause, iteration.completed
    v1): replayed on this version, the upcast payloads equal the ones this version writes, causes included."""
    from agent.engine.evaluators import TableEvaluator

    real = TableEvaluator.evaluate

    async def evaluate(self, space, arch, *, seed):
        if arch[3] == max(space.positions[3]):
            raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return await real(self, space, arch, seed=seed)

    monkeypatch.setattr(TableEvaluator, "evaluate", evaluate)
    a = [x for x in valid_answers("channel_resnet", 12) if x[3] != 512]
    # trial 0: ok, a failed evaluation, ok; trial 1: no valid answer in 3 attempts, then the script runs out
    script = [script_for("paper", [a[0], wide(a[1]), a[2]]), ["no idea", "still no idea", "none"]]
    db = str(tmp_path / "new.sqlite")
    state = await start_run(cfg(space="channel_resnet", mode="paper", trials=2, iterations=3, max_attempts=3,
                                llm=write_script(tmp_path / "s.json", script)), db=db)
    causes = [[it.cause for it in t.iterations] for _, t in sorted(state.trials.items())]
    assert causes == [[None, "evaluation", None], ["no_valid_answer", "llm"]]

    def as_version_1(e):
        payload = dict(e.payload)
        if e.type != "iteration.completed":
            return payload, e.schema_version
        payload.pop("cause", None)
        return payload, 1

    await rewrite_run(db, str(tmp_path / "old.sqlite"), state.run_id, as_version_1)
    raw = [json.loads(p) for p in _payloads(str(tmp_path / "old.sqlite"))]
    assert raw and not any("cause" in p for p in raw)  # stored as version 1 wrote it
    replayed = await replay_run(state.run_id, db=str(tmp_path / "old.sqlite"))
    assert run_document(replayed)["trials"] == run_document(state)["trials"]
    assert [[it.cause for it in t.iterations] for _, t in sorted(replayed.trials.items())] == causes


def _payloads(db: str) -> list[str]:
    import sqlite3

    con = sqlite3.connect(db)
    try:
        return [p for (p,) in con.execute("SELECT payload FROM events WHERE type='iteration.completed'")]
    finally:
        con.close()
