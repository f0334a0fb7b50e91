"""GENIUS for small models (``--mode assisted``): the model still proposes every architecture; the program
only validates, refuses, re-asks and summarises. Each behaviour is switchable (:class:`AssistOptions`) so its
effect can be measured (benchmarks/search_quality.py).

* refuse_repeats: an architecture already evaluated is refused with its recorded result and re-asked, at no
  cost in budget (after ``max_refusals`` the repeat is accepted and counts, as in the paper).
* sorted_history: the results are shown best first, with per-position statistics of what each value gave.
* edit_requests: the model is asked to change one or two positions of the best architecture so far.
* candidates > 1: several answers are sampled (different seeds, temperature >= 0.7) and the model picks one.
* temperature_schedule "A:B": the temperature moves linearly from A at the first iteration to B at the last.
* explore_untried: while some value has never been tried (at most as many iterations as a position has
  values), the model is shown the untried values and asked to use them, so that every value gets a result.
* ranked_values: the statistics list each position's values best first, the history only the best five,
  and the model is asked to build from the values listed first (or to edit the best, with edit_requests).
* position_questions (default): instead of a whole list, the model is asked for one position at a time,
  after the task, the best five results and what each option gave so far (agent/engine/strategies/
  position_questions.py); the list behaviours above then do not apply. With compact_prompt (default).
* results_in_question (with position_questions): each question lists its own position's results ("What
  its options gave so far: 0 88.12 (2x), 1 untried, ..."), and the intro has no table. Unset (the default),
  it is on where the options are named operations (NAS-Bench-201, nas_macro) and off where they are widths.
* options_by_name (with position_questions): where the options are operations, the task, the questions, their
  rows and the best results write each option by its short name ("conv3x3 88.12 (2x)") instead of its id, so
  that the model's prior about the operation (convolutions) can answer. Unset (the default), it is on where
  the space has such names (NAS-Bench-201, nas_macro).

Why the last two: at a budget of 10, local edits from a poor start lose to random search (local search is
about half as good as random there; benchmarks/compare_baselines.py), and a 1.5B model's first guesses are
poor outside nas_macro. Covering every value first and then combining the values that did best is what a
small model can do reliably: read a ranked list and copy from its head.

Why position questions became the default: measured, a 1.5B model does not copy from a ranked list (asked
which of a position's options has the highest mean accuracy, it often names another one:
benchmarks/statistics_reading.py). What it does have is a sensible prior per position (wider channels, the
larger block), which a whole-list answer buries under copied patterns ([0, 1, 2, 3, 4, 0]) and which one
short question per position brings out. Where that prior is poor (NAS-Bench-201's operations), each
position's results written right before its question make it search better than random search; where the
prior is good (channel widths: wider is better), the same rows pull it away from the prior and it searches
worse (README, "Small models"). Hence the rows by default where options are named operations, not widths.
"""

from __future__ import annotations

import re
from statistics import mean
from typing import Any

from agent.engine.config import AssistOptions
from agent.engine.context import TrialContext, round_half_up
from agent.engine.strategies.base import Proposal, answer_format, ask_for_arch
from agent.engine.strategies.paper import results_lines, task_prompt
from agent.engine.strategies.position_questions import Ask, Choices, ask_by_position, statistics_block
from agent.engine.strategies.value_stats import short, value_results
from prompts import render
from storage.journal import EffectFailed
from tools.errors import UserError
from tools.evaluation import Arch


def parse_schedule(text: str) -> tuple[float, float] | None:
    if not text:
        return None
    try:
        start, end = (float(x) for x in text.split(":"))
    except ValueError:
        raise UserError(f"--temperature-schedule must be START:END, e.g. 0.2:1.0; got {text!r}") from None
    return start, end


TOP_RESULTS = 5  # results listed when ranked_values is on: the statistics summarise the others
NAMED_ANSWER = "operation list"  # what an answer is called where options are written by name


def sorted_results(ctx: TrialContext, limit: int | None = None, names: dict[int, str] | None = None) -> str:
    """Every evaluated architecture once, best first, with its accuracy (written by ``names`` where given)."""
    rows = sorted(ctx.evaluated(), key=lambda it: -(it.accuracy or 0.0))
    seen: set[tuple[int, ...]] = set()
    lines = []
    for it in rows:
        key = tuple(it.arch or ())
        if key in seen:
            continue
        seen.add(key)
        shown = f"[{', '.join(names[v] for v in key)}]" if names else ctx.view.show(key)
        lines.append(f"{shown}: {round_half_up(float(it.accuracy or 0), 2)}")
    return "\n".join(lines[:limit])


