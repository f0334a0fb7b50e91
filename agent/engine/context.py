"""The trial context: what every strategy (GENIUS or baseline) sees — ``ask``, ``evaluate``, ``history``, ``rng``.

Every effect goes through the trial's journal, and the trial's own state is a fold over the events it
records, so what a strategy knows is exactly what resume and replay will reconstruct.
"""

from __future__ import annotations

import os
import random
from collections.abc import Awaitable, Callable, Mapping
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Protocol

import numpy as np

from agent.engine.config import RunConfig
from agent.engine.views import ModelView, make_view
from agent.llm.usage import check_budget, price
from storage.errors import GeniusError
from storage.events import StoredEvent
from storage.fold import IterationState, RunState, TrialState, apply_event
from storage.journal import EffectFailed, TrialJournal
from storage.payloads import AttemptRejected, FailureCause, IterationCompleted, TrialFinished, TrialStarted
from tools.evaluation import Arch, Evaluation
from tools.spaces.base import SearchSpace
from tools.stopping import TrainingCancelled


class ChatClient(Protocol):
    supports_json_schema: bool
    supports_tools: bool

    async def chat(self, messages: list[dict[str, Any]], *, trial: int, temperature: float = 0.0,
                   answer_schema: dict[str, Any] | None = None, tools: list[dict[str, Any]] | None = None,
                   seed: int | None = None, max_tokens: int | None = None, call_index: int | None = None) -> Any: ...


class Evaluator(Protocol):
    """Evaluates an architecture; returns the :class:`Evaluation` as JSON (plus how it was obtained)."""

    name: str

    async def evaluate(self, space: SearchSpace, arch: Arch, *, seed: int) -> dict[str, Any]: ...

    async def close(self) -> None:
        """Release what it holds (a training still running stops at its next step)."""
        ...


class EvaluationFailed(GeniusError):
    """An evaluation raised (out of memory, a NaN, a worker that kept dying): recorded as its result."""


class BudgetSpent(Exception):
    """Raised by :meth:`TrialContext.evaluate` when the trial has no evaluations left."""


def round_half_up(value: float, digits: int) -> str:
    """Round as the authors' feedback does (``Decimal`` ROUND_HALF_UP), as text."""
    q = Decimal(1).scaleb(-digits)
    return str(Decimal(repr(value)).quantize(q, rounding=ROUND_HALF_UP))


Listener = Callable[[int, StoredEvent, TrialState], None]
# Reads evaluations beyond this trial's from the log: scope ("run" | "space") -> [{"run", "trial", "arch",
# "accuracy"}]. What it returns depends on other trials' progress, so it is only called inside an effect.
HistorySource = Callable[[str], Awaitable[list[dict[str, Any]]]]


