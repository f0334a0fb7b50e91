"""A search whose candidates are trained for real (CPU, a tiny learnable dataset made here): the result is a
journaled effect, so resume never retrains a finished candidate and replay never trains."""

from __future__ import annotations

import numpy as np

from agent.engine.config import RunConfig
from agent.engine.orchestrator import replay_run, start_run
from agent.read.report import run_document
from storage import EventLog


def tiny_dataset(path, n_train=256, n_test=128, seed=0) -> str:
    """Ten classes told apart by colour and a stripe pattern, plus noise."""
    rng = np.random.default_rng(seed)

    def make(n):
        y = rng.integers(0, 10, n)
        x = rng.normal(0, 20, (n, 32, 32, 3))
        x[..., 0] += (y[:, None, None] * 25)
        x[:, ::2, :, 1] += np.where(y[:, None, None] % 2 == 0, 80, -80)
        return np.clip(x + 100, 0, 255).astype(np.uint8), y

    x_train, y_train = make(n_train)
    x_test, y_test = make(n_test)
    np.savez(path, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    return str(path)


async def test_training_evaluator_in_a_search_resume_and_replay(tmp_path, tables):
    data = tiny_dataset(tmp_path / "tiny.npz")
    config = RunConfig(space="nb201_cifar10", optimizer="random", trials=1, iterations=2, seed=3, evaluator="train",
                       train={"dataset": data, "epochs": 2, "batch_size": 64, "device": "cpu", "val_fraction": 0.25})
    db = str(tmp_path / "log.sqlite")
    state = await start_run(config, db=db)
    trial = state.trials[0]
    assert [it.status for it in trial.iterations] == ["ok", "ok"]
    for it in trial.iterations:
        assert 0.0 <= it.accuracy <= 100.0 and it.rank is None and it.params and it.params > 0
    log = await EventLog.open(db, create=False)
    try:
        events = await log.read(state.run_id)
    finally:
        await log.close()
    results = [e.payload["ok"] for e in events if e.type == "effect.completed" and e.payload["kind"] == "evaluate"]
    assert len(results) == 2 and all(r["source"] == "train" and r["attempts"] == [] for r in results)
    assert all(r["wall_s"] > 0 for r in results)
    # replay never trains: it reproduces the trials from the log alone
    replayed = await replay_run(state.run_id, db=db)
    assert run_document(replayed)["trials"] == run_document(state)["trials"]


async def test_the_agent_trains_through_its_training_tool_when_training_is_configured(tmp_path, tables):
    import json

    from tests.test_search_e2e import llm_requests, valid_answers

    a = valid_answers("nb201_cifar10", 2)
    script = tmp_path / "s.json"
    script.write_text(json.dumps([{"content": "", "tool_calls": [{"name": "train_architecture",
                                                                  "args": {"architecture": x}}]} for x in a]))
    data = tiny_dataset(tmp_path / "tiny.npz")
    config = RunConfig(space="nb201_cifar10", mode="agent", llm=f"scripted:{script}", trials=1, iterations=2, seed=3,
                       rate_limit=1000.0, evaluator="train",
                       train={"dataset": data, "epochs": 1, "batch_size": 64, "device": "cpu", "val_fraction": 0.25})
    db = str(tmp_path / "log.sqlite")
    state = await start_run(config, db=db)
    assert [it.arch for it in state.trials[0].iterations] == a
    requests = await llm_requests(db, state.run_id)
    # the training tool is offered instead of the lookup, and says how it measured
    assert {t["function"]["name"] for t in requests[0]["tools"]} == {"train_architecture", "query_history"}
    told = requests[1]["messages"][-1]["content"]
    assert "trained 1 epochs on " in told and "on cpu" in told and "Evaluations left: 1" in told
    replayed = await replay_run(state.run_id, db=db)
    assert run_document(replayed)["trials"] == run_document(state)["trials"]


def test_ctrl_c_during_a_training_stops_it_within_a_step(tmp_path, tables):
    """The training stops at its next step, the run is left resumable and nothing half-done is recorded."""
    import json
    import os
    import signal
    import sqlite3
    import subprocess
    import sys
    import time

    from tests.conftest import ROOT
    from tests.test_search_e2e import committed_events

    data = tiny_dataset(tmp_path / "tiny.npz", n_train=512)
    db = str(tmp_path / "l.sqlite")
    # 400 epochs of 8 steps: far longer than this test waits
    proc = subprocess.Popen([sys.executable, str(ROOT / "run_agent.py"), "--space", "nb201_cifar10", "--optimizer",
                             "random", "--trials", "1", "--iterations", "2", "--evaluator", "train", "--dataset", data,
                             "--epochs", "400", "--batch-size", "64", "--run-id", "t", "--db", db],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    deadline = time.monotonic() + 120
    while committed_events(db, "t") < 4 and time.monotonic() < deadline:  # created, started, seed, evaluate asked
        time.sleep(0.1)
    time.sleep(2.0)  # the training is under way
    sent = time.monotonic()
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    stopped_after = time.monotonic() - sent
    assert proc.returncode == 130, err
    assert "resume with: python run_agent.py resume t --db" in err
    # a 400-epoch training takes minutes here; stopping at the next step takes well under that
    assert stopped_after < 30, stopped_after
    con = sqlite3.connect(db)
    rows = [(t, json.loads(p)) for t, p in con.execute("SELECT type, payload FROM events WHERE run_id='t'")]
    con.close()
    assert any(t == "effect.requested" and p["kind"] == "evaluate" for t, p in rows)
    assert not any(t == "effect.completed" and p["kind"] == "evaluate" for t, p in rows)  # nothing half-done
    assert rows[-1][0] == "run.interrupted"
