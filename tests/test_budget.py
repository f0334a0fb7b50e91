"""The budget is the fold's: what a run spent is summed from its log, across trials and executions, and a trial
checks it before each call it makes. The client keeps no count of its own."""

from __future__ import annotations

import json

import pytest

from agent.engine.orchestrator import resume_run, start_run
from agent.llm.errors import BudgetExhausted
from storage import EventLog
from storage.runs import load_run
from tests.test_search_e2e import cfg, valid_answers, write_script


async def recorded_calls(db: str, run_id: str) -> list[dict]:
    log = await EventLog.open(db, create=False)
    try:
        return [e.payload["ok"] for e in await log.read(run_id)
                if e.type == "effect.completed" and e.payload["kind"] == "llm" and "ok" in e.payload]
    finally:
        await log.close()


async def test_parallel_trials_share_one_budget_summed_from_the_log(tmp_path, tables):
    script = write_script(tmp_path / "s.json", [json.dumps(a) for a in valid_answers("nas_macro", 10)])
    db = str(tmp_path / "l.sqlite")
    config = cfg(space="nas_macro", mode="paper", trials=3, iterations=10, parallel=3, llm=script, max_tokens=4000)
    with pytest.raises(BudgetExhausted, match="token budget"):
        await start_run(config, db=db, run_id="b")
    calls = await recorded_calls(db, "b")
    per_call = max(c["prompt_tokens"] + c["completion_tokens"] for c in calls)
    spent = sum(c["prompt_tokens"] + c["completion_tokens"] for c in calls)
    # stopped at the budget, over it by at most the calls in flight when it was crossed: one per parallel trial
    assert 4000 <= spent <= 4000 + 3 * per_call
    assert len(calls) < 30  # the run did not simply finish
    state = await load_run("b", db=db)
    assert state.prompt_tokens + state.completion_tokens == spent
    assert state.status == "interrupted" and "budget" in state.interrupt_reason
    # a resume starts from what the log says was spent: no call is made
    with pytest.raises(BudgetExhausted):
        await resume_run("b", db=db)
    assert len(await recorded_calls(db, "b")) == len(calls)
    # raised, the run goes on from where it stopped and finishes
    done = await resume_run("b", db=db, changes={"max_tokens": 10**7})
    assert done.status == "finished" and done.calls == 30
