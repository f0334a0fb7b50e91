"""Turning an :class:`~agent.llm.spec.LLMSpec` into a LangChain chat model and its capabilities.

Every real provider is ChatOpenAI against an OpenAI-compatible endpoint (OpenAI, a user's server, or
the embedded llama.cpp server on loopback); the scripted model is the only other kind.
"""

from __future__ import annotations

import asyncio
import os
import re
from dataclasses import dataclass
from typing import Any

import httpx2
from langchain_core.language_models import BaseChatModel
from langchain_openai import ChatOpenAI
from pydantic import SecretStr

from agent.llm.bundled import ensure_bundled
from agent.llm.diagnostics import get_logger
from agent.llm.embedded import get_server
from agent.llm.errors import LLMAuthError, LLMSpecError
from agent.llm.redact import register_secret
from agent.llm.scripted import ScriptedChatModel
from agent.llm.spec import LLMSpec

log = get_logger(__name__)

# OpenAI models with strict json_schema structured outputs (o1-mini/o1-preview have none).
_OPENAI_JSON_SCHEMA = re.compile(r"^(gpt-4o|chatgpt-4o|gpt-4\.1|gpt-5|o1(?!-mini|-preview)|o3|o4)")
# The largest model --model-help auto helps: every published positive result for 1-8B models pairs them with
# scaffolding, and ours are 0.5-1.5B (docs/small-models.md).
SMALL_MODEL_PARAMS = 10_000_000_000
# Placeholder for servers that need no key: the SDK insists on a non-empty one.
_NO_KEY = "not-needed"


@dataclass
class Provider:
    """A chat model plus what it can do. ``http_client`` is ours to close (None for scripted).

    ``wrap_schema``: the endpoint only takes object-rooted JSON schemas (OpenAI's rule), so a
    list-shaped answer schema is sent wrapped as ``{"answer": ...}`` and unwrapped on return.
    ``exact_enum_grammar``: the endpoint is our llama.cpp server, which takes a GBNF ``grammar``; a one-string
    answer is then asked under an exact grammar instead of the ``json_schema`` format (agent/llm/grammar.py).
    """

    model: BaseChatModel
    model_name: str
    supports_json_schema: bool
    supports_tools: bool
    wrap_schema: bool
    http_client: httpx2.AsyncClient | None = None
    exact_enum_grammar: bool = False
    embedded_load_s: float | None = None
    embedded_server: str | None = None
    # A model small enough for the small-model help (agent mode's --model-help auto): at most SMALL_MODEL_PARAMS,
    # as its server reports it.
    small_model: bool = False


def _chat_openai(model: str, base_url: str | None, key: str, timeout_s: float, http: httpx2.AsyncClient) -> ChatOpenAI:
    return ChatOpenAI(
        model=model,
        api_key=SecretStr(key),
        base_url=base_url,
        # Retries live in exactly one layer, ours (agent.llm.retry); the SDK must not add its own.
        max_retries=0,
        # Our asyncio timeout fires first; the SDK's is a backstop, a little later so the two don't race.
        timeout=timeout_s + 5.0,
        http_async_client=http,
        use_responses_api=False,
    )


# Self-hosted servers that take a strict ``json_schema`` response format without saying so in ``/models``,
# known by the ``owned_by`` they give their models: vLLM's and SGLang's model-card default, and llama.cpp's
# server ("llamacpp", as the embedded server answers). OpenAI's own API says "openai" or "system", and
# nothing else is read as a server's name.
_SCHEMA_SERVERS = frozenset({"vllm", "sglang", "llamacpp"})


@dataclass(frozen=True)
class EndpointFacts:
    """What an endpoint's ``/models`` tells about it: structured outputs, and whether it is llama.cpp's server
    (which then gets exactly the embedded model's requests: its exact grammar for one string out of a list)."""

    json_schema: bool = False
    llama_cpp: bool = False
    # The model's parameter count where the server says it (llama.cpp: ``meta.n_params``).
    n_params: int | None = None


async def probe_endpoint(http: httpx2.AsyncClient, base_url: str, key: str, model: str) -> EndpointFacts:
    """What ``base_url``'s ``/models`` says about ``model``'s server.

    Structured outputs: OpenRouter-style ``supported_parameters``, a ``capabilities`` list or dict, or a server
    in _SCHEMA_SERVERS by ``owned_by``. A server that says nothing (or fails) gets the extract-the-answer
    fallback instead; ``--json-schema on`` overrides that.
    """
    try:
        response = await http.get(f"{base_url}/models", headers={"Authorization": f"Bearer {key}"}, timeout=10.0)
        entries = response.json().get("data", [])
    except (httpx2.HTTPError, ValueError, AttributeError):
        return EndpointFacts()
    if not isinstance(entries, list):
        return EndpointFacts()
    for entry in entries:
        if not isinstance(entry, dict) or (entry.get("id") != model and len(entries) > 1):
            continue
        params = entry.get("supported_parameters") or []
        caps = entry.get("capabilities") or []
        if isinstance(caps, dict):
            caps = [k for k, v in caps.items() if v]
        owner = str(entry.get("owned_by") or "").lower()
        advertised = bool({"response_format", "structured_outputs", "json_schema"} & {str(p) for p in [*params, *caps]})
        meta = entry.get("meta")
        n_params = meta.get("n_params") if isinstance(meta, dict) else None
        return EndpointFacts(json_schema=advertised or owner in _SCHEMA_SERVERS, llama_cpp=owner == "llamacpp",
                             n_params=n_params if isinstance(n_params, int) and n_params > 0 else None)
    return EndpointFacts()


