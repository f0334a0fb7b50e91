"""Agent mode: LangChain's create_agent drives a scripted tool-calling model (through the run's client) with
the tools of tools/search_tools.py; the middleware journals every call, holds the budget, refuses repeats,
nudges a reply without a tool call and stops at the turn limit; the run resumes and replays exactly."""

from __future__ import annotations

import json

import pytest

from agent.engine.config import AssistOptions
from agent.engine.orchestrator import replay_run, resume_run, start_run
from agent.read.report import run_document
from storage import EventLog
from tests.test_search_e2e import cfg, llm_requests, valid_answers, write_script
from tools.errors import UserError
from tools.spaces import get_space


def call(name: str, **args) -> dict:
    return {"content": "", "tool_calls": [{"name": name, "args": args}]}


async def events_of(db: str, run_id: str) -> list:
    log = await EventLog.open(db, create=False)
    try:
        return await log.read(run_id)
    finally:
        await log.close()


async def test_agent_searches_within_its_budget_with_every_call_journaled(tmp_path, tables):
    a = valid_answers("channel_resnet", 4)
    replies = [
        call("query_history"),
        call("lookup_benchmark", architecture=a[0]),
        call("lookup_benchmark", architecture=[1, 2, 3]),  # invalid: told why, costs nothing
        call("lookup_benchmark", architecture=a[0]),  # a repeat: refused with its result, costs nothing
        call("query_history"),
        call("lookup_benchmark", architecture=a[1]),
        {"content": "I think I am done."},  # no tool call: nudged
        call("lookup_benchmark", architecture=a[2]),
        call("lookup_benchmark", architecture=a[3]),  # never asked for: the budget ends the graph first
    ]
    db = str(tmp_path / "log.sqlite")
    state = await start_run(cfg(space="channel_resnet", mode="agent", trials=1, iterations=3,
                                llm=write_script(tmp_path / "s.json", replies)), db=db)
    trial = state.trials[0]
    assert [it.arch for it in trial.iterations] == a[:3]
    assert trial.status == "finished" and trial.reason == ""
    assert trial.rejections == {"invalid": 1, "repeat": 1, "no_tool_call": 1}
    requests = await llm_requests(db, state.run_id)
    assert len(requests) == 8  # the budget ended the graph before the 9th reply was asked for
    tools = {t["function"]["name"] for t in requests[0]["tools"]}
    assert tools == {"lookup_benchmark", "query_history"}
    arch_schema = requests[0]["tools"][0]["function"]["parameters"]["properties"]["architecture"]
    space = get_space("channel_resnet")
    assert arch_schema["minItems"] == arch_schema["maxItems"] == len(space.positions)
    # tool results go back as tool messages, in the model's next request
    msgs = requests[3]["messages"]
    assert msgs[-1]["role"] == "tool" and msgs[-2]["role"] == "assistant"
    assert "Invalid architecture" in requests[3]["messages"][-1]["content"]
    assert "already evaluated" in requests[4]["messages"][-1]["content"]
    history = requests[5]["messages"][-1]["content"]
    assert json.dumps(a[0]) in history and "Evaluations left: 2" in history
    nudge = requests[7]["messages"][-1]
    assert nudge["role"] == "user" and "lookup_benchmark" in nudge["content"]
    events = await events_of(db, state.run_id)
    called = [e.payload["name"] for e in events if e.type == "tool.called"]
    returned = [e for e in events if e.type == "tool.returned"]
    assert called == ["query_history", "lookup_benchmark", "lookup_benchmark", "lookup_benchmark", "query_history",
                      "lookup_benchmark", "lookup_benchmark"]
    assert len(returned) == len(called)
    replayed = await replay_run(state.run_id, db=db)
    assert run_document(replayed)["trials"] == run_document(state)["trials"]


async def test_several_tool_calls_in_one_turn_run_in_the_order_written(tmp_path, tables):
    a = valid_answers("nas_macro", 3)
    turn = {"content": "", "tool_calls": [{"name": "lookup_benchmark", "args": {"architecture": x}} for x in a]}
    db = str(tmp_path / "log.sqlite")
    state = await start_run(cfg(space="nas_macro", mode="agent", trials=1, iterations=3,
                                llm=write_script(tmp_path / "s.json", [turn])), db=db)
    assert [it.arch for it in state.trials[0].iterations] == a
    events = await events_of(db, state.run_id)
    assert [e.payload["args"]["architecture"] for e in events if e.type == "tool.called"] == a
    replayed = await replay_run(state.run_id, db=db)
    assert run_document(replayed)["trials"] == run_document(state)["trials"]


