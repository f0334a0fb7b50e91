"""LLMClient over real HTTP: ChatOpenAI against the local fake OpenAI-compatible server."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog
from structlog.testing import capture_logs

from agent.llm import (
    LLMAuthError,
    LLMCallFailed,
    LLMClient,
    LLMSettings,
    LLMSpecError,
    ScriptExhausted,
    parse_llm_spec,
)
from tests.fake_openai_server import FakeOpenAIServer, drop, empty, error, hang, malformed, reply

USER = [{"role": "user", "content": "Propose an architecture."}]
ARCH_SCHEMA: dict[str, Any] = {
    "type": "array",
    "items": {"type": "integer", "enum": [0, 1, 2]},
    "minItems": 8,
    "maxItems": 8,
}
FAST = LLMSettings(rate_limit=0, timeout_s=2.0, backoff_base_s=0.01, backoff_max_s=0.05, max_attempts=4)


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as s:
        yield s


@pytest.fixture
async def client(server: FakeOpenAIServer) -> AsyncIterator[LLMClient]:
    c = await LLMClient.open(parse_llm_spec("openai:fake-model", base_url=server.base_url), FAST)
    yield c
    await c.aclose()


async def open_client(server: FakeOpenAIServer, **settings: Any) -> LLMClient:
    base = {k: getattr(FAST, k) for k in FAST.__dataclass_fields__}
    return await LLMClient.open(
        parse_llm_spec("openai:fake-model", base_url=server.base_url), LLMSettings(**{**base, **settings})
    )


# -- normal path ----------------------------------------------------------------------------------


async def test_normal_reply_records_usage_and_latency(server: FakeOpenAIServer, client: LLMClient) -> None:
    server.enqueue(reply("[0, 1, 2]", prompt_tokens=30, completion_tokens=5))
    messages = [{"role": "system", "content": "You are an expert."}, *USER]
    r = await client.chat(messages, trial=0, temperature=0.5, seed=7)
    assert r.content == "[0, 1, 2]"
    assert (r.prompt_tokens, r.completion_tokens) == (30, 5)
    assert r.attempts == [] and r.model == "fake-model" and r.finish_reason == "stop"
    assert r.latency_s > 0
    body = server.completions[0].body
    assert body is not None
    assert body["messages"] == [
        {"role": "system", "content": "You are an expert."},
        {"role": "user", "content": "Propose an architecture."},
    ]
    assert body["temperature"] == 0.5 and body["seed"] == 7


async def test_tool_calls_round_trip(server: FakeOpenAIServer, client: LLMClient) -> None:
    tool = {
        "type": "function",
        "function": {
            "name": "evaluate",
            "description": "Evaluate an architecture.",
            "parameters": {"type": "object", "properties": {"arch": {"type": "array", "items": {"type": "integer"}}}},
        },
    }
    server.enqueue(reply("", tool_calls=[{"name": "evaluate", "args": {"arch": [1, 2]}}]), reply("done"))
    r = await client.chat(USER, trial=0, tools=[tool])
    assert r.tool_calls == [{"id": "call_0", "name": "evaluate", "args": {"arch": [1, 2]}}]
    assert r.finish_reason == "tool_calls"
    # Feed the call and its result back: assistant tool_calls and a tool message travel as OpenAI expects.
    history = [
        *USER,
        {"role": "assistant", "content": "", "tool_calls": r.tool_calls},
        {"role": "tool", "content": "accuracy 91.2", "tool_call_id": "call_0"},
    ]
    assert (await client.chat(history, trial=0, tools=[tool])).content == "done"
    sent = server.completions[1].body
    assert sent is not None and sent["tools"][0]["function"]["name"] == "evaluate"
    assert sent["messages"][1]["tool_calls"][0]["function"]["name"] == "evaluate"
    assert sent["messages"][2] == {"role": "tool", "content": "accuracy 91.2", "tool_call_id": "call_0"}


async def test_json_schema_sent_strict_when_advertised() -> None:
    with FakeOpenAIServer(advertise_json_schema=True) as server:
        client = await open_client(server)
        assert client.supports_json_schema
        server.enqueue(reply('{"answer": [2, 2, 2, 1, 2, 2, 2, 0]}'))
        r = await client.chat(USER, trial=0, answer_schema=ARCH_SCHEMA)
        await client.aclose()
    # OpenAI takes only object-rooted schemas: the list is wrapped on the way out, unwrapped on return.
    assert json.loads(r.content) == [2, 2, 2, 1, 2, 2, 2, 0]
    body = server.completions[0].body
    assert body is not None
    fmt = body["response_format"]
    assert fmt["type"] == "json_schema" and fmt["json_schema"]["strict"] is True
    assert fmt["json_schema"]["schema"]["properties"]["answer"] == ARCH_SCHEMA


async def test_no_response_format_when_unsupported(server: FakeOpenAIServer, client: LLMClient) -> None:
    assert not client.supports_json_schema  # the plain fake server advertises nothing
    server.enqueue(reply("Sure! op_list = [1, 1, 2]"))
    r = await client.chat(USER, trial=0, answer_schema=ARCH_SCHEMA)
    assert r.content == "Sure! op_list = [1, 1, 2]"
    body = server.completions[0].body
    assert body is not None and "response_format" not in body


async def test_one_string_answer_goes_to_llama_cpp_as_an_exact_grammar(server: FakeOpenAIServer) -> None:
    # The embedded provider (our llama.cpp server) gets a one-string answer as a GBNF grammar with no room for
    # whitespace, instead of llama.cpp's json_schema grammar, where the 1.5B model padded names with spaces.
    from agent.llm.client import LLMClient as Client
    from agent.llm.providers import Provider, _chat_openai, _http_client

    http = _http_client(2.0, 1)
    model = _chat_openai("fake-model", server.base_url, "none", 2.0, http)
    client = Client(parse_llm_spec("openai:fake-model", base_url=server.base_url), FAST,
                    Provider(model, "fake-model", True, False, wrap_schema=False, http_client=http,
                             exact_enum_grammar=True))
    names = {"type": "string", "enum": ["none", "conv3x3", 'say "hi"']}
    ids = {"type": "integer", "enum": [0, 1, 2]}
    widths = {"type": "integer", "enum": [64, 128, 192, 256]}
    # The server stops once the answer is decided ("length"): the client completes it from the grammar's values.
    server.enqueue(reply('"conv3x3"'), reply("2"), reply("19", finish_reason="length"),
                   reply("1", finish_reason="length"))
    named = await client.chat(USER, trial=0, answer_schema=names, max_tokens=16)
    numbered = await client.chat(USER, trial=0, answer_schema=ids, max_tokens=16)
    decided = await client.chat(USER, trial=0, answer_schema=widths, max_tokens=16)
    undecided = await client.chat(USER, trial=0, answer_schema=widths, max_tokens=16)
    await client.aclose()
    assert json.loads(named.content) == "conv3x3" and json.loads(numbered.content) == 2
    assert (decided.content, decided.finish_reason) == ("192", "stop")
    # a cut-off reply two values begin is passed on as it is: the strategy re-asks
    assert (undecided.content, undecided.finish_reason) == ("1", "length")
    first, second, third, _ = (r.body for r in server.completions)
    assert first is not None and second is not None and third is not None
    assert "response_format" not in first
    assert first["grammar"] == 'root ::= "\\"none\\"" | "\\"conv3x3\\"" | "\\"say \\\\\\"hi\\\\\\"\\""'
    # each value's shortest own prefix: '"n', '"c', '"s' (2 characters); "64", "12", "19", "25" (2)
    # (langchain-openai sends max_tokens as max_completion_tokens, which llama.cpp's server takes alike)
    assert first["max_completion_tokens"] == 2 and third["max_completion_tokens"] == 2
    assert second["grammar"] == 'root ::= "0" | "1" | "2"' and second["max_completion_tokens"] == 1
    assert "response_format" not in second
    with FakeOpenAIServer(advertise_json_schema=True) as plain:
        other = await open_client(plain)
        plain.enqueue(reply('{"answer": "none"}'))
        assert json.loads((await other.chat(USER, trial=0, answer_schema=names)).content) == "none"
        await other.aclose()
    body = plain.completions[0].body
    assert body is not None and "grammar" not in body and "response_format" in body


def test_enum_grammar_matches_only_the_values_json_texts() -> None:
    from agent.llm.grammar import enum_literals, literal_grammar

    assert enum_literals({"type": "string", "enum": ["a", "b"]}) == ['"a"', '"b"']
    assert enum_literals({"type": "string", "enum": ["a"], "minLength": 1}) is None  # more than a choice
    assert enum_literals({"type": "string"}) is None
    assert literal_grammar(['"skip"']) == 'root ::= "\\"skip\\""'
    with pytest.raises(ValueError):
        literal_grammar([])
    # what the scripts in benchmarks/ send the embedded server directly: the same choice as the client's
    from agent.llm.grammar import embedded_answer_format

    assert embedded_answer_format({"type": "string", "enum": ["a"]}) == {"grammar": 'root ::= "\\"a\\""'}
    assert embedded_answer_format({"type": "integer", "enum": [0, 1]}) == {"grammar": 'root ::= "0" | "1"'}
    arch = {"type": "array", "items": {"type": "integer"}}
    assert embedded_answer_format(arch)["response_format"]["json_schema"]["schema"] == arch


def test_a_constrained_answer_is_decided_by_its_shortest_own_prefix() -> None:
    from agent.llm.grammar import completed, decided_after, enum_literals

    assert enum_literals({"type": "integer", "enum": [64, 128]}) == ["64", "128"]
    assert enum_literals({"type": "string", "enum": ["a", "b"]}) == ['"a"', '"b"']
    assert enum_literals({"type": "integer", "enum": [1, "2"]}) is None
    assert enum_literals({"type": "integer", "enum": [True, 2]}) is None
    assert enum_literals({"type": "number", "enum": [0.5]}) is None
    assert decided_after(["256", "512", "768", "1024"]) == 1
    assert decided_after(["128", "192", "256"]) == 2
    assert decided_after(['"nor_conv_1x1"', '"nor_conv_3x3"', '"none"']) == 11
    assert decided_after(["1", "12"]) is None  # only the reply's end tells 1 from 12
    assert decided_after(['"é"', '"a"']) is None  # a token may carry part of a character
    assert decided_after(["7"]) == 1
    assert completed("19", ["128", "192", "256"]) == "192"
    assert completed("1", ["128", "192", "256"]) is None
    assert completed("", ["7"]) is None
    assert completed("9", ["128", "192"]) is None


@pytest.mark.parametrize(("owned_by", "schema", "llama_cpp"), [
    ("vllm", True, False), ("sglang", True, False), ("llamacpp", True, True), ("fake", False, False),
    ("openai", False, False),
])
async def test_servers_known_to_take_a_json_schema_get_one_unadvertised(owned_by: str, schema: bool,
                                                                        llama_cpp: bool) -> None:
    # vLLM, SGLang and llama.cpp's server take a strict json_schema response format but their /models says
    # nothing of it; each is known by the owned_by it gives its models. llama.cpp then gets exactly the
    # embedded model's requests: unwrapped schemas, and the exact grammar for one string out of a list.
    names = {"type": "string", "enum": ["none", "conv3x3"]}
    with FakeOpenAIServer(owned_by=owned_by) as server:
        client = await open_client(server)
        assert client.supports_json_schema is schema
        # llama.cpp gets its tool calls as constrained replies, as the embedded model does; others natively
        assert client.supports_tools is not llama_cpp
        server.enqueue(reply("[2, 2, 2, 1, 2, 2, 2, 0]" if llama_cpp else '{"answer": [2, 2, 2, 1, 2, 2, 2, 0]}'),
                       reply('"conv3x3"' if llama_cpp else '{"answer": "conv3x3"}'))
        listed = await client.chat(USER, trial=0, answer_schema=ARCH_SCHEMA)
        named = await client.chat(USER, trial=0, answer_schema=names)
        await client.aclose()
    listed_body, named_body = (r.body for r in server.completions)
    assert listed_body is not None and named_body is not None
    if not schema:
        assert "response_format" not in listed_body and "grammar" not in named_body
        return
    assert json.loads(listed.content) == [2, 2, 2, 1, 2, 2, 2, 0] and json.loads(named.content) == "conv3x3"
    sent = listed_body["response_format"]["json_schema"]["schema"]
    assert sent == (ARCH_SCHEMA if llama_cpp else {"type": "object", "properties": {"answer": ARCH_SCHEMA},
                                                   "required": ["answer"], "additionalProperties": False})
    assert ("grammar" in named_body) is llama_cpp and ("response_format" in named_body) is not llama_cpp


@pytest.mark.parametrize(("owned_by", "n_params", "small"), [
    ("llamacpp", 1_543_714_304, True), ("llamacpp", 70_553_706_496, False), ("llamacpp", None, False),
    ("vllm", 7_000_000_000, True), ("fake", None, False),
])
async def test_a_server_that_reports_a_small_model_is_known_as_one(owned_by: str, n_params: int | None,
                                                                    small: bool) -> None:
    # What --model-help auto decides from: the size a server reports (llama.cpp: meta.n_params); none, none.
    with FakeOpenAIServer(owned_by=owned_by, n_params=n_params) as server:
        client = await open_client(server)
        assert client.small_model is small
        await client.aclose()


async def test_json_schema_setting_turns_it_on_where_nothing_is_advertised() -> None:
    with FakeOpenAIServer() as server:
        client = await open_client(server, json_schema=True)
        assert client.supports_json_schema
        server.enqueue(reply('{"answer": [0, 1, 2, 0, 1, 2, 0, 1]}'))
        r = await client.chat(USER, trial=0, answer_schema=ARCH_SCHEMA)
        await client.aclose()
    assert json.loads(r.content) == [0, 1, 2, 0, 1, 2, 0, 1]
    body = server.completions[0].body
    assert body is not None and body["response_format"]["json_schema"]["strict"] is True


async def test_json_schema_setting_overrides_advertisement() -> None:
    with FakeOpenAIServer(advertise_json_schema=True) as server:
        client = await open_client(server, json_schema=False)
        assert not client.supports_json_schema
        await client.aclose()


# -- retries --------------------------------------------------------------------------------------


async def test_retries_then_success_without_sdk_retries(server: FakeOpenAIServer, client: LLMClient) -> None:
    server.enqueue(error(500), error(503), reply("ok"))
    r = await client.chat(USER, trial=3)
    assert r.content == "ok"
    assert [a["status"] for a in r.attempts] == [500, 503]
    assert all(a["kind"] == "server_error" and a["wait_s"] is not None for a in r.attempts)
    # Exactly three requests: one per attempt of ours, none added by the SDK.
    assert len(server.completions) == 3


async def test_retry_after_seconds_is_honoured(server: FakeOpenAIServer, client: LLMClient) -> None:
    server.enqueue(error(429, retry_after=1), reply("ok"))
    r = await client.chat(USER, trial=0)
    first, second = server.completions
    assert second.arrived - first.arrived >= 1.0
    assert r.attempts[0]["kind"] == "rate_limited" and r.attempts[0]["wait_s"] >= 1.0


async def test_gives_up_after_max_attempts(server: FakeOpenAIServer, client: LLMClient) -> None:
    server.set_default(error(500))
    with pytest.raises(LLMCallFailed) as info:
        await client.chat(USER, trial=1)
    assert len(info.value.attempts) == FAST.max_attempts == len(server.completions)
    assert info.value.attempts[-1]["wait_s"] is None  # no wait after the last attempt
    assert info.value.retryable


async def test_client_error_is_not_retried(server: FakeOpenAIServer, client: LLMClient) -> None:
    server.enqueue(error(400, message="bad schema"))
    with pytest.raises(LLMCallFailed) as info:
        await client.chat(USER, trial=0)
    assert not info.value.retryable
    assert len(server.completions) == 1 and info.value.attempts[0]["status"] == 400


async def test_timeout_then_success(server: FakeOpenAIServer) -> None:
    client = await open_client(server, timeout_s=0.5)
    server.enqueue(hang(5.0), reply("late but fine"))
    started = time.monotonic()
    r = await client.chat(USER, trial=0)
    await client.aclose()
    assert r.content == "late but fine"
    assert r.attempts[0]["kind"] == "timeout" and r.attempts[0]["elapsed_s"] >= 0.5
    assert time.monotonic() - started >= 0.5


async def test_dropped_connection_is_retried(server: FakeOpenAIServer, client: LLMClient) -> None:
    server.enqueue(drop(), reply("ok"))
    r = await client.chat(USER, trial=0)
    assert r.content == "ok" and r.attempts[0]["kind"] == "connection"


async def test_malformed_and_empty_replies_are_retried(server: FakeOpenAIServer, client: LLMClient) -> None:
    server.enqueue(malformed(), malformed("<html>gateway</html>"), empty(), reply("ok"))
    r = await client.chat(USER, trial=0)
    assert r.content == "ok"
    assert [a["kind"] for a in r.attempts] == ["malformed", "malformed", "empty"]


async def test_schema_reply_that_is_not_json_goes_to_the_strategy_unretried() -> None:
    # Whether an answer is usable is the strategy's call (it re-asks with the validation message).
    with FakeOpenAIServer(advertise_json_schema=True) as server:
        client = await open_client(server)
        server.enqueue(reply("I think [1, 2]"), reply('{"answer": [0, 0, 0, 0, 0, 0, 0, 0]}'))
        first = await client.chat(USER, trial=0, answer_schema=ARCH_SCHEMA)
        second = await client.chat(USER, trial=0, answer_schema=ARCH_SCHEMA)
        await client.aclose()
    assert first.content == "I think [1, 2]" and first.attempts == []
    assert json.loads(second.content) == [0] * 8


async def test_structured_answer_cut_off_at_max_tokens_is_handed_on() -> None:
    # The SDK raises on finish_reason "length" under a response format; the strategy gets the cut-off text.
    with FakeOpenAIServer(advertise_json_schema=True) as server:
        client = await open_client(server)
        server.enqueue(reply('{"answer": [0, 0, ', finish_reason="length", completion_tokens=9))
        r = await client.chat(USER, trial=0, answer_schema=ARCH_SCHEMA, max_tokens=9)
        await client.aclose()
    assert r.finish_reason == "length" and r.content.startswith('{"answer": [0, 0')
    chat_requests = [q for q in server.requests if q.path.endswith("/chat/completions")]
    assert r.completion_tokens == 9 and r.attempts == [] and len(chat_requests) == 1


# -- secrets --------------------------------------------------------------------------------------

SECRET = "sk-test-Zq8SECRETxK2v9LmN4"


async def test_key_never_reaches_logs_errors_or_replies(
    server: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    client = await open_client(server)
    # Providers echo the key they refused; a proxy might echo the header. Both must be scrubbed.
    server.enqueue(
        error(500, message=f"upstream said: Authorization: Bearer {SECRET}"),
        reply("ok"),
        error(401, message=f"Incorrect API key provided: {SECRET}"),
    )
    with capture_logs() as logs:
        r = await client.chat(USER, trial=0)
        with pytest.raises(LLMAuthError) as info:
            await client.chat(USER, trial=0)
    await client.aclose()
    assert server.completions[0].headers["authorization"] == f"Bearer {SECRET}"  # it was really sent
    assert "OPENAI_API_KEY" in str(info.value)
    for text in (str(info.value), repr(info.value.__cause__), json.dumps(r.to_json()), repr(logs), repr(client.spec)):
        assert SECRET not in text
    assert SECRET[:12] not in json.dumps(r.to_json())


def test_redact_processor_masks_secret_fields() -> None:
    from agent.llm.redact import redact_processor

    event = {"event": "x", "api_key": "abc", "headers": {"Authorization": "Bearer zzz"}, "msg": f"key {SECRET}"}
    out = redact_processor(None, "info", dict(event))
    assert out["api_key"] == "***" and out["headers"]["Authorization"] == "***"
    assert SECRET not in out["msg"]
    # It plugs into a structlog chain before the renderer.
    structlog.wrap_logger(None, processors=[redact_processor, structlog.processors.KeyValueRenderer()])


async def test_missing_key_is_a_user_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    with pytest.raises(LLMAuthError, match="set OPENAI_API_KEY"):
        await LLMClient.open(parse_llm_spec("openai:gpt-4o"), LLMSettings())


async def test_openai_capabilities_from_model_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    gpt4o = await LLMClient.open(parse_llm_spec("openai:gpt-4o-2024-08-06"), LLMSettings())
    gpt4 = await LLMClient.open(parse_llm_spec("openai:gpt-4"), LLMSettings())
    assert gpt4o.supports_json_schema and not gpt4.supports_json_schema
    await gpt4o.aclose()
    await gpt4.aclose()


# -- rate limit -----------------------------------------------------------------------------------


async def test_rate_limit_holds_in_every_one_second_window(server: FakeOpenAIServer) -> None:
    rate, total = 20, 80
    client = await open_client(server, rate_limit=rate, max_concurrency=32)

    async def caller(i: int) -> None:
        for trial in range(i, total, 32):
            await client.chat(USER, trial=trial)

    await asyncio.gather(*(caller(i) for i in range(32)))
    await client.aclose()
    arrivals = sorted(r.arrived for r in server.completions)
    assert len(arrivals) == total
    worst = max(sum(1 for t in arrivals if start <= t < start + 1.0) for start in arrivals)
    assert worst <= rate


async def test_tokens_per_minute_delays_calls(server: FakeOpenAIServer) -> None:
    # 6000 tokens/min = 100/s. Each call is estimated at ~100 tokens but really uses 3000: two calls
    # drain the bucket, so the third waits about a second for 100 tokens to refill.
    client = await open_client(server, tokens_per_minute=6000)
    server.set_default(reply("ok", prompt_tokens=2990, completion_tokens=10))
    for trial in range(3):
        await client.chat([{"role": "user", "content": "x" * 400}], trial=trial)
    await client.aclose()
    arrivals = [r.arrived for r in server.completions]
    assert arrivals[1] - arrivals[0] < 0.5
    assert arrivals[2] - arrivals[1] >= 0.8


# -- scripted model -------------------------------------------------------------------------------


def write_script(tmp_path: Path, data: Any) -> str:
    path = tmp_path / "script.json"
    path.write_text(json.dumps(data))
    return f"scripted:{path}"


async def test_scripted_per_trial_lists_and_exhaustion(tmp_path: Path) -> None:
    spec = parse_llm_spec(write_script(tmp_path, [["[1, 1]", "[1, 2]"], ["[2, 2]"]]))
    client = await LLMClient.open(spec, LLMSettings(rate_limit=0))
    assert client.supports_json_schema and client.supports_tools
    assert (await client.chat(USER, trial=1)).content == "[2, 2]"
    # response_format is ignored by the scripted model; the reply comes back as written.
    assert (await client.chat(USER, trial=0, answer_schema=ARCH_SCHEMA)).content == "[1, 1]"
    assert (await client.chat(USER, trial=0)).content == "[1, 2]"
    with pytest.raises(ScriptExhausted, match="trial 0"):
        await client.chat(USER, trial=0)
    with pytest.raises(ScriptExhausted, match="no script for trial 2"):
        await client.chat(USER, trial=2)
    await client.aclose()


async def test_scripted_shared_list_and_tool_calls(tmp_path: Path) -> None:
    script = [{"content": "", "tool_calls": [{"name": "evaluate", "args": {"arch": [0, 1]}}]}, "final"]
    client = await LLMClient.open(parse_llm_spec(write_script(tmp_path, script)), LLMSettings(rate_limit=0))
    tool = {"type": "function", "function": {"name": "evaluate", "parameters": {"type": "object", "properties": {}}}}
    for trial in (0, 1):  # every trial gets the same script
        first = await client.chat(USER, trial=trial, tools=[tool])
        assert first.tool_calls == [{"id": f"call_{trial}_0_0", "name": "evaluate", "args": {"arch": [0, 1]}}]
        assert (await client.chat(USER, trial=trial)).content == "final"
    await client.aclose()


@pytest.mark.parametrize(
    ("content", "match"),
    [("not json", "not readable JSON"), ("[]", "non-empty"), ('[{"content": 3}]', "a reply is")],
)
async def test_bad_script_files(tmp_path: Path, content: str, match: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(LLMSpecError, match=match):
        await LLMClient.open(parse_llm_spec(f"scripted:{path}"), LLMSettings())


async def test_missing_script_file(tmp_path: Path) -> None:
    with pytest.raises(LLMSpecError, match="not found"):
        await LLMClient.open(parse_llm_spec(f"scripted:{tmp_path / 'nope.json'}"), LLMSettings())


async def test_a_long_retry_after_is_capped(server: FakeOpenAIServer) -> None:
    client = await open_client(server, retry_after_cap_s=0.3)
    server.enqueue(error(429, retry_after=3600), reply("after the cap"))
    started = time.monotonic()
    r = await client.chat(USER, trial=0)
    await client.aclose()
    assert r.content == "after the cap" and 0.3 <= r.attempts[0]["wait_s"] < 1.0
    assert time.monotonic() - started < 10


async def test_a_call_gives_up_at_its_deadline(server: FakeOpenAIServer) -> None:
    # every attempt hangs past its timeout; the deadline ends the call, however many attempts are left
    client = await open_client(server, timeout_s=0.4, deadline_s=1.0, max_attempts=50)
    server.set_default(hang(5.0))
    started = time.monotonic()
    with pytest.raises(LLMCallFailed):
        await client.chat(USER, trial=0)
    await client.aclose()
    assert time.monotonic() - started < 3.0
