"""Every model call and every tool call of the agent's graph goes through the trial's journal.

* A model call is a journaled ``llm`` effect: its request (the messages as sent, the tools, temperature,
  seed, answer schema) is recorded, the call is performed only when the log has no result for it, and the
  graph always gets the message rebuilt from the recorded reply, so a live run, a resume and a replay see
  the same thing. Resume continues at the first unrecorded call; replay performs none (no model, no
  network): a request that differs from the recorded one is a divergence.
* A tool call is recorded as two facts, ``tool.called`` (name, arguments, id) and ``tool.returned`` (what
  the model is told). The tool itself runs on every execution: its own effects (an evaluation, a training)
  are journaled inside it and answered from the log when recorded; replay compares what it returns.
* Several tool calls of one model turn run in the order the model wrote them, whatever the graph's
  scheduling (its tool node runs them concurrently), so their steps line up on every execution.

This middleware must be the innermost one (last in ``create_agent``'s list), so that every call the other
middleware makes to the model (several position questions in one turn, for instance) is journaled.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from langchain.agents.middleware import AgentMiddleware, ModelRequest, ModelResponse
from langchain_core.messages import AIMessage, BaseMessage, ToolMessage
from langchain_core.utils.function_calling import convert_to_openai_tool
from langgraph.prebuilt.tool_node import ToolCallRequest
from langgraph.types import Command

from agent.engine.context import TrialContext
from agent.llm.chat_model import REPLY_METADATA_KEY
from agent.llm.messages import from_langchain, text_of, to_ai_message
from storage.payloads import ToolCalled, ToolReturned

# model_settings keys that are ours: what the journal records and the run's chat model reads.
PURPOSE = "purpose"
SEED_OFFSET = "seed_offset"


class ToolCallOrder:
    """Lets tool calls of one model turn proceed one at a time, in the order the model wrote them."""

    def __init__(self) -> None:
        self._condition = asyncio.Condition()
        self._done: set[str] = set()

    @asynccontextmanager
    async def turn(self, call_id: str, written: list[str]) -> AsyncIterator[None]:
        earlier = written[: written.index(call_id)] if call_id in written else []
        async with self._condition:
            await self._condition.wait_for(lambda: all(c in self._done for c in earlier))
        try:
            yield
        finally:
            async with self._condition:
                self._done.add(call_id)
                self._condition.notify_all()


def _written_order(state: Any) -> list[str]:
    """Ids of the tool calls in the newest AI message of the graph's state."""
    messages: list[BaseMessage] = list(state.get("messages", [])) if isinstance(state, dict) else []
    for message in reversed(messages):
        if isinstance(message, AIMessage):
            return [str(tc.get("id") or "") for tc in message.tool_calls]
    return []


class JournalMiddleware(AgentMiddleware):
    """Journals the agent's model and tool calls in ``ctx``'s trial."""

    def __init__(self, ctx: TrialContext) -> None:
        super().__init__()
        self.ctx = ctx
        self._order = ToolCallOrder()

    async def awrap_model_call(self, request: ModelRequest,
                               handler: Callable[[ModelRequest], Awaitable[ModelResponse]]) -> ModelResponse:
        ctx = self.ctx
        settings = dict(request.model_settings)
        purpose = str(settings.pop(PURPOSE, "agent"))
        temperature = float(settings.pop("temperature", ctx.temperature))
        call_index, seed = ctx.next_call(int(settings.pop(SEED_OFFSET, 0)))
        sent = [request.system_message, *request.messages] if request.system_message else list(request.messages)
        recorded: dict[str, Any] = {"messages": from_langchain(sent), "temperature": temperature, "purpose": purpose,
                                    "seed": seed}
        if request.tools:
            recorded["tools"] = [convert_to_openai_tool(t) for t in request.tools]
        if request.tool_choice is not None:
            recorded["tool_choice"] = request.tool_choice
        for key in ("answer_schema", "max_tokens"):
            if settings.get(key) is not None:
                recorded[key] = settings[key]

        async def perform() -> dict[str, Any]:
            response = await handler(request.override(model_settings={
                **settings, "temperature": temperature, "seed": seed, "trial": ctx.trial, "call_index": call_index}))
            message = response.result[-1]
            reply = message.response_metadata.get(REPLY_METADATA_KEY)
            if not isinstance(reply, dict):  # a chat model other than the run's: record what it said
                reply = {"content": text_of(message), "tool_calls": [
                    {"id": tc.get("id") or "", "name": tc["name"], "args": dict(tc["args"])}
                    for tc in getattr(message, "tool_calls", [])]}
            return ctx.priced(reply)

        reply = await ctx.llm_effect(recorded, perform)
        return ModelResponse(result=[to_ai_message(reply)])

    async def awrap_tool_call(self, request: ToolCallRequest,
                              handler: Callable[[ToolCallRequest], Awaitable[ToolMessage | Command[Any]]],
                              ) -> ToolMessage | Command[Any]:
        call = request.tool_call
        call_id = str(call.get("id") or "")
        async with self._order.turn(call_id, _written_order(request.state)):
            await self.ctx.record("tool.called", ToolCalled(id=call_id, name=call["name"], args=dict(call["args"])))
            result = await handler(request)
            content = text_of(result) if isinstance(result, ToolMessage) else str(result)
            status = result.status if isinstance(result, ToolMessage) else "command"
            await self.ctx.record("tool.returned", ToolReturned(id=call_id, name=call["name"], content=content,
                                                                status=status))
        return result
