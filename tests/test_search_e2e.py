"""End-to-end GENIUS searches with scripted replies, on every space: the paper's loop, invalid answers,
repeats, early stop, a model that runs out, resume and exact replay."""

from __future__ import annotations

import json
import sqlite3

import pytest

from agent.engine.config import RunConfig
from agent.engine.orchestrator import replay_run, start_run
from agent.read.report import run_document
from storage import EventLog
from tools.spaces import SPACE_NAMES, get_space


def cfg(**kw) -> RunConfig:
    """A run configuration for scripted models: no rate limit worth waiting for."""
    return RunConfig(rate_limit=1000.0, **kw)


def write_script(path, replies) -> str:
    path.write_text(json.dumps(replies))
    return f"scripted:{path}"


def valid_answers(space_name: str, n: int) -> list[list[int]]:
    space = get_space(space_name)
    step = space.size // (n + 1)
    return [list(space.from_index(1 + i * step)) for i in range(n)]


def committed_events(db: str, run_id: str) -> int:
    """Events of ``run_id`` committed to ``db`` so far, read through a plain read-only connection (a second
    EventLog writer would compete for the log's writer lock with the run being watched)."""
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
        try:
            return int(con.execute("SELECT COUNT(*) FROM events WHERE run_id = ?", (run_id,)).fetchone()[0])
        finally:
            con.close()
    except sqlite3.OperationalError:  # not created yet, or its schema not yet written
        return 0


async def llm_requests(db: str, run_id: str, trial: int = 0) -> list[dict]:
    log = await EventLog.open(db, create=False)
    try:
        events = await log.read(run_id)
    finally:
        await log.close()
    return [e.payload["request"] for e in events
            if e.type == "effect.requested" and e.payload["kind"] == "llm" and e.trial == trial]


@pytest.mark.parametrize("space_name", SPACE_NAMES)
async def test_paper_mode_on_every_space(tmp_path, tables, space_name):
    answers = valid_answers(space_name, 9)
    # invalid prose first (re-asked), then 8 distinct valid answers, then a repeat of the first one
    replies = ["I would pick a strong design.", *[json.dumps(a) for a in answers[:8]], json.dumps(answers[0]),
               json.dumps(answers[8])]
    llm = write_script(tmp_path / "script.json", replies)
    db = str(tmp_path / "log.sqlite")
    state = await start_run(cfg(space=space_name, llm=llm, trials=2, iterations=10, seed=1, parallel=2), db=db)
    space = get_space(space_name)
    assert state.status == "finished"
    for trial in state.trials.values():
        assert trial.status == "finished"
        assert [it.status for it in trial.iterations] == ["ok"] * 10
        assert [it.arch for it in trial.iterations] == [*answers[:8], answers[0], answers[8]]
        assert [it.repeat for it in trial.iterations] == [False] * 8 + [True, False]
        assert trial.iterations[0].attempts == 2 and trial.rejected == 1
        for it in trial.iterations:
            record = space.lookup(tuple(it.arch))
            assert (it.accuracy, it.test_accuracy, it.rank) == (record.accuracy, record.test_accuracy, record.rank)
    # 11 LLM calls per trial, one evaluation per distinct architecture (the repeat is answered from the log)
    assert state.calls == 22
    assert state.evaluations == 18
    doc = run_document(state)
    replayed = run_document(await replay_run(state.run_id, db=db))
    assert replayed["trials"] == doc["trials"]
    assert replayed["usage"]["calls"] == doc["usage"]["calls"]


