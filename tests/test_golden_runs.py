"""Runs recorded by the first version (tests/golden/runs_v1.sqlite) still verify, fold and replay exactly."""

from __future__ import annotations

import shutil

import pytest

from agent.engine.orchestrator import replay_run
from agent.read.report import run_document
from storage import EventLog
from storage.runs import load_run
from tests.conftest import ROOT

GOLDEN = ROOT / "tests" / "golden" / "runs_v1.sqlite"


@pytest.mark.parametrize("run_id", ["golden-paper", "golden-assisted", "golden-evolution"])
async def test_golden_run_replays_exactly(tmp_path, tables, run_id):
    db = tmp_path / "runs.sqlite"
    shutil.copy(GOLDEN, db)  # opening writes -wal/-shm files beside it; keep the committed file untouched
    log = await EventLog.open(db, create=False, writable=False)
    try:
        assert (await log.verify()).ok
    finally:
        await log.close()
    recorded = await load_run(run_id, db=str(db))
    assert recorded.status == "finished" and recorded.trials
    replayed = await replay_run(run_id, db=str(db))
    assert run_document(replayed)["trials"] == run_document(recorded)["trials"]
    assert replayed.calls == recorded.calls
