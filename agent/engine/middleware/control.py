"""The search's control around the agent: the budget ends the graph, a turn limit bounds it, and a reply
without a tool call is answered with a nudge (recorded as a rejected answer) instead of ending the trial.

The budget itself is enforced by the evaluating tool (it refuses once the trial's evaluations are spent);
this middleware only stops asking the model when nothing is left to spend, so no call is wasted.
"""

from __future__ import annotations

from typing import Any

from langchain.agents.middleware import AgentMiddleware, AgentState, hook_config
from langchain_core.messages import AIMessage, HumanMessage
from langgraph.runtime import Runtime

from agent.engine.context import TrialContext
from agent.llm.messages import text_of
from prompts import render


class SearchControl(AgentMiddleware):
    """``max_turns``: model turns (tool-calling replies and nudged ones alike) before the trial stops with
    budget left; ``evaluating_tool``: the name the nudge tells the model to call."""

    def __init__(self, ctx: TrialContext, *, max_turns: int, evaluating_tool: str) -> None:
        super().__init__()
        self.ctx = ctx
        self.max_turns = max_turns
        self.evaluating_tool = evaluating_tool
        self.turns = 0
        self.stop_reason = ""

    @hook_config(can_jump_to=["end"])
    async def abefore_model(self, state: AgentState, runtime: Runtime[Any]) -> dict[str, Any] | None:
        if self.ctx.budget_left <= 0:
            return {"jump_to": "end"}
        if self.turns >= self.max_turns:
            self.stop_reason = f"stopped after {self.max_turns} model turns with budget left"
            return {"jump_to": "end"}
        self.turns += 1
        return None

    @hook_config(can_jump_to=["model"])
    async def aafter_model(self, state: AgentState, runtime: Runtime[Any]) -> dict[str, Any] | None:
        last = state["messages"][-1] if state["messages"] else None
        if not isinstance(last, AIMessage) or last.tool_calls or self.ctx.budget_left <= 0:
            return None
        await self.ctx.reject(kind="no_tool_call", answer=text_of(last), message="answered without calling a tool",
                              attempt=1)
        nudge = render("agent/nudge", tool=self.evaluating_tool, answer_name=self.ctx.view.answer_name,
                       budget=self.ctx.budget_left)
        return {"messages": [HumanMessage(content=nudge)], "jump_to": "model"}
