"""The run state is a fold over the events; nothing else holds state.

:func:`fold_run` is pure: the same events always give the same state. Resume, replay, the history tool,
``runs`` and ``show`` all read runs through it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, cast

from storage.events import StoredEvent
from storage.payloads import (
    AttemptRejected,
    EffectCompleted,
    EffectError,
    FailureCause,
    IterationCompleted,
    LLMUnreached,
    RunCreated,
    RunFinished,
    RunInterrupted,
    RunReconfigured,
    RunStarted,
    TrialFinished,
    TrialStarted,
)
from storage.retries import superseded_seqs


@dataclass
class IterationState:
    iteration: int
    status: str  # "ok" | "failed" | "stopped"
    arch: list[int] | None = None
    key: str | None = None
    accuracy: float | None = None
    test_accuracy: float | None = None
    rank: int | None = None
    paper_rank: int | None = None
    feasible_rank: int | None = None  # rank among the architectures within the run's size limits
    params: int | None = None
    flops: int | None = None
    repeat: bool = False
    attempts: int = 1
    reason: str = ""
    cause: FailureCause | None = None  # why a failed iteration has no result


@dataclass
class TrialState:
    trial: int
    status: str = "running"  # running | finished | failed | stopped | interrupted
    seed: int | None = None
    temperature: float | None = None
    iterations: list[IterationState] = field(default_factory=list)
    rejected: int = 0
    rejections: dict[str, int] = field(default_factory=dict)
    reason: str = ""
    llm_calls: int = 0
    failed_llm_calls: int = 0  # calls whose recorded result is a failure
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def evaluated(self) -> list[IterationState]:
        return [it for it in self.iterations if it.status == "ok" and it.accuracy is not None]

    def best(self) -> IterationState | None:
        """The iteration with the highest searched accuracy (first one on ties)."""
        best: IterationState | None = None
        for it in self.evaluated():
            if best is None or (it.accuracy or 0.0) > (best.accuracy or 0.0):
                best = it
        return best

    def repeat_fraction(self) -> float:
        done = self.evaluated()
        return sum(it.repeat for it in done) / len(done) if done else 0.0


@dataclass
class RunState:
    run_id: str
    config: dict[str, Any] = field(default_factory=dict)
    status: str = "created"  # created | running | interrupted | finished | failed
    created_ts: float | None = None
    finished_ts: float | None = None
    executions: int = 0
    trials: dict[int, TrialState] = field(default_factory=dict)
    calls: int = 0
    failed_calls: int = 0
    retries: int = 0
    # recorded at creation: the space's size and optimum, so showing a run needs no table (empty: older logs)
    space_facts: dict[str, Any] = field(default_factory=dict)
    code_versions: list[str] = field(default_factory=list)  # of every execution, in order (resumes included)
    failed_requests: int = 0  # requests the server answered with an error (or never answered), retried or not
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float = 0.0
    evaluations: int = 0
    errors: list[str] = field(default_factory=list)
    interrupt_reason: str = ""
    last_pid: int | None = None
    last_host: str | None = None
    retried: int = 0  # how often its failed evaluations were retried (resume --retry-failed)

    def trial(self, n: int) -> TrialState:
        t = self.trials.get(n)
        if t is None:
            t = self.trials[n] = TrialState(trial=n)
        return t

    def usage(self) -> dict[str, Any]:
        return {"calls": self.calls, "prompt_tokens": self.prompt_tokens,
                "completion_tokens": self.completion_tokens, "failed_calls": self.failed_calls,
                "retries": self.retries, "cost": round(self.cost, 6)}

    def best(self) -> IterationState | None:
        best: IterationState | None = None
        for t in self.trials.values():
            b = t.best()
            if b is not None and (best is None or (b.accuracy or 0.0) > (best.accuracy or 0.0)):
                best = b
        return best


def _apply_llm_call(state: RunState, e: StoredEvent, trial: TrialState | None) -> None:
    p = cast(EffectCompleted, e.payload)
    ok = p.get("ok")
    if isinstance(ok, dict):
        state.calls += 1
        pt, ct = int(ok.get("prompt_tokens") or 0), int(ok.get("completion_tokens") or 0)
        state.prompt_tokens += pt
        state.completion_tokens += ct
        state.cost += float(ok.get("cost") or 0.0)
        state.retries += len(ok.get("attempts") or [])
        state.failed_requests += len(ok.get("attempts") or [])
        if trial is not None:
            trial.llm_calls += 1
            trial.prompt_tokens += pt
            trial.completion_tokens += ct
    else:
        state.failed_calls += 1
        if trial is not None:
            trial.failed_llm_calls += 1
        err = p.get("error") or EffectError(type="", message="")
        # every attempt of a call that failed for good failed at the server; all but the first were retries
        state.retries += max(0, len(err.get("attempts") or []) - 1)
        state.failed_requests += len(err.get("attempts") or [])
        state.errors.append(f"trial {e.trial}: {err.get('type')}: {err.get('message')}")


def apply_event(state: RunState, e: StoredEvent, *, superseded: bool = False) -> None:
    """Apply one event to a run state (the step of the fold). A ``superseded`` event (one a retry of failed
    evaluations replaced, see :mod:`storage.retries`) counts only in what the run spent: its calls and tokens.

    Payloads are read through their types in :mod:`storage.payloads` (upcast to the current version on read);
    ``.get`` with a default is kept for keys that older versions lacked or that a damaged log may lack."""
    t = e.type
    if superseded:
        if t == "effect.completed" and e.payload.get("kind") == "llm":
            _apply_llm_call(state, e, None)
        return
    if t == "effect.completed":
        done = cast(EffectCompleted, e.payload)
        kind = done.get("kind")  # required now; .get keeps a damaged log readable
        if kind == "llm":
            _apply_llm_call(state, e, state.trial(e.trial) if e.trial is not None else None)
        elif kind == "evaluate" and "ok" in done:
            state.evaluations += 1
    elif t == "iteration.completed":
        it = cast(IterationCompleted, e.payload)
        trial = state.trial(e.trial if e.trial is not None else -1)
        ev = it.get("evaluation") or {}
        trial.iterations.append(IterationState(
            iteration=int(it["iteration"]), status=str(it.get("status", "ok")), arch=it.get("arch"),
            key=it.get("key"), accuracy=ev.get("accuracy"), test_accuracy=ev.get("test_accuracy"),
            rank=ev.get("rank"), paper_rank=ev.get("paper_rank"), feasible_rank=it.get("feasible_rank"),
            params=ev.get("params"), flops=ev.get("flops"), repeat=bool(it.get("repeat", False)),
            attempts=int(it.get("attempts", 1)), reason=str(it.get("reason", "")), cause=it.get("cause")))
    elif t == "attempt.rejected":
        rejected = cast(AttemptRejected, e.payload)
        trial = state.trial(e.trial if e.trial is not None else -1)
        trial.rejected += 1
        why = str(rejected.get("kind", "invalid"))
        trial.rejections[why] = trial.rejections.get(why, 0) + 1
    elif t == "trial.started":
        started = cast(TrialStarted, e.payload)
        trial = state.trial(e.trial if e.trial is not None else -1)
        trial.status = "running"
        trial.seed = started.get("seed")
        trial.temperature = started.get("temperature")
    elif t == "trial.finished":
        finished = cast(TrialFinished, e.payload)
        trial = state.trial(e.trial if e.trial is not None else -1)
        trial.status = str(finished.get("status", "finished"))
        trial.reason = str(finished.get("reason", ""))
    elif t == "run.created":
        created = cast(RunCreated, e.payload)
        state.config = dict(created.get("config") or {})
        state.space_facts = dict(created.get("space") or {})
        state.created_ts = e.ts
        state.status = "created"
    elif t == "run.started":
        execution = cast(RunStarted, e.payload)
        state.executions += 1
        version = execution.get("code_version")
        if version and version not in state.code_versions:
            state.code_versions.append(str(version))
        state.status = "running"
        state.last_pid = execution.get("pid")
        state.last_host = execution.get("host")
        for trial in state.trials.values():
            if trial.status == "interrupted":
                trial.status = "running"
    elif t == "run.interrupted":
        state.status = "interrupted"
        state.interrupt_reason = str(cast(RunInterrupted, e.payload).get("reason", ""))
        for trial in state.trials.values():
            if trial.status == "running":
                trial.status = "interrupted"
    elif t == "llm.unreached":
        attempts = cast(LLMUnreached, e.payload).get("attempts") or []
        state.failed_requests += len(attempts)
        state.retries += max(0, len(attempts) - 1)
    elif t == "run.retried":
        state.retried += 1
    elif t == "run.reconfigured":
        state.config.update(dict(cast(RunReconfigured, e.payload).get("changes") or {}))
    elif t == "run.finished":
        state.status = str(cast(RunFinished, e.payload).get("status", "finished"))
        state.finished_ts = e.ts


def fold_run(run_id: str, events: Iterable[StoredEvent]) -> RunState:
    """Fold one run's events (in ``seq`` order) into its state."""
    state = RunState(run_id=run_id)
    events = list(events)
    gone = superseded_seqs(events)
    for e in events:
        if e.run_id == run_id:
            apply_event(state, e, superseded=e.seq in gone)
    return state


def fold_all(events: Iterable[StoredEvent]) -> dict[str, RunState]:
    """Fold a whole log into one state per run, in creation order."""
    states: dict[str, RunState] = {}
    events = list(events)
    gone = superseded_seqs(events)
    for e in events:
        s = states.get(e.run_id)
        if s is None:
            s = states[e.run_id] = RunState(run_id=e.run_id)
        apply_event(s, e, superseded=e.seq in gone)
    return states
