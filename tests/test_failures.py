"""A candidate whose evaluation fails is a recorded failure, not the end of the run: the iteration is marked
failed (x), the model is told, the trial goes on, and resume and replay return the recorded failure.

The failing hardware is outside the process, so it is stood in for: the table lookup raises the error a GPU
that ran out of memory raises, for the widest architectures only."""

from __future__ import annotations

import json

import pytest

from agent.engine.evaluators import TableEvaluator
from agent.engine.orchestrator import replay_run, resume_run, start_run
from agent.read.report import paper_table, run_document
from storage import EventLog
from storage.errors import UserError
from tests.test_search_e2e import cfg, llm_requests, valid_answers, write_script
from tools.spaces import get_space


@pytest.fixture
def wide_channels_run_out_of_memory(monkeypatch):
    calls = []
    real = TableEvaluator.evaluate

    async def evaluate(self, space, arch, *, seed):
        calls.append(tuple(arch))
        if space.family == "channel" and arch[3] == max(space.positions[3]):
            raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return await real(self, space, arch, seed=seed)

    monkeypatch.setattr(TableEvaluator, "evaluate", evaluate)
    return calls


def script_for(mode: str, plan: list[list[int]]) -> list:
    """The scripted model's replies proposing ``plan`` in order: answers (paper mode) or lookups (agent mode)."""
    if mode == "paper":
        return [json.dumps(x) for x in plan]
    return [{"content": "", "tool_calls": [{"name": "lookup_benchmark", "args": {"architecture": x}}]} for x in plan]


def wide(arch: list[int]) -> list[int]:
    space = get_space("channel_resnet")
    return [*arch[:3], max(space.positions[3]), *arch[4:]]


@pytest.mark.parametrize("mode", ["paper", "agent"])
async def test_a_failing_evaluation_is_recorded_and_the_trial_goes_on(tmp_path, tables, mode,
                                                                      wide_channels_run_out_of_memory):
    a = valid_answers("channel_resnet", 3)
    a = [x for x in a if x[3] != 512] + [x for x in valid_answers("channel_resnet", 9) if x[3] != 512]
    plan = [a[0], wide(a[1]), a[2]]
    replies = script_for(mode, plan)
    db = str(tmp_path / "l.sqlite")
    state = await start_run(cfg(space="channel_resnet", mode=mode, trials=2, iterations=3, parallel=2,
                                llm=write_script(tmp_path / "s.json", replies)), db=db)
    assert state.status == "finished"
    for trial in state.trials.values():
        assert trial.status == "finished"
        assert [it.status for it in trial.iterations] == ["ok", "failed", "ok"]
        assert "CUDA out of memory" in trial.iterations[1].reason
        assert trial.iterations[1].arch == plan[1]
    table = paper_table(state)
    from rich.console import Console

    console = Console(width=200, record=True)
    console.print(table)
    assert " x" in console.export_text()
    if mode == "agent":
        told = (await llm_requests(db, state.run_id))[2]["messages"][-1]["content"]
        assert "failed (RuntimeError: CUDA out of memory" in told and "Evaluations left: 1" in told
    evaluations = len(wide_channels_run_out_of_memory)
    assert evaluations == 6
    # replay and resume return the recorded failure: nothing is evaluated again
    replayed = await replay_run(state.run_id, db=db)
    assert run_document(replayed)["trials"] == run_document(state)["trials"]
    again = await resume_run(state.run_id, db=db)
    assert run_document(again)["trials"] == run_document(state)["trials"]
    assert len(wide_channels_run_out_of_memory) == evaluations
    log = await EventLog.open(db, create=False)
    try:
        failed = [e for e in await log.read(state.run_id)
                  if e.type == "effect.completed" and e.payload["kind"] == "evaluate" and "error" in e.payload]
    finally:
        await log.close()
    assert len(failed) == 2 and failed[0].payload["error"]["type"] == "EvaluationFailed"