async def test_the_turn_limit_ends_a_trial_that_never_evaluates(tmp_path, tables):
    db = str(tmp_path / "log.sqlite")
    replies = [call("query_history")] * 40
    state = await start_run(cfg(space="nas_macro", mode="agent", trials=1, iterations=2,
                                llm=write_script(tmp_path / "s.json", replies)), db=db)
    trial = state.trials[0]
    assert trial.status == "finished" and "12 model turns" in trial.reason
    assert len(await llm_requests(db, state.run_id)) == 12
    assert not trial.iterations


async def test_resume_continues_the_graph_without_repeating_a_recorded_call(tmp_path, tables):
    a = valid_answers("nas_macro", 3)
    short = [call("lookup_benchmark", architecture=a[0]), call("lookup_benchmark", architecture=a[1])]
    full = [*short, call("lookup_benchmark", architecture=a[2])]
    db = str(tmp_path / "log.sqlite")
    state = await start_run(cfg(space="nas_macro", mode="agent", trials=1, iterations=3,
                                llm=write_script(tmp_path / "s.json", short)), db=db)
    assert state.trials[0].status == "failed"  # the script ran out: a recorded failure of the third call
    # a fresh run whose log stops after two evaluations (the third call never recorded) resumes at the third
    db2 = str(tmp_path / "log2.sqlite")
    script = tmp_path / "s2.json"
    write_script(script, full)
    done = await start_run(cfg(space="nas_macro", mode="agent", trials=1, iterations=3, llm=f"scripted:{script}"),
                           db=db2, run_id="whole")
    assert [it.arch for it in done.trials[0].iterations] == a
    resumed = await resume_run("whole", db=db2)  # finished: nothing to perform
    assert run_document(resumed)["trials"] == run_document(done)["trials"]


async def test_constrained_tool_calls_drive_the_agent_when_the_endpoint_has_none(tmp_path, tables):
    # control:random answers only to a JSON schema (no native tool calls): the client asks for the union of the
    # tools' schemas and turns the answer into a real tool call, so every call is a valid one.
    db = str(tmp_path / "log.sqlite")
    state = await start_run(cfg(space="nb201_cifar10", mode="agent", trials=2, iterations=4, seed=5,
                                llm="control:random", model_help=False), db=db)
    assert state.config["model_help"] is False
    for trial in state.trials.values():
        assert trial.status == "finished" and len(trial.iterations) == 4
        assert not trial.rejections.get("invalid") and not trial.rejections.get("no_tool_call")
    events = await events_of(db, state.run_id)
    called = [e.payload for e in events if e.type == "tool.called"]
    assert {c["name"] for c in called} <= {"lookup_benchmark", "query_history"}
    assert all(c["id"].startswith("call-t") for c in called)
    requests = [e.payload["request"] for e in events if e.type == "effect.requested" and e.payload["kind"] == "llm"]
    assert all({t["function"]["name"] for t in r["tools"]} == {"lookup_benchmark", "query_history"} for r in requests)
    replayed = await replay_run(state.run_id, db=db)
    assert run_document(replayed)["trials"] == run_document(state)["trials"]


async def test_a_model_that_can_neither_call_tools_nor_follow_a_schema_is_refused(tmp_path, tables):
    from tests.fake_openai_server import FakeOpenAIServer

    with FakeOpenAIServer(advertise_json_schema=False) as server:
        with pytest.raises(UserError, match="--model-help on"):
            await start_run(cfg(space="nas_macro", mode="agent", llm="openai:small", base_url=server.base_url,
                                tool_calls="json"), db=str(tmp_path / "l.sqlite"))
        assert not server.completions


