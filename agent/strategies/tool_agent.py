"""GENIUS as a tool-calling LangChain agent (``--mode agent``).

The tools are LangChain ``StructuredTool`` objects, given to the model in OpenAI tool format; the loop that
calls the model and runs the tools is ours, so every model call and every evaluation goes through the
journal (resume and replay work exactly as for the paper's loop). The budget is enforced by the
``evaluate_architecture`` tool, not by trusting the model.
"""

from __future__ import annotations

import json
from typing import Any

from langchain_core.tools import StructuredTool
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import BaseModel, Field

from agent.context import TrialContext, round_half_up
from agent.strategies.assisted import position_statistics, sorted_results
from agent.strategies.paper import task_prompt
from prompts import render
from storage.journal import EffectFailed


class EvaluateArgs(BaseModel):
    architecture: list[int | str] = Field(description="the architecture: one value per searchable position, in order")


class NoArgs(BaseModel):
    pass


def build_tools(ctx: TrialContext) -> list[StructuredTool]:
    """The agent's tools, bound to this trial's context."""

    async def evaluate_architecture(architecture: list[int | str]) -> str:
        if ctx.budget_left <= 0:
            return "The evaluation budget is spent; no more evaluations are possible."
        parsed = ctx.view.parse(json.dumps(architecture))
        if parsed.arch is None:
            await ctx.reject(kind="invalid", answer=json.dumps(architecture), message=str(parsed.error), attempt=1)
            return f"Invalid architecture: {parsed.error}"
        violation = ctx.constraint_violation(parsed.arch)
        if violation is not None:
            await ctx.reject(kind="constraint", answer=json.dumps(architecture), message=violation, attempt=1)
            return f"Refused, not evaluated: {violation}"
        arch = parsed.arch
        evaluation, repeat = await ctx.evaluate(arch)
        await ctx.complete_iteration(arch, evaluation, repeat=repeat)
        note = " (already evaluated earlier; this still used one evaluation)" if repeat else ""
        return (f"{ctx.view.show(arch)}: accuracy {round_half_up(evaluation.accuracy, 2)}%"
                f"{note}. Evaluations left: {ctx.budget_left}.")

    async def query_history() -> str:
        if not ctx.evaluated():
            return f"Nothing evaluated yet. Evaluations left: {ctx.budget_left}."
        best = ctx.best()
        assert best is not None
        return (f"Evaluated so far, best first:\n{sorted_results(ctx)}\n\nPer position:\n"
                f"{position_statistics(ctx)}\n\nBest: {ctx.view.show(tuple(best.arch or ()))} "
                f"({round_half_up(float(best.accuracy or 0), 2)}%). Evaluations left: {ctx.budget_left}.")

    async def describe_space() -> str:
        return ctx.view.space_prompt()

    return [
        StructuredTool.from_function(coroutine=evaluate_architecture, name="evaluate_architecture",
                                     description="Train and test one architecture and return its accuracy. "
                                                 "Costs one evaluation.",
                                     args_schema=EvaluateArgs),
        StructuredTool.from_function(coroutine=query_history, name="query_history",
                                     description="What was evaluated so far (best first), per-position "
                                                 "statistics and the evaluations left. Free.",
                                     args_schema=NoArgs),
        StructuredTool.from_function(coroutine=describe_space, name="describe_space",
                                     description="The search space: positions and allowed values. Free.",
                                     args_schema=NoArgs),
    ]


class ToolAgentStrategy:
    """A tool-calling agent; the model decides when to evaluate, look at the history or re-read the space."""

    name = "genius-agent"

    async def run(self, ctx: TrialContext) -> None:
        tools = {t.name: t for t in build_tools(ctx)}
        specs = [convert_to_openai_tool(t) for t in tools.values()]
        space = ctx.space
        messages: list[dict[str, Any]] = [
            {"role": "system", "content": render("agent/system")},
            {"role": "user", "content": render(
                "agent/task", space_prompt=task_prompt(ctx), budget=ctx.config.iterations,
                answer_name=ctx.view.answer_name, n=len(space.positions), value_kind=ctx.view.value_kind,
                example=ctx.view.example)},
        ]
        max_turns = 4 * ctx.config.iterations + 4
        for _ in range(max_turns):
            if ctx.budget_left <= 0:
                break
            try:
                reply = await ctx.ask(messages, tools=specs)
            except EffectFailed as exc:
                await ctx.finish("failed", f"LLM call failed: {exc.message}")
                return
            calls = list(reply.get("tool_calls") or [])
            messages.append({"role": "assistant", "content": str(reply.get("content") or ""), "tool_calls": calls})
            if not calls:
                await ctx.reject(kind="no_tool_call", answer=str(reply.get("content") or ""),
                                 message="answered without calling a tool", attempt=1)
                messages.append({"role": "user", "content": render(
                    "agent/nudge", answer_name=ctx.view.answer_name, budget=ctx.budget_left)})
                continue
            for call in calls:
                tool = tools.get(str(call.get("name")))
                if tool is None:
                    result = f"Unknown tool {call.get('name')!r}; use one of {', '.join(tools)}."
                else:
                    try:
                        result = str(await tool.ainvoke(call.get("args") or {}))
                    except Exception as exc:  # bad arguments: tell the model, as a tool would
                        if isinstance(exc, EffectFailed):
                            raise
                        result = f"Error: {exc}"
                messages.append({"role": "tool", "tool_call_id": str(call.get("id", "")), "content": result})
        if ctx.budget_left > 0:
            await ctx.finish("finished", f"stopped after {max_turns} model turns with budget left")
        else:
            await ctx.finish("finished")
