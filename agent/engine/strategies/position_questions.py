"""Asking for an architecture one position at a time (assisted mode's ``position_questions``).

A small model asked for a whole architecture copies a list it has seen (its last answer, an example, a
counting pattern) and changes little. Asked about one position at a time, it has one small decision to make
per question, which its own prior about that position (wider, larger, convolution) can answer, and no list
to copy. The model still makes every choice; the program only summarises the results so far, and leaves
out an option only where every architecture it would complete has been evaluated already (so a repeat
cannot be assembled and no budget is lost to one).

Every question is one journaled call that starts with the same intro, so the served prompt cache keeps
the cost of each to its few new tokens.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from math import prod
from statistics import mean
from typing import Any, Protocol

from agent.engine.context import TrialContext, round_half_up
from agent.engine.strategies.base import Proposal
from agent.engine.strategies.value_stats import short, value_results
from prompts import render
from storage.journal import EffectFailed

# A one-value answer is a few tokens; the cap stops a model without a grammar rambling on.
ANSWER_TOKENS = 16
KEEP = "keep"  # the answer that keeps the best architecture's option (keep_or_change)
# keep_or_change offers "keep" once this many architectures have results: the first ones sample the model's
# prior freely (simulated with the model's recorded answers, docs/small-models.md: keeping from the second
# iteration on did worse on channel_resnet and nb201_cifar100 than starting after three)
KEEP_AFTER = 3


@dataclass(frozen=True)
class Listed:
    """One value as a question lists it."""

    label: str  # as the model writes it ("3", "128", "C")
    value: int  # the real value
    accuracies: tuple[float, ...]  # of the evaluated architectures that use it here


@dataclass
class Choices:
    """What a sequence of position questions produced."""

    proposal: Proposal
    best_mean: int = 0  # choices of the tried value with the best mean accuracy (how much the statistics led)
    questions: int = 0


def options_text(values: list[Listed]) -> str:
    """The options of one position in the space's order (the task prompt says what each one is: naming them
    again would make every question several times longer, and a question's tokens are its cost)."""
    return ", ".join(v.label for v in values)


def results_text(values: list[Listed]) -> str:
    """What each option of one position gave so far: mean accuracy and how many evaluated, or untried."""
    return ", ".join(f"{v.label} {mean(v.accuracies):.2f} ({len(v.accuracies)}x)" if v.accuracies
                     else f"{v.label} untried" for v in values)


@dataclass(frozen=True)
class Incumbent:
    """The best architecture so far, as the questions name it."""

    arch: tuple[int, ...]
    accuracy: str  # as the best results show it
    answer_name: str  # what the questions call an architecture


def incumbent(ctx: TrialContext, answer_name: str | None = None) -> Incumbent | None:
    """The architecture the best results list first (highest searched accuracy, first found), or None before
    any result."""
    best = ctx.best()
    if best is None or not best.arch:
        return None
    return Incumbent(tuple(best.arch or ()), round_half_up(float(best.accuracy or 0), 2),
                     answer_name or ctx.view.answer_name)


def incumbent_text(ctx: TrialContext, best: Incumbent | None, position: int,
                   names: dict[int, str] | None = None) -> str:
    """`` The best <answer> so far (<acc>%) has <option> here.`` for model-facing ``position``, or ""."""
    if best is None:
        return ""
    value = best.arch[ctx.view.real_position(position)]
    label = names[value] if names else next(short(lab) for lab, v in ctx.view.options(position) if v == value)
    return f" The best {best.answer_name} so far ({best.accuracy}%) has {label} here."


def keep_question(ctx: TrialContext, best: Incumbent, position: int, values: list[Listed],
                  results_in_question: bool) -> tuple[str, list[Listed]] | None:
    """The question that offers ``keep`` (the best architecture's option at ``position``) beside the other
    options, and the options as it lists them (``keep`` first); None where the best's option is not open
    (every architecture it would complete has been evaluated)."""
    value = best.arch[ctx.view.real_position(position)]
    kept = next((v for v in values if v.value == value), None)
    if kept is None:
        return None
    others = [v for v in values if v is not kept]
    results = f" What its options gave so far: {results_text(values)}." if results_in_question else ""
    question = render("assisted/position_question_keep", position=ctx.view.position_names[position],
                      answer_name=best.answer_name, accuracy=best.accuracy, current=kept.label, results=results,
                      others=", ".join(v.label for v in others))
    return question, [Listed(KEEP, kept.value, kept.accuracies), *others]


def listed_values(ctx: TrialContext, table: list[list[tuple[str, list[float]]]], position: int,
                  allowed: set[int] | None = None, names: dict[int, str] | None = None) -> list[Listed]:
    """Model-facing ``position``'s options (those in ``allowed``, or all) with their results so far, from
    ``table`` (:func:`value_results`, computed once per iteration); labelled by ``names`` where given."""
    return [Listed(names[value] if names else short(label), value, tuple(accs))
            for (label, accs), (_, value) in zip(table[position], ctx.view.options(position), strict=True)
            if allowed is None or value in allowed]


def statistics_block(ctx: TrialContext, names: dict[int, str] | None = None) -> str:
    """Every position's results by option, for the intro."""
    table = value_results(ctx)
    lines = [f"{name}: {results_text(listed_values(ctx, table, j, names=names))}"
             for j, name in enumerate(ctx.view.position_names)]
    return render("assisted/position_statistics", statistics="\n".join(lines))


def best_mean(values: list[Listed]) -> Listed | None:
    tried = [v for v in values if v.accuracies]
    return max(tried, key=lambda v: mean(v.accuracies)) if tried else None