def position_statistics(ctx: TrialContext) -> str:
    """For each position and allowed value (as the model sees them): mean accuracy of the evaluated
    architectures using it."""
    lines = []
    for name, options in zip(ctx.view.position_names, value_results(ctx), strict=True):
        parts = [f"{label}: {mean(accs):.2f} ({len(accs)}x)" if accs else f"{label}: untried"
                 for label, accs in options]
        lines.append(f"{name}: " + "; ".join(parts))
    return "\n".join(lines)


def untried_values(ctx: TrialContext) -> dict[int, list[str]]:
    """Model-facing position -> labels of the values no evaluated architecture has used there."""
    out: dict[int, list[str]] = {}
    for j, options in enumerate(value_results(ctx)):
        labels = [short(label) for label, accs in options if not accs]
        if labels:
            out[j] = labels
    return out


def most_options(ctx: TrialContext) -> int:
    """Iterations that exploration may take: one per value of the widest position."""
    return max(len(ctx.view.options(j)) for j in range(len(ctx.view.position_names)))


def untried_lines(ctx: TrialContext, untried: dict[int, list[str]]) -> str:
    return "\n".join(f"{name}: {', '.join(untried[j]) if j in untried else 'all tried'}"
                     for j, name in enumerate(ctx.view.position_names))


def ranked_statistics(ctx: TrialContext) -> str:
    """Per position: the tried values best first with their mean accuracy, then the untried ones."""
    lines = []
    for name, options in zip(ctx.view.position_names, value_results(ctx), strict=True):
        tried = sorted(((mean(accs), short(label)) for label, accs in options if accs), key=lambda p: -p[0])
        untried = [short(label) for label, accs in options if not accs]
        text = ", ".join(f"{label} {acc:.2f}" for acc, label in tried)
        if untried:
            text += f"; untried: {', '.join(untried)}"
        lines.append(f"{name}: {text}")
    return "\n".join(lines)


