"""The shape of each event type's payload: one TypedDict per type, current version.

The writer builds payloads with these (mypy checks the keys), :class:`~storage.events.Event` refuses a payload
that lacks a required key of its type, and the fold reads them through the same types, so writer, fold and views
agree on one declaration. Older versions are brought to these shapes on read (``storage.events.UPCASTERS``);
keys a version added later are ``NotRequired`` where logs written before them must stay readable.
"""

# No ``from __future__ import annotations`` here: TypedDict finds NotRequired keys only in evaluated annotations
# (Python 3.11), and the required keys are what Event checks.
from collections.abc import Mapping
from typing import Any, Literal, NotRequired, TypedDict

# ---------------------------------------------------------------------------------------------------- run level


class Optimum(TypedDict):
    test_accuracy: float
    rank: int


class SpaceFacts(TypedDict):
    """What showing or replaying a run needs to know of its space (recorded so that neither needs the table)."""

    size: int
    optimum: NotRequired[Optimum]


class RunCreated(TypedDict):
    config: dict[str, Any]  # RunConfig.to_json(): the whole configuration, resolved
    space: NotRequired[SpaceFacts]  # absent in logs written before it was recorded


class RunStarted(TypedDict):
    pid: int
    host: str
    mode: Literal["live", "resume"]
    code_version: NotRequired[str]


class RunInterrupted(TypedDict):
    reason: str


class RunFinished(TypedDict):
    status: str


class RunReconfigured(TypedDict):
    changes: dict[str, Any]  # keys of orchestrator.RESUME_CHANGES


class RunRetried(TypedDict):
    trials: dict[str, int]  # trial (as text: a JSON key) -> the step it runs again from
    generation: int


class LLMUnreached(TypedDict):
    message: str
    attempts: list[dict[str, Any]]


# -------------------------------------------------------------------------------------------------- trial level


class TrialStarted(TypedDict):
    seed: int
    temperature: float


class TrialFinished(TypedDict):
    status: str  # finished | failed | stopped
    reason: str


class EffectRequested(TypedDict):
    kind: str  # llm | evaluate | seed | history
    request: Any


class EffectError(TypedDict):
    type: str
    message: str
    attempts: NotRequired[list[dict[str, Any]]]  # what the server saw of an LLM call that failed for good


class EffectCompleted(TypedDict):
    kind: str
    ok: NotRequired[Any]  # the result; exactly one of ok and error
    error: NotRequired[EffectError]


class AttemptRejected(TypedDict):
    iteration: int
    attempt: int
    kind: str  # invalid | repeat | constraint
    answer: str
    message: str


# Why an iteration has no result, as a value rather than a prefix of its reason.
FailureCause = Literal["llm", "evaluation", "no_valid_answer", "over_limits", "other"]


class IterationCompleted(TypedDict):
    """One search iteration. Strategies add notes of how the architecture was proposed (e.g. the position
    questions asked); those keys are theirs and the fold ignores them."""

    iteration: int
    status: str  # ok | failed | stopped
    arch: list[int] | None
    attempts: int
    key: NotRequired[str]
    evaluation: NotRequired[dict[str, Any]]  # Evaluation.to_json()
    repeat: NotRequired[bool]
    feasible_rank: NotRequired[int]
    reason: NotRequired[str]
    cause: NotRequired[FailureCause]  # failed iterations (version 2 on)


class ToolCalled(TypedDict):
    id: str
    name: str
    args: dict[str, Any]


class ToolReturned(TypedDict):
    id: str
    name: str
    content: str
    status: str


PAYLOADS: dict[str, type] = {
    "run.created": RunCreated,
    "run.started": RunStarted,
    "run.interrupted": RunInterrupted,
    "run.finished": RunFinished,
    "run.reconfigured": RunReconfigured,
    "run.retried": RunRetried,
    "llm.unreached": LLMUnreached,
    "trial.started": TrialStarted,
    "effect.requested": EffectRequested,
    "effect.completed": EffectCompleted,
    "attempt.rejected": AttemptRejected,
    "iteration.completed": IterationCompleted,
    "trial.finished": TrialFinished,
    "tool.called": ToolCalled,
    "tool.returned": ToolReturned,
}

_REQUIRED: dict[str, frozenset[str]] = {
    name: frozenset(getattr(t, "__required_keys__", frozenset())) for name, t in PAYLOADS.items()
}


def missing_keys(type_: str, payload: Mapping[str, Any]) -> list[str]:
    """The required keys of ``type_``'s payload that ``payload`` lacks (empty: it has them all)."""
    required = _REQUIRED.get(type_, frozenset())
    return sorted(required - payload.keys()) if not required <= payload.keys() else []


def failure_cause(reason: str) -> FailureCause:
    """The cause of a failed iteration recorded before causes were (version 1), from the wording of its reason,
    which those versions wrote in exactly these forms."""
    if reason.startswith("LLM call failed"):
        return "llm"
    if reason.startswith("evaluation failed"):
        return "evaluation"
    if reason.startswith(("no valid answer", "no valid value", "no usable answer")):
        return "no_valid_answer"
    if reason.startswith("no ") and reason.endswith("within the limits"):
        return "over_limits"
    return "other"


def iteration_v1_to_v2(payload: dict[str, Any]) -> dict[str, Any]:
    """iteration.completed v1 -> v2: a failed iteration names its cause."""
    if payload.get("status") == "failed" and "cause" not in payload:
        return {**payload, "cause": failure_cause(str(payload.get("reason", "")))}
    return payload