async def test_json_schema_on_reaches_a_silent_server_and_a_resume_asks_as_the_run_recorded(tmp_path, tables):
    # --json-schema on sends strict schemas to a server whose /models says nothing; what a run decided is
    # recorded, and a resume asks the way the run recorded even where the new endpoint says otherwise.
    from tests.fake_openai_server import FakeOpenAIServer, error, reply

    answers = valid_answers("nas_macro", 6)

    def next_answer(body: dict) -> str:  # a function of the conversation, so a re-execution gets the same
        done = sum(m["content"].count("gives an accuracy of") for m in body["messages"] if m["role"] == "user")
        arch = answers[done % len(answers)]
        return json.dumps({"answer": arch} if "response_format" in body else arch)

    def config(url: str, **kw):
        return cfg(space="nas_macro", mode="paper", trials=1, iterations=4, seed=3, llm="openai:m", base_url=url,
                   **kw)

    with FakeOpenAIServer(default=reply(next_answer)) as silent:
        on = await start_run(config(silent.base_url, json_schema="on"), db=str(tmp_path / "on.sqlite"))
        auto = await start_run(config(silent.base_url), db=str(tmp_path / "auto.sqlite"))
    assert (on.config["json_schema"], on.config["structured_output"]) == ("on", True)
    assert (auto.config["json_schema"], auto.config["structured_output"]) == ("auto", False)
    asked_on, asked_auto = silent.completions[:4], silent.completions[4:]
    assert all(r.body and r.body["response_format"]["json_schema"]["strict"] for r in asked_on)
    assert all(r.body and "response_format" not in r.body for r in asked_auto)
    assert [it.arch for it in on.trials[0].iterations] == answers[:4]

    db = str(tmp_path / "moved.sqlite")
    with FakeOpenAIServer(advertise_json_schema=True, default=reply(next_answer)) as advertising:
        advertising.enqueue(reply(next_answer), *[error(503)] * 5)  # down at the second call, for every retry
        down = await start_run(config(advertising.base_url), db=db)
    assert down.status == "interrupted" and down.config["structured_output"] is True
    with FakeOpenAIServer(default=reply(next_answer)) as moved:
        back = await resume_run(down.run_id, db=db, changes={"base_url": moved.base_url})
    assert back.status == "finished" and len(back.trials[0].iterations) == 4
    assert len(moved.completions) == 3
    assert all(r.body and "response_format" in r.body for r in moved.completions)


async def test_a_llama_cpp_server_with_a_small_model_gets_the_embedded_models_help(tmp_path, tables):
    # --model-help auto and --tool-calls auto decide from what the server reports: llama.cpp (owned_by) serving
    # a 1.5B model (meta.n_params) is asked one position at a time, as the embedded model is; told off, it is not.
    from tests.fake_openai_server import FakeOpenAIServer, reply

    def first_option(body: dict) -> str:  # every question is one value out of a list, under its exact grammar
        first = body["grammar"].removeprefix("root ::= ").split(" | ")[0]
        return str(json.loads(first))  # the GBNF literal of a width is its JSON text: "64" -> 64

    with FakeOpenAIServer(owned_by="llamacpp", n_params=1_543_714_304, default=reply(first_option)) as server:
        state = await start_run(cfg(space="channel_resnet", mode="agent", trials=1, iterations=2, seed=4,
                                    llm="openai:qwen", base_url=server.base_url), db=str(tmp_path / "a.sqlite"))
        assert (state.config["model_help"], state.config["tool_calling"]) == (True, False)
        assert state.status == "finished" and len(state.trials[0].iterations) == 2
        positions = len(get_space("channel_resnet").positions)
        assert len(server.completions) == 2 * positions
        assert all("tools" not in r.body and "alone" in r.body["messages"][-1]["content"]
                   for r in server.completions if r.body is not None)
        # and each answer is stopped once decided: 2 characters tell 64, 128, 192 and 256 apart
        assert {r.body["max_completion_tokens"] for r in server.completions if r.body is not None} <= {1, 2}

        with pytest.raises(UserError, match="--model-help on"):  # told off: no tools, no schema... refused
            await start_run(cfg(space="channel_resnet", mode="agent", llm="openai:qwen", base_url=server.base_url,
                                model_help=False, json_schema="off"), db=str(tmp_path / "b.sqlite"))
        assert len(server.completions) == 2 * positions


