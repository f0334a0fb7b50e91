"""GENIUS as a LangChain agent (``--mode agent``, the main command's default).

``langchain.agents.create_agent`` runs the loop: the model (the run's shared, rate-limited client as a
LangChain chat model) calls the tools of ``tools/search_tools.py`` (benchmark lookup or training, and the
history) until the budget is spent. The project adds middleware, not a loop of its own:

* :class:`~agent.engine.middleware.SearchControl`: stops when the budget is spent or after a turn limit; a reply
  without a tool call gets a nudge (recorded);
* :class:`~agent.engine.middleware.PositionQuestionsMiddleware` (``model_help``, on by default for the embedded
  model): each turn's tool call is assembled from one question per position;
* :class:`~agent.engine.middleware.JournalMiddleware` (innermost): every model call and tool call through the
  trial's journal, which is what makes resume and replay of an agent run exact.

No LangGraph checkpointer: the event log is the only truth, and resume re-runs the graph over it.
"""

from __future__ import annotations

from typing import Any

from langchain.agents import create_agent
from langchain_core.messages import HumanMessage

from agent.engine.answers import ParsedAnswer
from agent.engine.context import TrialContext
from agent.engine.middleware import JournalMiddleware, PositionQuestionsMiddleware, SearchControl
from agent.engine.strategies.assisted import position_statistics, sorted_results
from agent.engine.strategies.paper import task_prompt
from agent.llm.chat_model import RunChatModel
from prompts import render
from storage.journal import EffectFailed
from tools.evaluation import Arch, Evaluation
from tools.search_tools import HISTORY, LOOKUP, TRAIN, ToolRules, build_search_tools


class TrialSession:
    """One trial as the tools see it (:class:`tools.search_tools.SearchSession`)."""

    def __init__(self, ctx: TrialContext) -> None:
        self.ctx = ctx

    @property
    def budget_left(self) -> int:
        return self.ctx.budget_left

    def parse(self, text: str) -> ParsedAnswer:
        return self.ctx.view.parse(text)

    def show(self, arch: Arch) -> str:
        return self.ctx.view.show(arch)

    def answer_schema(self) -> dict[str, Any]:
        return self.ctx.view.answer_schema()

    def constraint_violation(self, arch: Arch) -> str | None:
        return self.ctx.constraint_violation(arch)

    def previous(self, arch: Arch) -> Any:
        return self.ctx.previous(arch)

    async def evaluate_and_record(self, arch: Arch) -> tuple[Evaluation, bool] | None:
        return await self.ctx.evaluate_and_record(arch)

    def last_failure(self) -> str:
        failed = [it for it in self.ctx.state.iterations if it.status == "failed"]
        return failed[-1].reason.removeprefix("evaluation failed: ") if failed else "unknown error"

    async def reject(self, *, kind: str, answer: str, message: str, attempt: int) -> None:
        await self.ctx.reject(kind=kind, answer=answer, message=message, attempt=attempt)

    async def history_text(self) -> str:
        ctx = self.ctx
        scope = ctx.config.history_scope
        if scope != "trial":
            return wider_history_text(ctx, scope, await ctx.wider_history(scope))
        best = ctx.best()
        if best is None:
            return f"Nothing evaluated yet. Evaluations left: {ctx.budget_left}."
        return (f"Evaluated so far, best first:\n{sorted_results(ctx)}\n\nPer position, each value's mean "
                f"accuracy (times tried):\n{position_statistics(ctx)}\n\nEvaluations left: {ctx.budget_left}.")


WIDER_SHOWN = 20  # results listed by a wider history (the statistics cover all of them)


def wider_history_text(ctx: TrialContext, scope: str, records: list[dict[str, Any]]) -> str:
    """The history tool's answer beyond this trial: the best distinct architectures and each position's values
    with the mean accuracy they gave, over every evaluation in ``records``."""
    where = "this run (all its trials)" if scope == "run" else f"every run on {ctx.space.name} in the log"
    best: dict[tuple[int, ...], float] = {}
    for r in records:
        if r.get("arch") is not None:
            key = tuple(r["arch"])
            best[key] = max(best.get(key, 0.0), float(r.get("accuracy") or 0.0))
    if not best:
        return f"Nothing evaluated yet in {where}. Evaluations left in this trial: {ctx.budget_left}."
    ranked = sorted(best.items(), key=lambda kv: -kv[1])
    lines = [f"{ctx.view.show(a)}: {acc:.2f}" for a, acc in ranked[:WIDER_SHOWN]]
    stats = []
    for j, name in enumerate(ctx.view.position_names):
        real = ctx.view.real_position(j)
        cells = []
        for label, value in ctx.view.options(j):
            accs = [acc for a, acc in best.items() if a[real] == value]
            cells.append(f"{label}: {sum(accs) / len(accs):.2f} ({len(accs)}x)" if accs else f"{label}: untried")
        stats.append(f"{name}: " + "; ".join(cells))
    return (f"Evaluated in {where}: {len(best)} distinct architectures, best first"
            f"{f' (the best {WIDER_SHOWN})' if len(best) > WIDER_SHOWN else ''}:\n" + "\n".join(lines) +
            "\n\nPer position, each value's mean accuracy (architectures using it):\n" + "\n".join(stats) +
            f"\n\nEvaluations left in this trial: {ctx.budget_left}.")


def train_note(ctx: TrialContext) -> str:
    opts = ctx.config.train
    parts = [f"{opts['epochs']} epochs" if opts.get("epochs") else "", f"on {opts.get('dataset', 'cifar10')}"]
    return " ".join(p for p in parts if p)


class LangChainAgentStrategy:
    """One trial = one run of the agent graph."""

    name = "genius-agent"

    async def run(self, ctx: TrialContext) -> None:
        config = ctx.config
        training = config.evaluator == "train"
        evaluating_tool = TRAIN if training else LOOKUP
        tools = build_search_tools(TrialSession(ctx), ToolRules(
            refuse_repeats=True, space_size=ctx.space.size, train=training,
            train_note=train_note(ctx) if training else ""))
        max_turns = 4 * config.iterations + 4
        control = SearchControl(ctx, max_turns=max_turns, evaluating_tool=evaluating_tool)
        middleware: list[Any] = [control]
        if config.model_help:
            middleware.append(PositionQuestionsMiddleware(ctx, config.assist, evaluating_tool=evaluating_tool))
        middleware.append(JournalMiddleware(ctx))
        agent = create_agent(RunChatModel(client=ctx.llm, model_name=config.llm), tools,
                             system_prompt=render("agent/system", evaluate=evaluating_tool, history=HISTORY),
                             middleware=middleware, name="genius")
        task = render("agent/task", space_prompt=task_prompt(ctx), budget=config.iterations,
                      answer_name=ctx.view.answer_name, n=len(ctx.view.position_names),
                      value_kind=ctx.view.value_kind, example=ctx.view.example, evaluate=evaluating_tool,
                      history=HISTORY)
        try:
            # Each turn is two graph steps (model, tools) plus the middleware's; the turn limit ends it first.
            await agent.ainvoke({"messages": [HumanMessage(content=task)]},
                                config={"recursion_limit": 10 * max_turns + 20})
        except EffectFailed as exc:
            await ctx.finish("failed", f"LLM call failed: {exc.message}")
            return
        await ctx.finish("finished", "" if ctx.budget_left <= 0 else control.stop_reason)
