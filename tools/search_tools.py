"""The agent's three tools: benchmark lookup, training and history, as LangChain tools over one trial.

* ``lookup_benchmark``: the benchmark table's accuracy (and params/FLOPs where the table has them) for an
  architecture; costs one evaluation.
* ``train_architecture``: trains the architecture for real (the run's trainer and executor: this machine's
  GPU/CPU, or a Ray cluster) and reports the accuracy with how it was measured; costs one evaluation.
  Offered instead of the lookup when the run trains (``--evaluator train``).
* ``query_history``: what this trial has evaluated, best first, with per-position statistics; free. A run
  may widen it to every trial of the run or every run on the space in the log (``--history-scope``).

The argument schema of an evaluating tool is the space's own answer schema (fixed length, the allowed values
per position), so a model that calls tools natively is told exactly what is allowed, and a model whose
endpoint constrains the reply to the schema cannot write an invalid call. The tools enforce the rules, not
the model: the budget, the size limits (refused with the reason, at no cost) and repeats (refused with the
recorded result, at no cost, unless the run counts them as the paper does).

What a tool needs from the trial is the :class:`SearchSession` protocol; the engine (``agent/``) provides it,
so this module imports nothing above ``tools/`` and ``storage/``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Protocol

from langchain_core.tools import BaseTool, StructuredTool

from storage.fold import IterationState
from tools.evaluation import Arch, Evaluation

LOOKUP = "lookup_benchmark"
TRAIN = "train_architecture"
HISTORY = "query_history"


class Parsed(Protocol):
    """A parsed answer: the architecture, or why there is none."""

    @property
    def arch(self) -> Arch | None: ...

    @property
    def error(self) -> str | None: ...


class SearchSession(Protocol):
    """One trial as the tools see it (the engine's trial context satisfies it)."""

    @property
    def budget_left(self) -> int: ...

    def parse(self, text: str) -> Parsed: ...

    def show(self, arch: Arch) -> str: ...

    def answer_schema(self) -> dict[str, Any]: ...

    def constraint_violation(self, arch: Arch) -> str | None: ...

    def previous(self, arch: Arch) -> IterationState | None: ...

    async def evaluate_and_record(self, arch: Arch) -> tuple[Evaluation, bool] | None:
        """Evaluate and record the iteration: (evaluation, repeat), or None when the evaluation failed (recorded
        as a failed iteration, which used the evaluation)."""
        ...

    def last_failure(self) -> str: ...

    async def reject(self, *, kind: str, answer: str, message: str, attempt: int) -> None: ...

    async def history_text(self) -> str: ...


@dataclass(frozen=True)
class ToolRules:
    """``refuse_repeats``: an architecture already evaluated is refused with its result at no cost (else it
    counts as an evaluation, as in the paper). ``space_size``: shown beside ranks. ``train``: the run trains
    (``--evaluator train``): the training tool is offered instead of the lookup; ``train_note`` says how
    (epochs, dataset)."""

    refuse_repeats: bool = True
    space_size: int = 0
    train: bool = False
    train_note: str = ""


def _percent(value: float) -> str:
    return f"{value:.2f}%"


def _measured(evaluation: Evaluation) -> str:
    """How a trained evaluation was measured, in words."""
    parts = []
    if evaluation.epochs is not None:
        parts.append(f"{evaluation.epochs} epochs")
    if evaluation.dataset:
        parts.append(f"on {evaluation.dataset}")
    if evaluation.device:
        parts.append(f"on {evaluation.device}")
    return ("trained " + " ".join(parts)) if parts else "trained"


async def evaluate_tool_call(session: SearchSession, rules: ToolRules, architecture: Any) -> str:
    """What an evaluating tool does with one call: validate, refuse or evaluate, and say what happened."""
    answer = json.dumps(architecture)
    if session.budget_left <= 0:
        return "The evaluation budget is spent; no more evaluations are possible."
    parsed = session.parse(answer)
    if parsed.arch is None:
        message = f"Invalid architecture, not evaluated (no cost): {parsed.error}"
        await session.reject(kind="invalid", answer=answer, message=message, attempt=1)
        return message
    arch = parsed.arch
    violation = session.constraint_violation(arch)
    if violation is not None:
        message = f"Refused, not evaluated (no cost): {violation}"
        await session.reject(kind="constraint", answer=answer, message=message, attempt=1)
        return message
    prior = session.previous(arch)
    if prior is not None and rules.refuse_repeats:
        rank = f", rank {prior.rank} of {rules.space_size:,}" if prior.rank and rules.space_size else ""
        message = (f"{session.show(arch)} was already evaluated: accuracy {_percent(float(prior.accuracy or 0))}"
                   f"{rank}. Not evaluated again (no cost); propose an architecture not evaluated yet. "
                   f"Evaluations left: {session.budget_left}.")
        await session.reject(kind="repeat", answer=answer, message=message, attempt=1)
        return message
    done = await session.evaluate_and_record(arch)
    if done is None:
        return (f"The evaluation of {session.show(arch)} failed ({session.last_failure()}); it used one evaluation. "
                f"Propose another architecture. Evaluations left: {session.budget_left}.")
    evaluation, repeat = done
    facts = []
    if evaluation.params is not None:
        facts.append(f"{evaluation.params:,} parameters")
    if evaluation.flops is not None:
        facts.append(f"{evaluation.flops:,} FLOPs")
    how = _measured(evaluation) if rules.train else "benchmark table"
    extra = f", {', '.join(facts)}" if facts else ""
    note = " (already evaluated earlier; this still used one evaluation)" if repeat else ""
    return (f"{session.show(arch)}: accuracy {_percent(evaluation.accuracy)} ({how}{extra}){note}. "
            f"Evaluations left: {session.budget_left}.")


def build_search_tools(session: SearchSession, rules: ToolRules) -> list[BaseTool]:
    """The tools for one trial: lookup (or training, when the run trains) and history."""
    schema = {
        "type": "object",
        "properties": {"architecture": {**session.answer_schema(),
                                        "description": "one value per searchable position, in order"}},
        "required": ["architecture"],
        "additionalProperties": False,
    }

    async def evaluate(architecture: Any) -> str:
        return await evaluate_tool_call(session, rules, architecture)

    async def history() -> str:
        return await session.history_text()

    if rules.train:
        evaluating = StructuredTool.from_function(
            coroutine=evaluate, name=TRAIN, args_schema=schema,
            description=("Train one architecture for real and test it; returns its accuracy and how it was "
                         f"measured{f' ({rules.train_note})' if rules.train_note else ''}. "
                         "Costs one evaluation of the budget."))
    else:
        evaluating = StructuredTool.from_function(
            coroutine=evaluate, name=LOOKUP, args_schema=schema,
            description=("Look up one architecture in the benchmark table: its accuracy (and parameters and "
                         "FLOPs where the table has them). Costs one evaluation of the budget."))
    return [
        evaluating,
        StructuredTool.from_function(
            coroutine=history, name=HISTORY,
            args_schema={"type": "object", "properties": {}, "additionalProperties": False},
            description=("What this trial has evaluated so far, best first, with each position's values and the "
                         "mean accuracy they gave, and the evaluations left. Free.")),
    ]