def answer_schema(labels: list[str]) -> dict[str, Any]:
    """One of ``labels``: as integers where they all are (a digit is what a model writes first), else strings."""
    if all(label.isdigit() for label in labels):
        return {"type": "integer", "enum": [int(label) for label in labels]}
    return {"type": "string", "enum": labels}


def open_values(ctx: TrialContext, chosen: dict[int, int], position: int) -> set[int]:
    """Real values allowed at model-facing ``position`` after ``chosen`` (real position -> value): those
    for which some completion of the remaining positions has not been evaluated."""
    view = ctx.view
    later = range(position + 1, len(view.position_names))
    completions = prod(len(view.options(k)) for k in later)
    real = view.real_position(position)
    evaluated = {tuple(it.arch) for it in ctx.evaluated() if it.arch}
    allowed = set()
    for _, value in view.options(position):
        fixed = {**chosen, real: value}
        used = sum(1 for arch in evaluated if all(arch[p] == v for p, v in fixed.items()))
        if used < completions:
            allowed.add(value)
    return allowed


def read_choice(content: str, labels: list[str]) -> str | None:
    """The label a reply names: a JSON string or number, or the first listed label in free text."""
    text = content.strip()
    try:
        decoded = json.loads(text)
        if isinstance(decoded, (str, int)) and str(decoded) in labels:
            return str(decoded)
    except ValueError:
        pass
    for token in text.replace(",", " ").replace('"', " ").split():
        if token.strip(".[]()") in labels:
            return token.strip(".[]()")
    return None


class Ask(Protocol):
    """How a question reaches the model: :meth:`TrialContext.ask`, or the agent's model through its middleware."""

    async def __call__(self, messages: list[dict[str, Any]], *, answer_schema: dict[str, Any] | None,
                       temperature: float, max_tokens: int, purpose: str) -> dict[str, Any]: ...


async def ask_by_position(ctx: TrialContext, intro: str, system: str, *, temperature: float,
                          structured: bool, results_in_question: bool = False, ask: Ask | None = None,
                          names: dict[int, str] | None = None, name_incumbent: bool = False,
                          keep_or_change: bool = False, answer_name: str | None = None) -> Choices:
    """Ask for each model-facing position in turn; assemble the real architecture from the answers.

    ``intro`` (the task, the best results and, unless ``results_in_question``, the per-option statistics)
    opens every question, so the served prompt cache holds it once per iteration and each question costs
    its few new tokens. With ``results_in_question`` each question lists its own position's results.
    ``ask`` sends one question (default: the trial context's journaled call). ``names``: write each option
    by its name (``options_by_name``) instead of its id. ``name_incumbent``: each question also names the
    option the best architecture so far has at its position; ``keep_or_change``: once :data:`KEEP_AFTER`
    architectures have results, each question offers ``keep`` (that option) beside the others
    (``answer_name``: what the questions call an architecture)."""
    view = ctx.view
    ask_model: Ask = ask if ask is not None else ctx.ask
    table = value_results(ctx)  # the results do not change while one architecture is being chosen
    best = incumbent(ctx, answer_name) if name_incumbent or keep_or_change else None
    offer_keep = keep_or_change and len({tuple(it.arch or ()) for it in ctx.evaluated()}) >= KEEP_AFTER
    chosen: dict[int, int] = {}
    result = Choices(proposal=Proposal())
    convo: list[dict[str, Any]] = []
    for j, name in enumerate(view.position_names):
        values = listed_values(ctx, table, j, open_values(ctx, chosen, j), names)
        # Rows of "untried" in the first iteration too: measured, asking the first iteration plainly
        # instead made NAS-Bench-201 worse (README, "Small models").
        keep = keep_question(ctx, best, j, values, results_in_question) if offer_keep and best else None
        if keep is not None:
            question, values = keep
        elif results_in_question:
            question = render("assisted/position_question_results", position=name, results=results_text(values),
                              incumbent=incumbent_text(ctx, best if name_incumbent else None, j, names))
        else:
            question = render("assisted/position_question", position=name, values=options_text(values),
                              incumbent=incumbent_text(ctx, best if name_incumbent else None, j, names))
        labels = [v.label for v in values]
        # Each question stands alone after the same intro: shown its own earlier answers, a small model
        # continues them as a sequence (0, 1, 2, ...) instead of weighing the options.
        convo = [{"role": "system", "content": system}, {"role": "user", "content": f"{intro}\n\n{question}"}]
        label = None
        for attempt in range(1, ctx.config.max_attempts + 1):
            try:
                reply = await ask_model(convo, answer_schema=answer_schema(labels) if structured else None,
                                        temperature=temperature, max_tokens=ANSWER_TOKENS, purpose="position")
            except EffectFailed as exc:
                result.proposal = Proposal(failed=f"LLM call failed: {exc.message}", cause="llm",
                                           attempts=result.questions + 1, messages=convo, llm_failure=exc)
                return result
            result.questions += 1
            content = str(reply.get("content") or "")
            label = read_choice(content, labels)
            convo.append({"role": "assistant", "content": content})
            if label is not None:
                break
            message = render("assisted/position_invalid", position=name, values=", ".join(labels))
            await ctx.reject(kind="invalid", answer=content, message=message, attempt=attempt)
            convo.append({"role": "user", "content": message})
        if label is None:
            result.proposal = Proposal(failed=f"no valid value for {name} in {ctx.config.max_attempts} attempts",
                                       cause="no_valid_answer", attempts=result.questions, messages=convo)
            return result
        pick = next(v for v in values if v.label == label)
        most = best_mean(values)
        result.best_mean += most is not None and pick.value == most.value
        chosen[view.real_position(j)] = pick.value
    arch = tuple(chosen[p] for p in range(len(chosen)))
    result.proposal = Proposal(arch=arch, attempts=result.questions, reply=view.show(arch), messages=convo)
    return result
