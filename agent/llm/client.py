"""The one LLM client of a run: rate limits, concurrency cap, timeouts, retries, usage and budget.

Every trial calls :meth:`LLMClient.chat` with plain JSON messages; the client turns them into a
LangChain call on the provider's chat model (ChatOpenAI, or the scripted model), retries what is
worth retrying (this is the project's only retry layer), and returns an :class:`LLMReply`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import math
import random
import time
from dataclasses import dataclass
from typing import Any

import openai
from langchain_core.language_models import LanguageModelInput
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.runnables import Runnable, RunnableConfig

from agent.llm.diagnostics import get_logger
from agent.llm.errors import LLMAuthError, LLMCallFailed, LLMSpecError
from agent.llm.grammar import completed, decided_after, enum_literals, literal_grammar
from agent.llm.messages import text_of, to_langchain, tool_calls_of
from agent.llm.providers import Provider, open_provider
from agent.llm.ratelimit import RequestRateLimiter, TokenRateLimiter
from agent.llm.reply import LLMReply
from agent.llm.retry import BadReply, Failure, attempt_record, classify, wait_s
from agent.llm.scripted import CALL_METADATA_KEY, TRIAL_METADATA_KEY
from agent.llm.spec import LLMSpec
from tools.errors import GeniusError

log = get_logger(__name__)

_ANSWER_KEY = "answer"
# How often a call still waiting for its reply says so in the log.
HEARTBEAT_S = 60.0


@dataclass(frozen=True)
class LLMSettings:
    """Knobs of the shared client.

    ``retry_after_cap_s``: the longest wait between attempts, whatever a server's Retry-After says;
    ``deadline_s``: a call's total time across attempts and waits (no attempt runs past it).
    ``rate_limit``: requests per second (every attempt counts; <= 0 for none). ``tokens_per_minute``:
    an optional token budget per minute. ``max_concurrency``: in-flight requests (also the embedded
    server's parallel slots). ``timeout_s``: per attempt. Backoff is exponential with full jitter,
    unless the server sends Retry-After. ``json_schema``/``tools``: override what the provider is assumed
    to support (None: decide per provider). The client counts nothing: what a run spent is the fold of its
    log, and the budget is checked against it before each call (agent/llm/usage.py).
    """

    rate_limit: float = 5.0
    tokens_per_minute: int | None = None
    max_concurrency: int = 8
    timeout_s: float = 120.0
    max_attempts: int = 5
    backoff_base_s: float = 0.5
    backoff_max_s: float = 30.0
    json_schema: bool | None = None
    tools: bool | None = None
    retry_after_cap_s: float = 60.0
    deadline_s: float = 1800.0
    # Which llama.cpp serves an embedded model (agent.llm.embedded.RUNTIMES).
    embedded_runtime: str = "auto"


def _approx_tokens(messages: list[dict[str, Any]]) -> int:
    return max(1, sum(len(str(m.get("content") or "")) for m in messages) // 4)


def _is_object_schema(schema: dict[str, Any]) -> bool:
    return schema.get("type") == "object"


def tool_call_schema(tools: list[dict[str, Any]]) -> dict[str, Any]:
    """One JSON object naming one of ``tools`` (OpenAI tool dicts) and its arguments, exactly as that tool's
    parameter schema allows: the union of the tools' schemas, for endpoints without native tool calls."""
    variants = []
    for tool in tools:
        fn = tool.get("function", tool)
        params = dict(fn.get("parameters") or {"type": "object", "properties": {}})
        params.pop("title", None)
        params.pop("description", None)
        variants.append({
            "type": "object",
            "properties": {"tool": {"type": "string", "enum": [fn["name"]]}, "arguments": params},
            "required": ["tool", "arguments"],
            "additionalProperties": False,
        })
    return variants[0] if len(variants) == 1 else {"anyOf": variants}


def parse_tool_call(content: str, call_id: str) -> list[dict[str, Any]]:
    """``[{"id", "name", "args"}]`` from a reply written to :func:`tool_call_schema`; empty when it is not one."""
    try:
        value = json.loads(content)
    except ValueError:
        return []
    if not isinstance(value, dict) or not isinstance(value.get("tool"), str):
        return []
    args = value.get("arguments")
    return [{"id": call_id, "name": value["tool"], "args": args if isinstance(args, dict) else {}}]


class LLMClient:
    """Shared by every trial of a run. Open with :meth:`open`, close with :meth:`aclose`."""

    def __init__(self, spec: LLMSpec, settings: LLMSettings, provider: Provider) -> None:
        if settings.max_attempts < 1 or settings.max_concurrency < 1:
            raise LLMSpecError("LLM settings: max_attempts and max_concurrency must be at least 1")
        self.spec = spec
        self.settings = settings
        self._provider = provider
        self.supports_json_schema = provider.supports_json_schema
        self.supports_tools = provider.supports_tools
        self.model_name = provider.model_name
        # Seconds the embedded model took to load in this process (None: not embedded).
        self.embedded_load_s = provider.embedded_load_s
        # Which llama.cpp served it (None: not embedded).
        self.embedded_server = provider.embedded_server
        # Whether the endpoint reported a model small enough for the small-model help (providers.SMALL_MODEL_PARAMS).
        self.small_model = provider.small_model
        self._semaphore = asyncio.Semaphore(settings.max_concurrency)
        self._requests = RequestRateLimiter(settings.rate_limit)
        self._tokens = TokenRateLimiter(settings.tokens_per_minute)
        self._rng = random.Random()

    @classmethod
    async def open(cls, spec: LLMSpec, settings: LLMSettings) -> LLMClient:
        """Build the client; for embedded specs this assembles/verifies the model and starts (or
        reuses) the process's llama.cpp server."""
        provider = await open_provider(spec, settings)
        return cls(spec, settings, provider)

    async def aclose(self) -> None:
        """Close our HTTP connections (an embedded server stays up for other clients of the process)."""
        if self._provider.http_client is not None:
            await self._provider.http_client.aclose()

    async def __aenter__(self) -> LLMClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def _waiting(self, call: Any, trial: int) -> Any:
        """Await ``call``, logging every HEARTBEAT_S what it is waiting for, so a hung server is visible."""
        task = asyncio.ensure_future(call)
        started = time.monotonic()
        try:
            while True:
                done, _ = await asyncio.wait({task}, timeout=HEARTBEAT_S)
                if done:
                    return task.result()
                log.warning("llm_call_waiting", trial=trial, model=self.model_name, waited_s=round(
                    time.monotonic() - started), timeout_s=self.settings.timeout_s)
        finally:
            if not task.done():
                task.cancel()

    # -- one call ---------------------------------------------------------------------------

    def _prepare(
        self,
        answer_schema: dict[str, Any] | None,
        tools: list[dict[str, Any]] | None,
        temperature: float,
        seed: int | None,
        max_tokens: int | None,
    ) -> tuple[Runnable[LanguageModelInput, BaseMessage], dict[str, Any], bool, bool, list[str] | None]:
        """The runnable, its call kwargs, whether a schema was requested, whether it is wrapped, and the
        literals a reply cut off once decided is completed from (None: the reply is whole)."""
        runnable: Runnable[LanguageModelInput, BaseMessage] = self._provider.model
        kwargs: dict[str, Any] = {"temperature": temperature}
        if seed is not None:
            kwargs["seed"] = seed
        if max_tokens is not None:
            kwargs["max_tokens"] = max_tokens
        if tools and not self.supports_tools and self.supports_json_schema:
            # The endpoint returns no ``tool_calls`` (llama.cpp with small Qwen models writes them as text):
            # ask for one JSON object naming a tool and its arguments, constrained to the tools' schemas, so
            # the model cannot produce an invalid call; _to_reply turns it into a real tool call.
            answer_schema, tools = tool_call_schema(tools), None
        use_tools = bool(tools) and self.supports_tools
        if use_tools:
            runnable = self._provider.model.bind_tools(tools or [])
        # langchain-openai sends response_format through the SDK's parse(), which refuses non-strict
        # tools: with tools bound the schema is left out and the caller parses the content itself.
        use_schema = answer_schema is not None and self.supports_json_schema and not use_tools
        wrapped = False
        completing: list[str] | None = None
        literals = enum_literals(answer_schema) if use_schema and answer_schema is not None else None
        if literals is not None and self._provider.exact_enum_grammar:
            kwargs["extra_body"] = {"grammar": literal_grammar(literals)}
            # Under the grammar a reply is decided once its prefix is one value's alone: every later token is
            # forced, yet each costs llama.cpp a full forward pass. A token is at least one character, so
            # that many tokens always decide; the chat() caller gets the value completed (identical answers
            # for the same seed, measured: docs/performance.md).
            decided = decided_after(literals)
            if decided is not None and (max_tokens is None or decided < max_tokens):
                kwargs["max_tokens"] = decided
                completing = literals
        elif use_schema and answer_schema is not None:
            schema = answer_schema
            if self._provider.wrap_schema and not _is_object_schema(answer_schema):
                # OpenAI's strict structured outputs take only object roots.
                schema = {
                    "type": "object",
                    "properties": {_ANSWER_KEY: answer_schema},
                    "required": [_ANSWER_KEY],
                    "additionalProperties": False,
                }
                wrapped = True
            kwargs["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "answer", "strict": True, "schema": schema},
            }
        return runnable, kwargs, use_schema, wrapped, completing

    def _to_reply(
        self,
        message: BaseMessage,
        *,
        use_schema: bool,
        wrapped: bool,
        latency_s: float,
        attempts: list[dict[str, Any]],
        estimate: int,
        as_tool_call: bool = False,
        call_id: str = "",
    ) -> LLMReply:
        """Check and convert the provider's message; BadReply when it is empty or malformed.

        ``as_tool_call``: the reply is a constrained tool call (:func:`tool_call_schema`), made into a real one
        with id ``call_id``."""
        if not isinstance(message, AIMessage):
            raise BadReply("malformed", f"expected an AI message, got {type(message).__name__}")
        content = text_of(message)
        tool_calls = tool_calls_of(message)
        if not tool_calls and message.invalid_tool_calls:
            error = message.invalid_tool_calls[0].get("error")
            raise BadReply("malformed", f"unparseable tool call arguments: {error}")
        if not tool_calls and not content.strip():
            raise BadReply("empty", "the model returned no content and no tool calls")
        if use_schema and not tool_calls and as_tool_call:
            tool_calls = parse_tool_call(content, call_id)
            if tool_calls:
                content = ""
        if use_schema and wrapped and not tool_calls:
            # Unwrap the object-rooted answer. A reply that does not follow the schema is passed on as it
            # is: whether an answer is usable is the strategy's call, and it re-asks with the validation
            # message (the paper's protocol); a blind retry here would hide the model's mistake.
            try:
                value = json.loads(content)
            except ValueError:
                value = None
            if isinstance(value, dict) and _ANSWER_KEY in value:
                content = json.dumps(value[_ANSWER_KEY])
        usage = message.usage_metadata
        prompt_tokens = int(usage["input_tokens"]) if usage else estimate
        completion_tokens = int(usage["output_tokens"]) if usage else max(1, len(content) // 4)
        meta = message.response_metadata or {}
        return LLMReply(
            content=content,
            tool_calls=tool_calls,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            latency_s=latency_s,
            attempts=attempts,
            model=str(meta.get("model_name") or self.model_name),
            finish_reason=meta.get("finish_reason"),
        )

    def _truncated_reply(self, exc: Any, latency_s: float, attempts: list[dict[str, Any]]) -> LLMReply:
        completion = exc.completion
        usage = getattr(completion, "usage", None)
        content = ""
        if completion.choices:
            content = completion.choices[0].message.content or ""
        return LLMReply(content=content, prompt_tokens=int(getattr(usage, "prompt_tokens", 0) or 0),
                        completion_tokens=int(getattr(usage, "completion_tokens", 0) or 0), latency_s=latency_s,
                        attempts=attempts, model=str(getattr(completion, "model", "") or self.model_name),
                        finish_reason="length")

    def _give_up(self, failure: Failure, attempts: list[dict[str, Any]], trial: int) -> GeniusError:
        log.warning(
            "llm_call_failed",
            trial=trial,
            kind=failure.kind,
            status=failure.status,
            attempts=len(attempts),
            message=failure.message,
        )
        if failure.kind == "auth":
            key_hint = (
                "set OPENAI_API_KEY to a valid key" if self.spec.kind == "openai" else "check the server's key settings"
            )
            return LLMAuthError(f"{self.spec}: the endpoint refused the API key (HTTP {failure.status}); {key_hint}")
        if failure.kind == "not_found":
            return LLMSpecError(
                f"{self.spec}: the endpoint answered 404 (unknown model or wrong base URL); check the model "
                "name in --llm and --base-url"
            )
        what = "not retryable" if not failure.retryable else f"gave up after {len(attempts)} attempts"
        return LLMCallFailed(
            f"LLM call for trial {trial} failed ({what}): {failure.message}", attempts, retryable=failure.retryable
        )

    async def chat(
        self,
        messages: list[dict[str, Any]],
        *,
        trial: int,
        temperature: float = 0.0,
        answer_schema: dict[str, Any] | None = None,
        tools: list[dict[str, Any]] | None = None,
        seed: int | None = None,
        max_tokens: int | None = None,
        call_index: int | None = None,
    ) -> LLMReply:
        """Ask the model; retries what is worth retrying, then returns the reply or raises.

        ``answer_schema``: JSON schema of the answer; sent as a strict ``json_schema`` response format
        when supported (the reply's ``content`` is then that JSON), ignored otherwise (parse with
        :func:`~agent.llm.parsing.extract_list`). ``tools``: OpenAI tool dicts, bound when supported.

        ``call_index``: the how-many-th call of this trial this is (0-based, counting calls a resume
        answered from the log), so a scripted model gives the same reply to the same call on every execution.

        Raises LLMCallFailed (attempts exhausted or
        a non-retryable error; carries the attempts), LLMAuthError / LLMSpecError (401/403/404:
        nothing a retry can fix), ScriptExhausted (scripted model).
        """
        lc_messages = to_langchain(messages)
        as_tool_call = bool(tools) and not self.supports_tools and self.supports_json_schema
        runnable, kwargs, use_schema, wrapped, completing = self._prepare(
            answer_schema, tools, temperature, seed, max_tokens)
        metadata: dict[str, Any] = {TRIAL_METADATA_KEY: trial}
        if call_index is not None:
            metadata[CALL_METADATA_KEY] = call_index
        config: RunnableConfig = {"metadata": metadata}
        estimate = _approx_tokens(messages)
        attempts: list[dict[str, Any]] = []
        deadline = time.monotonic() + self.settings.deadline_s
        for attempt in range(1, self.settings.max_attempts + 1):
            async with self._semaphore:
                await self._requests.acquire()
                await self._tokens.acquire(estimate)
                started = time.perf_counter()
                try:
                    async with asyncio.timeout(max(0.001, min(self.settings.timeout_s, deadline - time.monotonic()))):
                        message = await self._waiting(runnable.ainvoke(lc_messages, config=config, **kwargs), trial)
                    latency = time.perf_counter() - started
                    reply = self._to_reply(
                        message,
                        use_schema=use_schema,
                        wrapped=wrapped,
                        latency_s=latency,
                        attempts=attempts,
                        estimate=estimate,
                        as_tool_call=as_tool_call,
                        call_id=f"call-t{trial}-{call_index if call_index is not None else 'x'}",
                    )
                    if completing is not None and reply.finish_reason == "length":
                        whole = completed(reply.content, completing)
                        if whole is not None:  # else passed on as it is: the strategy re-asks
                            reply = dataclasses.replace(reply, content=whole, finish_reason="stop")
                except GeniusError:
                    raise  # ours (e.g. ScriptExhausted): already clear, never retried
                except openai.LengthFinishReasonError as exc:
                    # The answer hit max_tokens inside a structured reply: hand the cut-off text to the
                    # strategy, which re-asks with the validation message, instead of failing the trial.
                    return self._truncated_reply(exc, time.perf_counter() - started, attempts)
                except Exception as exc:
                    # The failed request's reserved tokens stay spent: the provider may have counted them.
                    failure = classify(exc)
                    elapsed = time.perf_counter() - started
                else:
                    self._tokens.settle(estimate, reply.prompt_tokens + reply.completion_tokens)
                    log.debug(
                        "llm_call",
                        trial=trial,
                        model=reply.model,
                        latency_s=round(latency, 4),
                        prompt_tokens=reply.prompt_tokens,
                        completion_tokens=reply.completion_tokens,
                        retries=len(attempts),
                    )
                    return reply
            # Back off outside the semaphore so waiting callers do not hold request slots.
            if not failure.retryable or attempt == self.settings.max_attempts:
                attempts.append(attempt_record(failure, elapsed, None))
                raise self._give_up(failure, attempts, trial)
            # A server's Retry-After is honoured up to a cap, and no wait runs past the call's deadline.
            wait = min(wait_s(failure, attempt, self.settings.backoff_base_s, self.settings.backoff_max_s, self._rng),
                       self.settings.retry_after_cap_s)
            if time.monotonic() + wait >= deadline:
                attempts.append(attempt_record(failure, elapsed, None))
                raise self._give_up(failure, attempts, trial)
            attempts.append(attempt_record(failure, elapsed, wait))
            log.warning(
                "llm_retry",
                trial=trial,
                attempt=attempt,
                kind=failure.kind,
                status=failure.status,
                wait_s=round(wait, 3),
                message=failure.message,
            )
            if math.isfinite(wait) and wait > 0:
                await asyncio.sleep(wait)
        raise AssertionError("unreachable: the loop returns or raises")
