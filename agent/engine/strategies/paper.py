"""GENIUS as in the paper (Algorithm 1, Appendices A-C, the authors' protocol in seed/PROTOCOL.md).

* NAS-Bench-Macro and Channel-Bench-Macro: the conversation is rebuilt every iteration — system prompt,
  the space prompt, then (from the second iteration) every earlier proposal with its accuracy, a request
  for a better one, and "nothing other than the list".
* NAS-Bench-201: one growing chat; after each evaluation Algorithm 1's feedback with the validation
  accuracy. The trial reports the test accuracy of the best-by-validation architecture.

Repeats count as iterations (answered from the log, not evaluated again), as in the paper. An answer that
says no further improvement is possible and proposes nothing ends the trial (Table 3's '-').
"""

from __future__ import annotations

from typing import Any

from agent.engine.answers import example_answer
from agent.engine.context import TrialContext, round_half_up
from agent.engine.strategies.base import Proposal, answer_format, ask_for_arch
from prompts import render
from tools.spaces.base import SearchSpace


def space_prompt(space: SearchSpace) -> str:
    """The space description of the paper's user prompt (Appendix A.2 / B.2 / C.2): the space's own."""
    return space.paper_user_prompt()


def system_prompt(space: SearchSpace) -> str:
    return space.paper_system_prompt()


def task_prompt(ctx: TrialContext, *, compact: bool = False, named: bool = False) -> str:
    """The space prompt as the model sees it (``compact``: the short form; ``named``: the short form that
    writes options by name), with the run's size limit."""
    note = ctx.constraint_note()
    if named:
        prompt = ctx.space.compact_prompt(named=True)
    else:
        prompt = ctx.view.compact_prompt() if compact else ctx.view.space_prompt()
    return prompt + (f"\n\n{note}" if note else "")


def results_lines(ctx: TrialContext) -> str:
    """``<list as proposed> gives an accuracy of <acc>%`` for every earlier evaluated proposal, in order."""
    return "\n".join(f"{ctx.view.show(tuple(it.arch or ()))} gives an accuracy of "
                     f"{round_half_up(float(it.accuracy or 0), 2)}%" for it in ctx.evaluated())


class PaperStrategy:
    """The paper's method, unchanged: no help beyond validation and re-asking on an unusable answer."""

    name = "genius-paper"

    async def run(self, ctx: TrialContext) -> None:
        if ctx.space.conversation == "growing":
            await self._growing_chat(ctx)
        else:
            await self._rebuilt_conversation(ctx)

    async def _rebuilt_conversation(self, ctx: TrialContext) -> None:
        name = ctx.view.answer_name
        system = ctx.view.system_prompt()
        base = task_prompt(ctx)
        schema = answer_format(ctx)
        while ctx.budget_left > 0:
            parts = [base]
            if ctx.evaluated():
                parts.append(render("paper/results_block", results=results_lines(ctx), answer_name=name))
            parts.append(render("paper/closing", answer_name=name))
            messages = [{"role": "system", "content": system}, {"role": "user", "content": "\n\n".join(parts)}]
            proposal = await ask_for_arch(ctx, messages, schema=schema)
            if not await self._settle(ctx, proposal):
                return
        await ctx.finish("finished")

    async def _growing_chat(self, ctx: TrialContext) -> None:
        schema = answer_format(ctx, with_rationale=True)
        messages: list[dict[str, Any]] = [
            {"role": "system", "content": ctx.view.system_prompt()},
            {"role": "user", "content": task_prompt(ctx)},
        ]
        while ctx.budget_left > 0:
            proposal = await ask_for_arch(ctx, messages, schema=schema)
            if not await self._settle(ctx, proposal):
                return
            messages = list(proposal.messages)
            last = ctx.state.iterations[-1]
            if last.status == "ok":
                messages.append({"role": "user", "content": render(
                    "paper/nb201_feedback", accuracy=round_half_up(float(last.accuracy or 0), 3))})
        await ctx.finish("finished")

    async def _settle(self, ctx: TrialContext, proposal: Proposal) -> bool:
        """Record the iteration's outcome; False when the trial ends here."""
        if proposal.stop:
            await ctx.fail_iteration("the model says no further improvement is possible", cause="other",
                                     attempts=proposal.attempts, status="stopped")
            await ctx.finish("stopped", "the model says no further improvement is possible")
            return False
        if proposal.arch is None:
            await ctx.fail_iteration(proposal.failed, cause=proposal.cause, attempts=proposal.attempts)
            if proposal.llm_failure is not None:
                await ctx.finish("failed", proposal.failed)
                return False
            return True
        await ctx.evaluate_and_record(proposal.arch, attempts=proposal.attempts)
        return True


__all__ = ["PaperStrategy", "example_answer", "results_lines", "space_prompt", "system_prompt", "task_prompt"]