async def test_a_resume_calls_tools_as_the_run_recorded_whatever_the_new_endpoint_is(tmp_path, tables):
    # Native tool calls were recorded; resumed against a llama.cpp server (where --tool-calls auto now means
    # constrained replies, and a small model the help), the run still calls tools natively, without the help.
    from tests.fake_openai_server import FakeOpenAIServer, error, reply

    answers = valid_answers("nas_macro", 4)

    def next_call(body: dict) -> list[dict]:
        done = sum(1 for m in body["messages"] if m.get("role") == "tool")
        return [{"name": "lookup_benchmark", "args": {"architecture": answers[done % len(answers)]}}]

    db = str(tmp_path / "log.sqlite")
    with FakeOpenAIServer(advertise_json_schema=True, default=reply("", tool_calls=next_call)) as first:
        first.enqueue(reply("", tool_calls=next_call), *[error(503)] * 5)  # down at the second call
        down = await start_run(cfg(space="nas_macro", mode="agent", trials=1, iterations=3, seed=3,
                                   llm="openai:m", base_url=first.base_url), db=db)
    assert down.status == "interrupted"
    assert (down.config["tool_calling"], down.config["model_help"]) == (True, False)
    with FakeOpenAIServer(owned_by="llamacpp", n_params=1_543_714_304,
                          default=reply("", tool_calls=next_call)) as moved:
        back = await resume_run(down.run_id, db=db, changes={"base_url": moved.base_url})
    assert back.status == "finished" and [it.arch for it in back.trials[0].iterations] == answers[:3]
    assert moved.completions and all(r.body and "tools" in r.body for r in moved.completions)


@pytest.mark.parametrize("space_name", ["channel_resnet", "nb201_cifar10"])
async def test_the_agents_small_model_help_asks_what_assisted_mode_asks(tmp_path, tables, space_name):
    # With the help on, each agent turn is assembled from the position questions assisted mode measured: the
    # same requests (prompts, answer schemas, temperature, seeds) in the same order, so its figures carry over.
    runs = {}
    for mode in ("assisted", "agent"):
        db = str(tmp_path / f"{mode}.sqlite")
        state = await start_run(cfg(space=space_name, mode=mode, trials=2, iterations=4, seed=11, temperature=0.7,
                                    llm="control:random"), db=db)
        assert all(len(t.iterations) == 4 for t in state.trials.values())
        runs[mode] = (state, [await llm_requests(db, state.run_id, trial) for trial in (0, 1)])
    assert runs["agent"][0].config["model_help"] is True
    for assisted, agent in zip(runs["assisted"][1], runs["agent"][1], strict=True):
        assert len(agent) == len(assisted) > 0
        for a, b in zip(assisted, agent, strict=True):
            assert b["messages"] == a["messages"]
            assert (b["answer_schema"], b["seed"], b["temperature"], b["purpose"]) == \
                (a["answer_schema"], a["seed"], a["temperature"], a["purpose"])
    assert [[it.arch for it in t.iterations] for t in runs["agent"][0].trials.values()] == \
        [[it.arch for it in t.iterations] for t in runs["assisted"][0].trials.values()]


@pytest.mark.parametrize("space_name", ["nb201_cifar10", "nas_macro"])
async def test_the_agents_help_writes_options_by_name_as_assisted_mode_does_and_replays(tmp_path, tables,
                                                                                      space_name):
    runs = {}
    for mode in ("assisted", "agent"):
        db = str(tmp_path / f"{mode}.sqlite")
        state = await start_run(cfg(space=space_name, mode=mode, trials=1, iterations=3, seed=4, temperature=0.7,
                                    assist=AssistOptions(options_by_name=True), llm="control:random"), db=db)
        runs[mode] = (db, state, await llm_requests(db, state.run_id))
    (_, assisted, asked), (db, agent, agent_asked) = runs["assisted"], runs["agent"]
    names = list(get_space(space_name).option_names.values())
    assert agent_asked == asked and all(r["answer_schema"] == {"type": "string", "enum": names} for r in asked)
    assert [it.arch for it in agent.trials[0].iterations] == [it.arch for it in assisted.trials[0].iterations]
    replayed = await replay_run(agent.run_id, db=db)
    assert [it.arch for it in replayed.trials[0].iterations] == [it.arch for it in agent.trials[0].iterations]