async def test_macro_prompt_is_rebuilt_with_all_results(tmp_path, tables):
    answers = valid_answers("nas_macro", 3)
    llm = write_script(tmp_path / "s.json", [json.dumps(a) for a in answers])
    db = str(tmp_path / "log.sqlite")
    state = await start_run(cfg(space="nas_macro", llm=llm, trials=1, iterations=3), db=db)
    requests = await llm_requests(db, state.run_id)
    assert [len(r["messages"]) for r in requests] == [2, 2, 2]  # system + one user message, every time
    third = requests[2]["messages"][1]["content"]
    space = get_space("nas_macro")
    for a in answers[:2]:
        acc = space.lookup(tuple(a)).accuracy
        from decimal import ROUND_HALF_UP, Decimal

        shown = Decimal(repr(acc)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
        assert f"{json.dumps(a)} gives an accuracy of {shown}%" in third
    assert "Here are some experimental results" in third
    assert third.rstrip().endswith("Please do not include anything other than the operation ID list in your response.")
    assert "Here are some experimental results" not in requests[0]["messages"][1]["content"]
    assert "ghannels" not in third and "layer2" in third


async def test_nb201_chat_grows_with_validation_feedback(tmp_path, tables):
    answers = valid_answers("nb201_cifar10", 3)
    replies = [json.dumps({"rationale": "conv3x3 everywhere", "op_list": a}) for a in answers]
    db = str(tmp_path / "log.sqlite")
    state = await start_run(cfg(space="nb201_cifar10", llm=write_script(tmp_path / "s.json", replies),
                                      trials=1, iterations=3), db=db)
    requests = await llm_requests(db, state.run_id)
    assert [len(r["messages"]) for r in requests] == [2, 4, 6]
    feedback = requests[1]["messages"][3]["content"]
    val = get_space("nb201_cifar10").lookup(tuple(answers[0])).accuracy
    assert feedback.startswith(f"By using this model, we achieved an accuracy of {val:.3f}%")
    best = state.trials[0].best()
    assert best is not None and best.accuracy == max(
        get_space("nb201_cifar10").lookup(tuple(a)).accuracy for a in answers)


async def test_model_saying_it_cannot_improve_ends_the_trial(tmp_path, tables):
    answers = valid_answers("nas_macro", 2)
    replies = [json.dumps(answers[0]), json.dumps(answers[1]),
               "I believe there is no further improvement possible with these operations."]
    state = await start_run(cfg(space="nas_macro", llm=write_script(tmp_path / "s.json", replies), trials=1,
                                      iterations=10), db=str(tmp_path / "log.sqlite"))
    trial = state.trials[0]
    assert trial.status == "stopped"
    assert [it.status for it in trial.iterations] == ["ok", "ok", "stopped"]


async def test_three_invalid_answers_fail_the_iteration_and_the_trial_goes_on(tmp_path, tables):
    good = valid_answers("channel_resnet", 1)[0]
    replies = ["[1, 2, 3]", "[64, 64, 64, 64, 128, 128, 128]", "no idea", json.dumps(good)]
    db = str(tmp_path / "log.sqlite")
    state = await start_run(cfg(space="channel_resnet", llm=write_script(tmp_path / "s.json", replies),
                                      trials=1, iterations=2), db=db)
    trial = state.trials[0]
    assert [it.status for it in trial.iterations] == ["failed", "ok"]
    assert trial.iterations[0].attempts == 3 and trial.rejected == 3
    requests = await llm_requests(db, state.run_id)
    # each re-ask carries the validation message of the answer before it
    assert "expected a list of 7" in requests[1]["messages"][-1]["content"]
    assert "channels[3]" in requests[2]["messages"][-1]["content"]


async def test_a_model_that_runs_out_fails_its_trial_and_the_run_goes_on(tmp_path, tables):
    answers = valid_answers("nas_macro", 3)
    script = [[json.dumps(a) for a in answers], [json.dumps(answers[0])]]  # trial 1 runs out after one reply
    state = await start_run(cfg(space="nas_macro", llm=write_script(tmp_path / "s.json", script), trials=2,
                                      iterations=3), db=str(tmp_path / "log.sqlite"))
    assert state.status == "finished"
    assert state.trials[0].status == "finished"
    assert state.trials[1].status == "failed" and "LLM call failed" in state.trials[1].reason
    assert state.failed_calls == 1


async def test_cost_is_priced_from_the_configured_prices(tmp_path, tables):
    answers = valid_answers("nas_macro", 2)
    state = await start_run(cfg(space="nas_macro", trials=1, iterations=2, price_prompt_per_1k=0.5,
                                price_completion_per_1k=2.0,
                                llm=write_script(tmp_path / "s.json", [json.dumps(a) for a in answers])),
                            db=str(tmp_path / "log.sqlite"))
    expected = (state.prompt_tokens * 0.5 + state.completion_tokens * 2.0) / 1000.0
    assert state.prompt_tokens > 0 and state.cost == pytest.approx(expected)
    assert run_document(state)["usage"]["cost"] == pytest.approx(expected, abs=1e-6)
