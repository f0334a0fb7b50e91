"""The help a small model needs, as agent middleware: one question per position (``--model-help``).

Measured with the 1.5B embedded model (docs in the README, "Small models"): asked for a whole architecture it
copies a list it has seen; asked one position at a time, after the task, the best results so far and what
each option gave, it searches better than random search on every space. Each question also names the option
the best architecture so far has at its position (``incumbent_in_question``, the default since stop 35).
This middleware turns one model turn of the agent into those questions: each is a model call through the inner
middleware (so each is journaled), each answer is constrained to the options still open, and the answers are assembled
into the agent's tool call to the evaluating tool. The model makes every choice; the program only summarises the
results, leaves out an option where every architecture it would complete was evaluated already (so no repeat can be
assembled), and re-asks what the size limits refuse.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from langchain.agents.middleware import AgentMiddleware, ModelRequest, ModelResponse
from langchain_core.messages import AIMessage, SystemMessage
from langchain_core.messages.tool import ToolCall

from agent.engine.config import AssistOptions
from agent.engine.context import TrialContext
from agent.engine.middleware.journal import PURPOSE
from agent.engine.strategies.assisted import AssistedStrategy
from agent.llm.messages import text_of, to_langchain


class PositionQuestionsMiddleware(AgentMiddleware):
    """Answers each model turn with a tool call to ``evaluating_tool`` assembled from position questions."""

    def __init__(self, ctx: TrialContext, options: AssistOptions, *, evaluating_tool: str) -> None:
        super().__init__()
        self.ctx = ctx
        self.options = options
        self.evaluating_tool = evaluating_tool
        # The intro (task, best results, per-option table) is assisted mode's, shared so both measure alike.
        self._prompts = AssistedStrategy(options)

    async def awrap_model_call(self, request: ModelRequest,
                               handler: Callable[[ModelRequest], Awaitable[ModelResponse]]) -> ModelResponse:
        ctx = self.ctx

        async def ask(messages: list[dict[str, Any]], *, answer_schema: dict[str, Any] | None,
                      temperature: float, max_tokens: int, purpose: str) -> dict[str, Any]:
            sent = to_langchain(messages)
            system = sent[0] if sent and isinstance(sent[0], SystemMessage) else None
            settings: dict[str, Any] = {"temperature": temperature, "max_tokens": max_tokens, PURPOSE: purpose}
            if answer_schema is not None:
                settings["answer_schema"] = answer_schema
            conversation: list[Any] = sent[1:] if system else sent
            response = await handler(request.override(
                system_message=system, messages=conversation, tools=[], tool_choice=None, model_settings=settings))
            return {"content": text_of(response.result[-1])}

        temperature = self._prompts.temperature(ctx)
        arch, choices, questions = await self._prompts.propose_by_position(ctx, temperature, ask=ask)
        if choices.proposal.llm_failure is not None:
            raise choices.proposal.llm_failure
        if arch is None:
            # No usable answer this turn: the control middleware nudges and the next turn asks again.
            return ModelResponse(result=[AIMessage(content=f"(no {ctx.view.answer_name} assembled)")])
        ctx.note_proposal({"temperature": temperature, "best_mean_choices": choices.best_mean,
                           "positions": len(ctx.view.position_names), "questions": questions})
        call_index, _ = ctx.next_call()
        call = ToolCall(name=self.evaluating_tool, args={"architecture": json.loads(ctx.view.show(arch))},
                        id=f"positions-t{ctx.trial}-c{call_index}", type="tool_call")
        return ModelResponse(result=[AIMessage(content="", tool_calls=[call])])