async def test_an_outage_interrupts_and_resume_finishes_as_if_nothing_happened(tmp_path, tables):
    from tests.fake_openai_server import FakeOpenAIServer, error, reply

    answers = valid_answers("nas_macro", 6)

    def next_answer(body: dict) -> str:  # a function of the conversation, so any re-execution gets the same
        done = sum(m["content"].count("gives an accuracy of") for m in body["messages"] if m["role"] == "user")
        return json.dumps(answers[done % len(answers)])

    def config(url: str):
        return cfg(space="nas_macro", mode="paper", trials=2, iterations=4, parallel=1, seed=3, llm="openai:m",
                   base_url=url)

    with FakeOpenAIServer(default=reply(next_answer)) as server:
        reference = await start_run(config(server.base_url), db=str(tmp_path / "ref.sqlite"))
        db = str(tmp_path / "l.sqlite")
        # the endpoint goes down at the third call and stays down for every retry of it
        server.enqueue(reply(next_answer), reply(next_answer), *[error(503)] * 5)
        down = await start_run(config(server.base_url), db=db)
        assert down.status == "interrupted" and "could not be reached" in down.interrupt_reason
        assert down.trials[0].status == "interrupted" and len(down.trials[0].iterations) == 2
        assert not any(it.status == "failed" for t in down.trials.values() for it in t.iterations)
        back = await resume_run(down.run_id, db=db)
    assert back.status == "finished"
    assert run_document(back)["trials"] == run_document(reference)["trials"]


@pytest.mark.parametrize("mode", ["paper", "agent"])
async def test_resume_retry_failed_runs_each_trial_again_from_its_first_failure(tmp_path, tables, mode,
                                                                               monkeypatch):
    """`resume --retry-failed` on a finished run: the failed candidate is evaluated again, and so is everything
    the trial did after it (which followed from the failure); the earlier course stays in the log, superseded.
    Tried twice: once while the GPU still runs out of memory (generation 1 fails again), once healed."""
    healed = {"yes": False}
    calls: list[tuple[int, ...]] = []
    real = TableEvaluator.evaluate

    async def evaluate(self, space, arch, *, seed):
        calls.append(tuple(arch))
        if not healed["yes"] and arch[3] == max(space.positions[3]):
            raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return await real(self, space, arch, seed=seed)

    monkeypatch.setattr(TableEvaluator, "evaluate", evaluate)
    a = [x for x in valid_answers("channel_resnet", 12) if x[3] != 512]
    plan = [a[0], wide(a[1]), a[2], a[3]]
    replies = script_for(mode, plan)
    db = str(tmp_path / "l.sqlite")
    first = await start_run(cfg(space="channel_resnet", mode=mode, trials=2, iterations=4, parallel=2,
                                llm=write_script(tmp_path / "s.json", replies)), db=db)
    assert first.status == "finished" and len(calls) == 8
    assert [it.status for it in first.trials[0].iterations] == ["ok", "failed", "ok", "ok"]

    # without --retry-failed a finished run has nothing to do
    assert run_document(await resume_run(first.run_id, db=db))["trials"] == run_document(first)["trials"]
    assert len(calls) == 8

    still_failing = await resume_run(first.run_id, db=db, retry_failed=True)
    # each trial ran again from its failure: the wide candidate and the two after it, 3 x 2 trials
    assert len(calls) == 8 + 6
    assert [it.status for it in still_failing.trials[0].iterations] == ["ok", "failed", "ok", "ok"]
    assert still_failing.retried == 1

    healed["yes"] = True
    done = await resume_run(first.run_id, db=db, retry_failed=True)
    assert len(calls) == 8 + 6 + 6
    assert done.status == "finished" and done.retried == 2
    for trial in done.trials.values():
        assert trial.status == "finished"
        assert [it.status for it in trial.iterations] == ["ok", "ok", "ok", "ok"]
        assert [it.arch for it in trial.iterations] == plan
        assert trial.llm_calls == len(plan)  # the trial's own course
    # every call the run made counts in what it spent, the superseded ones too
    assert done.calls == 2 * (len(plan) + 2 + 2)
    assert done.prompt_tokens >= first.prompt_tokens

    with pytest.raises(UserError, match="no failed evaluation to retry"):
        await resume_run(first.run_id, db=db, retry_failed=True)
    again = await resume_run(first.run_id, db=db)
    replayed = await replay_run(first.run_id, db=db)
    assert run_document(again)["trials"] == run_document(done)["trials"] == run_document(replayed)["trials"]
    assert len(calls) == 8 + 6 + 6  # neither the resume nor the replay evaluated anything

    log = await EventLog.open(db, create=False)
    try:
        events = await log.read(first.run_id)
        report = await log.verify()
    finally:
        await log.close()
    assert report.ok
    failed = [e for e in events if e.type == "effect.completed" and e.payload["kind"] == "evaluate"
              and "error" in e.payload]
    assert len(failed) == 4  # nothing was deleted: both failed generations are still in the log
    assert [e.payload["generation"] for e in events if e.type == "run.retried"] == [1, 2]