class TrialContext:
    """One trial's view of the world. Create it per trial; call :meth:`start` first."""

    def __init__(self, *, config: RunConfig, space: SearchSpace, journal: TrialJournal, run_id: str,
                 llm: ChatClient | None, evaluator: Evaluator, listener: Listener | None = None,
                 history_source: HistorySource | None = None, spent: RunState | None = None) -> None:
        self.config = config
        self.space = space
        self.journal = journal
        self.trial = journal.trial
        self.run_id = run_id
        self.llm = llm
        self.evaluator = evaluator
        self._listener = listener
        self._history_source = history_source
        self._run_state = RunState(run_id=run_id)
        # The whole run as its log holds it, every trial and execution (the orchestrator keeps it folded): what
        # the budget is checked against.
        self._spent = spent if spent is not None else self._run_state
        self.seed = 0
        self.rng = random.Random(0)
        self.temperature = config.temperature
        self._proposal_notes: dict[str, Any] = {}
        self.view: ModelView = make_view(space, obfuscate=config.obfuscate, seed=config.obfuscation_seed)

    # ----------------------------------------------------------------------------------------- constraints
    def constraint_violation(self, arch: Arch) -> str | None:
        """Why ``arch`` is over the run's --max-params/--max-flops limit, or None when it is feasible."""
        c = self.config
        if c.max_params is None and c.max_flops is None:
            return None
        record = self.space.lookup(arch)
        shown = self.view.show(arch)
        if c.max_params is not None and record.params is not None and record.params > c.max_params:
            return (f"{shown} has {record.params:,} parameters, over the limit of {c.max_params:,}; "
                    f"propose a smaller {self.view.answer_name}")
        if c.max_flops is not None and record.flops is not None and record.flops > c.max_flops:
            return (f"{shown} needs {record.flops:,} FLOPs, over the limit of {c.max_flops:,}; "
                    f"propose a smaller {self.view.answer_name}")
        return None

    def feasible(self, arch: Arch) -> bool:
        return self.constraint_violation(arch) is None

    def feasible_rank(self, evaluation: Evaluation) -> int | None:
        """Strict rank of ``evaluation`` among the architectures within the run's limits (None without limits)."""
        mask = feasible_mask(self.space, self.config.max_params, self.config.max_flops)
        if mask is None:
            return None
        return 1 + int(((self.space.table().test_accuracy > evaluation.test_accuracy) & mask).sum())

    def constraint_note(self) -> str:
        """The sentence the prompt adds when the run has a size limit (empty otherwise)."""
        c = self.config
        limits = []
        if c.max_params is not None:
            limits.append(f"at most {c.max_params:,} parameters")
        if c.max_flops is not None:
            limits.append(f"at most {c.max_flops:,} FLOPs")
        if not limits:
            return ""
        return ("Constraint: the model must have " + " and ".join(limits) +
                ". Proposals over the limit are refused and not evaluated.")

    # ---------------------------------------------------------------------------------------------- state
    @property
    def state(self) -> TrialState:
        """This trial's state: a fold over the events the trial recorded."""
        return self._run_state.trial(self.trial)

    @property
    def iterations_done(self) -> int:
        return len(self.state.iterations)

    @property
    def budget_left(self) -> int:
        return self.config.iterations - self.iterations_done

    def evaluated(self) -> list[IterationState]:
        return self.state.evaluated()

    def best(self) -> IterationState | None:
        return self.state.best()

    def previous(self, arch: Arch) -> IterationState | None:
        """The first iteration of this trial that evaluated ``arch``, if any."""
        for it in self.state.evaluated():
            if it.arch is not None and tuple(it.arch) == tuple(arch):
                return it
        return None

    async def _record(self, type_: str, payload: Mapping[str, Any]) -> None:
        # The trial's state folds the event as the log holds it (on a resume, the recorded one).
        self._apply(await self.journal.record(type_, payload))

    async def record(self, type_: str, payload: Mapping[str, Any]) -> None:
        """Record a fact of this trial (journaled: idempotent on resume, compared on replay)."""
        await self._record(type_, payload)

    def _apply(self, event: StoredEvent) -> None:
        apply_event(self._run_state, event)
        if self._listener is not None:
            self._listener(self.trial, event, self.state)

    # --------------------------------------------------------------------------------------- lifecycle
    async def start(self) -> None:
        """Draw the trial's seed (a journaled effect, so resume and replay get the same one) and record the start."""
        base = self.config.seed

        async def draw() -> int:
            if base is not None:
                return int(random.Random(f"{base}:{self.trial}").getrandbits(31))
            return int.from_bytes(os.urandom(4), "big") >> 1

        self.seed = int(await self.journal.effect("seed", {"base_seed": base}, draw))
        self.rng = random.Random(self.seed)
        await self._record("trial.started", TrialStarted(seed=self.seed, temperature=self.temperature))

    async def finish(self, status: str = "finished", reason: str = "") -> None:
        await self._record("trial.finished", TrialFinished(status=status, reason=reason))

    # --------------------------------------------------------------------------------------------- effects
    async def ask(self, messages: list[dict[str, Any]], *, answer_schema: dict[str, Any] | None = None,
                  tools: list[dict[str, Any]] | None = None, temperature: float | None = None,
                  max_tokens: int | None = None, purpose: str = "propose", seed_offset: int = 0) -> dict[str, Any]:
        """One LLM call, journaled. Returns the reply as JSON (``content``, ``tool_calls``, token counts).

        The sampling seed is the trial's seed plus the index of the call within the trial, so a re-asked
        question does not sample the same answer again, and a resumed trial sends the same seeds.
        ``seed_offset`` separates calls that must not sample alike within one step (several candidates).
        """
        temp = self.temperature if temperature is None else temperature
        call_index, seed = self.next_call(seed_offset)
        request: dict[str, Any] = {"messages": messages, "temperature": temp, "purpose": purpose, "seed": seed}
        if answer_schema is not None:
            request["answer_schema"] = answer_schema
        if tools is not None:
            request["tools"] = tools
        if max_tokens is not None:
            request["max_tokens"] = max_tokens
        llm = self.llm

        async def call() -> dict[str, Any]:
            if llm is None:  # replay serves every call from the log; reaching here is a bug
                raise RuntimeError("no language model in this execution")
            reply = await llm.chat(messages, trial=self.trial, temperature=temp, answer_schema=answer_schema,
                                   tools=tools, seed=seed, max_tokens=max_tokens, call_index=call_index)
            return self.priced(reply.to_json())

        return await self.llm_effect(request, call)

    def next_call(self, seed_offset: int = 0) -> tuple[int, int]:
        """``(call_index, seed)`` of this trial's next LLM call: the index counts every call of the trial
        (recorded ones included), so a resumed trial sends the seeds the uninterrupted one sent."""
        call_index = self.state.llm_calls + self.state.failed_llm_calls
        return call_index, self.seed + 7919 * call_index + seed_offset

    def priced(self, reply: dict[str, Any]) -> dict[str, Any]:
        """``reply`` (an LLMReply as JSON) with its cost: priced when the call is recorded, so the fold only
        adds up what the log says."""
        out = dict(reply)
        out["cost"] = price(int(out.get("prompt_tokens") or 0), int(out.get("completion_tokens") or 0),
                            self.config.price_prompt_per_1k or 0.0, self.config.price_completion_per_1k or 0.0)
        return out

    async def llm_effect(self, request: dict[str, Any],
                         perform: Callable[[], Awaitable[dict[str, Any]]]) -> dict[str, Any]:
        """One journaled LLM call: ``perform`` (which returns the priced reply as JSON) runs only when the log
        does not already hold the result of ``request`` at this step, and only while the run's budget lasts
        (BudgetExhausted, not recorded: a resume with a larger budget makes the call)."""
        config, spent = self.config, self._spent

        async def within_budget() -> dict[str, Any]:
            check_budget(cost=spent.cost, tokens=spent.prompt_tokens + spent.completion_tokens,
                         max_cost=config.max_cost, max_tokens=config.max_tokens)
            return await perform()

        try:
            result = await self.journal.effect("llm", request, within_budget)
        except EffectFailed:
            assert self.journal.last_completed is not None
            self._apply(self.journal.last_completed)  # a recorded failure counts in the trial's calls too
            raise
        assert self.journal.last_completed is not None
        self._apply(self.journal.last_completed)  # the completed call as the log holds it
        return dict(result)

    async def wider_history(self, scope: str) -> list[dict[str, Any]]:
        """Evaluations recorded in the log beyond this trial (``scope`` "run" or "space"), as a journaled
        effect: other trials move on concurrently, so a resume or replay must get what this call saw."""
        source = self._history_source

        async def read() -> list[dict[str, Any]]:
            if source is None:
                raise RuntimeError("no history source in this execution")
            return await source(scope)

        return list(await self.journal.effect("history", {"scope": scope}, read))

    def note_proposal(self, extra: dict[str, Any]) -> None:
        """How the next architecture was proposed (e.g. position questions asked), recorded with the
        iteration that evaluates it. Re-derived on every execution from journaled calls, so not state."""
        self._proposal_notes = dict(extra)

    async def evaluate(self, arch: Arch) -> tuple[Evaluation, bool]:
        """Evaluate ``arch`` (one unit of budget). A repeat within the trial is answered from the log."""
        prior = self.previous(arch)
        if prior is not None:
            return _evaluation_of(prior), True
        if self.budget_left <= 0:
            raise BudgetSpent(f"trial {self.trial} has used its {self.config.iterations} evaluations")
        space, evaluator, seed = self.space, self.evaluator, self.seed

        async def run() -> dict[str, Any]:
            try:
                return await evaluator.evaluate(space, arch, seed=seed)
            except (GeniusError, TrainingCancelled):
                raise  # ours (a user's mistake, a storage error) or a stop: never the candidate's result
            except Exception as exc:  # the candidate's own failure: recorded as the evaluation's result
                raise EvaluationFailed(f"{type(exc).__name__}: {exc}") from exc

        request = {"arch": list(arch), "key": space.key(arch), "evaluator": evaluator.name}
        result = await self.journal.effect("evaluate", request, run)
        return Evaluation.from_json(result), False

    # ----------------------------------------------------------------------------------------------- facts
    async def complete_iteration(self, arch: Arch, evaluation: Evaluation, *, repeat: bool, attempts: int = 1,
                                 extra: dict[str, Any] | None = None) -> None:
        payload = IterationCompleted(iteration=self.iterations_done, status="ok", arch=list(arch),
                                     key=self.space.key(arch), evaluation=evaluation.to_json(), repeat=repeat,
                                     attempts=attempts)
        rank = self.feasible_rank(evaluation)
        if rank is not None:
            payload["feasible_rank"] = rank
        notes, self._proposal_notes = self._proposal_notes, {}
        # the strategy's notes of how the architecture was proposed ride along; the fold ignores them
        await self._record("iteration.completed", {**payload, **notes, **(extra or {})})

    async def fail_iteration(self, reason: str, *, cause: FailureCause, attempts: int, status: str = "failed",
                             arch: Arch | None = None) -> None:
        """Record an iteration without a result (no usable answer, or the evaluation of ``arch`` failed):
        ``cause`` says which, for programs; ``reason`` says it in words. A ``stopped`` iteration has no cause."""
        payload = IterationCompleted(iteration=self.iterations_done, status=status,
                                     arch=list(arch) if arch is not None else None, attempts=attempts, reason=reason)
        if status == "failed":
            payload["cause"] = cause
        await self._record("iteration.completed", payload)

    async def evaluate_and_record(self, arch: Arch, *, attempts: int = 1,
                                  extra: dict[str, Any] | None = None) -> tuple[Evaluation, bool] | None:
        """Evaluate ``arch`` and record the iteration: ``(evaluation, repeat)``, or None when the evaluation
        failed (a training that ran out of memory, diverged, a worker that kept dying). A failure is recorded
        with its error and the iteration marked failed; it costs the evaluation, the trial goes on, and resume
        and replay return the recorded failure instead of trying again."""
        try:
            evaluation, repeat = await self.evaluate(arch)
        except EffectFailed as exc:
            # EvaluationFailed's message already names the original error type
            why = exc.message if exc.error_type == EvaluationFailed.__name__ else f"{exc.error_type}: {exc.message}"
            await self.fail_iteration(f"evaluation failed: {why}", cause="evaluation", attempts=attempts, arch=arch)
            return None
        await self.complete_iteration(arch, evaluation, repeat=repeat, attempts=attempts, extra=extra)
        return evaluation, repeat

    async def reject(self, *, kind: str, answer: str, message: str, attempt: int) -> None:
        """Record that an answer could not be used (invalid, a refused repeat, over a constraint)."""
        await self._record("attempt.rejected", AttemptRejected(
            iteration=self.iterations_done, attempt=attempt, kind=kind, answer=answer[:2000], message=message))


def feasible_mask(space: SearchSpace, max_params: int | None, max_flops: int | None) -> Any:
    """Boolean array over the space's index: which architectures are within the limits (None: no limits)."""
    if max_params is None and max_flops is None:
        return None
    t = space.table()
    mask = np.ones(space.size, dtype=bool)
    if max_params is not None and t.params is not None:
        mask &= t.params <= max_params
    if max_flops is not None and t.flops is not None:
        mask &= t.flops <= max_flops
    return mask


def _evaluation_of(it: IterationState) -> Evaluation:
    return Evaluation(accuracy=float(it.accuracy or 0.0), test_accuracy=float(it.test_accuracy or 0.0),
                      rank=it.rank, paper_rank=it.paper_rank, params=it.params, flops=it.flops)