def _http_client(timeout_s: float, max_concurrency: int) -> httpx2.AsyncClient:
    # The OpenAI SDK is built on httpx2; give it a client of that family so its error mapping applies.
    slots = max(max_concurrency, 1)
    limits = httpx2.Limits(max_connections=slots + 4, max_keepalive_connections=slots)
    return httpx2.AsyncClient(timeout=httpx2.Timeout(timeout_s + 5.0, connect=min(timeout_s, 30.0)), limits=limits)


def require_key(spec: LLMSpec) -> str:
    """The API key ``spec`` will use ("" for a server that needs none); LLMAuthError, naming the remedy, when
    OpenAI itself is asked for without one. Cheap: callers check it before anything is created."""
    key = os.environ.get("OPENAI_API_KEY") or "" if spec.kind == "openai" else ""
    if spec.kind == "openai" and not key and spec.base_url is None:
        raise LLMAuthError(
            f"--llm {spec} needs an API key: set OPENAI_API_KEY (or use --base-url for a server that needs none)"
        )
    return key


async def open_provider(spec: LLMSpec, settings: Any) -> Provider:
    """Build the chat model for ``spec`` (``settings``: an LLMSettings). Starts the embedded server if needed."""
    if spec.kind == "control":
        from agent.llm.control import RandomAnswerModel

        # structured output yes (it samples the schema), tools no: agent mode refuses it up front.
        return Provider(RandomAnswerModel(), "control:random", True, False, wrap_schema=False)
    if spec.kind == "scripted":
        assert spec.path is not None
        scripted = ScriptedChatModel.from_file(spec.path)
        return Provider(scripted, scripted.model_name, True, True, wrap_schema=False)

    if spec.kind == "embedded":
        if spec.bundled:
            path = await asyncio.to_thread(ensure_bundled, spec.model)
        else:
            assert spec.path is not None
            path = spec.path
        server = await asyncio.to_thread(get_server, path, settings.max_concurrency, settings.embedded_runtime)
        http = _http_client(settings.timeout_s, settings.max_concurrency)
        model = _chat_openai(spec.model, server.base_url, _NO_KEY, settings.timeout_s, http)
        schema = True if settings.json_schema is None else settings.json_schema
        # llama.cpp serving the small Qwen-Coder models writes a tool call as JSON text in ``content`` and never
        # returns ``tool_calls`` (measured with "auto" and "required"): the client asks for a schema-constrained
        # tool call instead (client.tool_call_schema).
        tools = False if settings.tools is None else settings.tools
        return Provider(
            model, spec.model, schema, tools, wrap_schema=False, http_client=http, exact_enum_grammar=True,
            embedded_load_s=server.load_s, embedded_server=server.runtime,
        )

    if spec.kind == "openai":
        key = require_key(spec)
        register_secret(key)
        key = key or _NO_KEY
        http = _http_client(settings.timeout_s, settings.max_concurrency)
        model = _chat_openai(spec.model, spec.base_url, key, settings.timeout_s, http)
        facts = EndpointFacts() if spec.base_url is None else await probe_endpoint(http, spec.base_url, key, spec.model)
        if settings.json_schema is not None:
            schema = settings.json_schema
        elif spec.base_url is None:
            schema = bool(_OPENAI_JSON_SCHEMA.match(spec.model))
        else:
            schema = facts.json_schema
        # A llama.cpp server gets its tool calls as a schema-constrained reply, as the embedded model does: with
        # the small Qwen-Coder models it never returns ``tool_calls``, and a constrained reply cannot be invalid.
        tools = (not facts.llama_cpp) if settings.tools is None else settings.tools
        small = facts.n_params is not None and facts.n_params <= SMALL_MODEL_PARAMS
        log.info("llm_provider", spec=str(spec), json_schema=schema, tools=tools, llama_cpp=facts.llama_cpp,
                 n_params=facts.n_params)
        # llama.cpp's server takes any schema root and our exact grammar: the same requests as the embedded model.
        return Provider(model, spec.model, schema, tools, wrap_schema=not facts.llama_cpp, http_client=http,
                        exact_enum_grammar=facts.llama_cpp, small_model=small)

    raise LLMSpecError(f"unknown model kind {spec.kind!r}")