class AssistedStrategy:
    """GENIUS with the help small models need, each piece switchable."""

    name = "genius-assisted"

    def __init__(self, options: AssistOptions) -> None:
        self.o = options
        self.schedule = parse_schedule(options.temperature_schedule)

    def temperature(self, ctx: TrialContext) -> float:
        if self.schedule is None:
            return ctx.temperature
        start, end = self.schedule
        n = max(1, ctx.config.iterations - 1)
        return round(start + (end - start) * min(ctx.iterations_done, n) / n, 4)

    def prompt(self, ctx: TrialContext) -> str:
        name = ctx.view.answer_name
        parts = [task_prompt(ctx, compact=self.o.compact_prompt)]
        if not ctx.evaluated():
            parts.append(render("paper/closing", answer_name=name))
            return "\n\n".join(parts)
        count = len({tuple(it.arch or ()) for it in ctx.evaluated()})
        if self.o.sorted_history and self.o.ranked_values:
            # A small model copies from what it sees: a short list of the best keeps the prompt short and
            # the copying aimed at good architectures (repeats of unlisted ones are still refused).
            parts.append(render("assisted/top_history", shown=min(count, TOP_RESULTS), count=count,
                                results=sorted_results(ctx, TOP_RESULTS)))
        elif self.o.sorted_history:
            parts.append(render("assisted/history", count=len(ctx.evaluated()), results=sorted_results(ctx)))
        else:
            parts.append(render("paper/results_block", results=results_lines(ctx), answer_name=name))
        if self.exploring(ctx):
            untried = untried_values(ctx)
            parts.append(render("assisted/explore_request", untried=untried_lines(ctx, untried), answer_name=name))
            return "\n\n".join(parts)
        if self.o.ranked_values:
            parts.append(render("assisted/ranked_statistics", statistics=ranked_statistics(ctx)))
        elif self.o.sorted_history:
            parts.append(render("assisted/statistics", statistics=position_statistics(ctx)))
        best = ctx.best()
        if self.o.edit_requests and best is not None:
            template = "assisted/build_request" if self.o.ranked_values else "assisted/edit_request"
            parts.append(render(template, answer_name=name, best=ctx.view.show(tuple(best.arch or ())),
                                best_accuracy=round_half_up(float(best.accuracy or 0), 2)))
        elif self.o.ranked_values:
            parts.append(render("assisted/build_best_request", answer_name=name))
        else:
            parts.append(render("assisted/improve_request", answer_name=name))
        return "\n\n".join(parts)

    def exploring(self, ctx: TrialContext) -> bool:
        return (self.o.explore_untried and bool(untried_values(ctx))
                and ctx.iterations_done < most_options(ctx))

    def with_results(self, ctx: TrialContext) -> bool:
        """Whether each position question carries its position's results (results_in_question, or auto)."""
        return self.o.asks_with_results(named_options=bool(ctx.space.value_names))

    def option_names(self, ctx: TrialContext) -> dict[int, str] | None:
        """The options' names where ``options_by_name`` is on and the space has them (never obfuscated)."""
        space = ctx.space
        has_names = bool(space.option_names)
        named = self.o.writes_names(has_names) and has_names and not ctx.view.obfuscated
        return dict(space.option_names) if named else None

    def intro(self, ctx: TrialContext) -> str:
        """What precedes the position questions: the task, how the questions go, the best results and
        what each option gave. The parts that do not change come first, so the served prompt cache keeps
        them from one iteration to the next."""
        names = self.option_names(ctx)
        parts = [task_prompt(ctx, compact=self.o.compact_prompt, named=bool(names)),
                 render("assisted/position_intro", answer_name=NAMED_ANSWER if names else ctx.view.answer_name)]
        count = len({tuple(it.arch or ()) for it in ctx.evaluated()})
        if count:
            parts.append(render("assisted/top_history", shown=min(count, TOP_RESULTS), count=count,
                                results=sorted_results(ctx, TOP_RESULTS, names)))
            if not self.with_results(ctx):
                parts.append(statistics_block(ctx, names))
        return "\n\n".join(parts)

    async def run(self, ctx: TrialContext) -> None:
        if self.o.position_questions:
            await self._run_by_position(ctx)
            return
        schema = answer_format(ctx)
        system = ctx.view.system_prompt()
        while ctx.budget_left > 0:
            messages: list[dict[str, Any]] = [{"role": "system", "content": system},
                                              {"role": "user", "content": self.prompt(ctx)}]
            temp = self.temperature(ctx)
            refusals, attempts = 0, 0
            while True:
                proposal = await self._propose(ctx, messages, schema, temp, refusals)
                attempts += proposal.attempts
                if proposal.arch is None:
                    break
                prior = ctx.previous(proposal.arch)
                if prior is None or not self.o.refuse_repeats or refusals >= self.o.max_refusals:
                    break
                refusals += 1
                # Sample a little hotter after each refusal: a small model re-asked at the same temperature
                # tends to repeat itself.
                temp = min(1.5, temp + 0.15)
                message = render("assisted/repeat_refused", arch=ctx.view.show(proposal.arch),
                                 accuracy=round_half_up(float(prior.accuracy or 0), 2), rank=prior.rank,
                                 size=ctx.space.size, answer_name=ctx.view.answer_name)
                await ctx.reject(kind="repeat", answer=proposal.reply, message=message, attempt=refusals)
                messages = [*proposal.messages, {"role": "user", "content": message}]
            if proposal.arch is None:
                await ctx.fail_iteration(proposal.failed or "no usable answer",
                                         cause=proposal.cause if proposal.failed else "no_valid_answer",
                                         attempts=attempts)
                if proposal.llm_failure is not None:
                    await ctx.finish("failed", proposal.failed)
                    return
                continue
            await ctx.evaluate_and_record(proposal.arch, attempts=attempts,
                                          extra={"refusals": refusals, "temperature": temp})
        await ctx.finish("finished")

    async def propose_by_position(self, ctx: TrialContext, temperature: float,
                                  ask: Ask | None = None) -> tuple[Arch | None, Choices, int]:
        """One architecture from position questions, asked again (told why) while it is over the size limits:
        ``(arch or None, the last questions' outcome, questions asked)``. ``ask``: how a question reaches the
        model (default the trial's journaled call; the agent's middleware passes its model)."""
        system = ctx.view.system_prompt()
        note, questions = "", 0
        arch: Arch | None = None
        names = self.option_names(ctx)
        for attempt in range(1, ctx.config.max_attempts + 1):
            intro = self.intro(ctx) + (f"\n\n{note}" if note else "")
            choices = await ask_by_position(ctx, intro, system, temperature=temperature,
                                            structured=bool(ctx.config.structured_output),
                                            results_in_question=self.with_results(ctx), ask=ask,
                                            names=names, name_incumbent=self.o.incumbent_in_question,
                                            keep_or_change=self.o.keep_or_change,
                                            answer_name=NAMED_ANSWER if names else None)
            questions += choices.questions
            arch = choices.proposal.arch
            if arch is None:
                break
            violation = ctx.constraint_violation(arch)
            if violation is None:
                break
            await ctx.reject(kind="constraint", answer=choices.proposal.reply, message=violation, attempt=attempt)
            note, arch = violation, None
        return arch, choices, questions

    async def _run_by_position(self, ctx: TrialContext) -> None:
        while ctx.budget_left > 0:
            temp = self.temperature(ctx)
            arch, choices, questions = await self.propose_by_position(ctx, temp)
            if arch is None:
                reason = choices.proposal.failed or f"no {ctx.view.answer_name} within the limits"
                await ctx.fail_iteration(reason, cause=choices.proposal.cause if choices.proposal.failed
                                         else "over_limits", attempts=questions)
                if choices.proposal.llm_failure is not None:
                    await ctx.finish("failed", reason)
                    return
                continue
            await ctx.evaluate_and_record(arch, attempts=questions, extra={
                "temperature": temp, "best_mean_choices": choices.best_mean,
                "positions": len(ctx.view.position_names)})
        await ctx.finish("finished")

    async def _propose(self, ctx: TrialContext, messages: list[dict[str, Any]], schema: dict[str, Any] | None,
                       temp: float, refusals: int) -> Proposal:
        if self.o.candidates <= 1:
            return await ask_for_arch(ctx, messages, schema=schema, temperature=temp)
        return await self._pick_from_candidates(ctx, messages, schema, max(temp, 0.7), refusals)

    async def _pick_from_candidates(self, ctx: TrialContext, messages: list[dict[str, Any]],
                                    schema: dict[str, Any] | None, temp: float, refusals: int) -> Proposal:
        """Sample several answers, drop invalid ones and repeats, and let the model choose among the rest."""
        found: list[tuple[Arch, str]] = []
        attempts = 0
        for k in range(self.o.candidates):
            try:
                reply = await ctx.ask(messages, answer_schema=schema, temperature=temp, purpose="candidate",
                                      seed_offset=1 + k + 100 * refusals)
            except EffectFailed as exc:
                return Proposal(failed=f"LLM call failed: {exc.message}", cause="llm", attempts=attempts + 1,
                                messages=messages, llm_failure=exc)
            attempts += 1
            parsed = ctx.view.parse(str(reply.get("content") or ""))
            if (parsed.arch is not None and ctx.constraint_violation(parsed.arch) is None
                    and all(parsed.arch != a for a, _ in found)):
                found.append((parsed.arch, str(reply.get("content") or "")))
        fresh = [(a, r) for a, r in found if ctx.previous(a) is None] or found
        if not fresh:
            return await ask_for_arch(ctx, messages, schema=schema, temperature=temp)
        if len(fresh) == 1:
            arch, raw = fresh[0]
            return Proposal(arch=arch, attempts=attempts, reply=raw,
                            messages=[*messages, {"role": "assistant", "content": raw}])
        listing = "\n".join(f"{i + 1}. {ctx.view.show(a)}" for i, (a, _) in enumerate(fresh))
        pick_messages = [*messages, {"role": "user", "content": render(
            "assisted/pick_one", candidates=listing, answer_name=ctx.view.answer_name)}]
        pick_schema = {"type": "integer", "enum": list(range(1, len(fresh) + 1))} if schema is not None else None
        try:
            reply = await ctx.ask(pick_messages, answer_schema=pick_schema, temperature=0.0, purpose="pick")
        except EffectFailed as exc:
            return Proposal(failed=f"LLM call failed: {exc.message}", cause="llm", attempts=attempts + 1,
                            messages=messages, llm_failure=exc)
        choice = _first_int(str(reply.get("content") or ""))
        index = choice - 1 if choice is not None and 1 <= choice <= len(fresh) else 0
        arch, raw = fresh[index]
        return Proposal(arch=arch, attempts=attempts + 1, reply=raw,
                        messages=[*messages, {"role": "assistant", "content": raw}])


def _first_int(text: str) -> int | None:
    m = re.search(r"\d+", text)
    return int(m.group()) if m else None
