"""Agent mode: a tool-calling model (scripted, through the same client) searches with LangChain tools; the
budget is enforced by the tool; the run resumes and replays like the paper's loop."""

from __future__ import annotations

import json

import pytest

from agent.orchestrator import replay_run, start_run
from agent.report import run_document
from tests.test_search_e2e import cfg, llm_requests, valid_answers, write_script
from tools.errors import UserError
from tools.spaces import get_space


def call(name: str, **args) -> dict:
    return {"content": "", "tool_calls": [{"name": name, "args": args}]}


async def test_tool_calling_agent_searches_within_its_budget(tmp_path, tables):
    a = valid_answers("channel_resnet", 4)
    replies = [
        call("describe_space"),
        call("evaluate_architecture", architecture=a[0]),
        call("evaluate_architecture", architecture=[1, 2, 3]),  # invalid: told why, costs nothing
        call("query_history"),
        call("evaluate_architecture", architecture=a[1]),
        {"content": "I think I am done."},  # no tool call: nudged
        call("evaluate_architecture", architecture=a[2]),
        call("evaluate_architecture", architecture=a[3]),  # over budget: refused by the tool
    ]
    db = str(tmp_path / "log.sqlite")
    state = await start_run(cfg(space="channel_resnet", mode="agent", trials=1, iterations=3,
                                llm=write_script(tmp_path / "s.json", replies)), db=db)
    trial = state.trials[0]
    assert [it.arch for it in trial.iterations] == a[:3]
    assert trial.status == "finished"
    assert trial.rejections == {"invalid": 1, "no_tool_call": 1}
    requests = await llm_requests(db, state.run_id)
    tools = {t["function"]["name"] for t in requests[0]["tools"]}
    assert tools == {"evaluate_architecture", "query_history", "describe_space"}
    # tool results go back as tool messages
    msgs = requests[3]["messages"]
    assert msgs[-1]["role"] == "tool" and msgs[-1]["content"].startswith("Invalid architecture: expected a list of 7")
    history = requests[4]["messages"][-1]["content"]
    space = get_space("channel_resnet")
    assert json.dumps(a[0]) in history and "Evaluations left: 2" in history
    assert f"{space.lookup(tuple(a[0])).accuracy:.2f}"[:4] in history
    assert len(requests) == 7  # the budget ended the loop before the 8th reply was asked for
    replayed = await replay_run(state.run_id, db=db)
    assert run_document(replayed)["trials"] == run_document(state)["trials"]


async def test_a_model_that_cannot_call_tools_is_refused_up_front(tmp_path, tables):
    with pytest.raises(UserError, match="--mode paper"):
        await start_run(cfg(space="nas_macro", mode="agent", llm="control:random"), db=str(tmp_path / "l.sqlite"))
