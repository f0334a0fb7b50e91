"""Event types of the log: frozen, named, versioned.

An event is what happened, never what to do. Every event carries a stable ``type`` name and the
``schema_version`` of its payload. Old versions are upcast on read (see :data:`UPCASTERS`), never
rewritten: the log is append-only and its hashes cover the stored bytes.

Event types
-----------
run.created        first event of a run: the full configuration (space, strategy, model spec, seeds,
                   budgets, code version), so resume and replay need nothing but the run id.
run.started        an execution of the run began (mode live/resume), with pid and host.
run.interrupted    the execution stopped early (Ctrl-C, budget exhausted, error), with the reason.
run.finished       all trials ended; the run's final status.
run.reconfigured   a resume changed how the endpoint is reached or the budget.
run.retried        a resume tries failed evaluations again: each trial named runs again from that step.
trial.started      a trial began (its seed, temperature).
effect.requested   a trial is about to perform an effect (LLM call, evaluation, random draw, tool call).
effect.completed   the effect's result, or the error it ended with.
attempt.rejected   the model's answer could not be used (invalid, repeat, over a constraint); fed back.
iteration.completed one search iteration ended: proposal, evaluation, whether it repeated an earlier one.
trial.finished     a trial ended (status, reason).
"""

from __future__ import annotations

import json
import operator
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from storage.payloads import iteration_v1_to_v2, missing_keys
from storage.redact import redact

JSON = Any

# Current payload version per event type. Bump a type's version when its payload changes shape and add
# an upcaster from the old version to the new one.
EVENT_TYPES: dict[str, int] = {
    "run.created": 1,
    "run.started": 1,
    "run.interrupted": 1,
    "run.finished": 1,
    # resume changed how the endpoint is reached or the budget (base_url, timeout, rate limit, max cost/tokens)
    "run.reconfigured": 1,
    # resume --retry-failed: per trial, the step from which it runs again (its first failed evaluation);
    # what that trial recorded from there on before this event is superseded (storage/retries.py)
    "run.retried": 1,
    # a trial stopped because its model could not be reached: the failed attempts the server saw
    "llm.unreached": 1,
    "trial.started": 1,
    "effect.requested": 1,
    "effect.completed": 1,
    "attempt.rejected": 1,
    # v2: a failed iteration names its cause (llm | evaluation | no_valid_answer | over_limits | other)
    "iteration.completed": 2,
    "trial.finished": 1,
    # The agent's tool calls (agent mode): what the model asked a tool for, and what it was told.
    "tool.called": 1,
    "tool.returned": 1,
}

# (type, version) -> function turning a payload of that version into the next version's shape.
UPCASTERS: dict[tuple[str, int], Callable[[dict[str, Any]], dict[str, Any]]] = {
    ("iteration.completed", 1): iteration_v1_to_v2,
}


@dataclass(frozen=True)
class Event:
    """An event before it is stored. ``effect_key`` makes an append idempotent within its run."""

    type: str
    run_id: str
    payload: Mapping[str, Any]  # the type's TypedDict in storage/payloads.py
    trial: int | None = None
    step: int | None = None
    effect_key: str | None = None
    schema_version: int = 0  # 0 = current version of the type
    ts: float = field(default_factory=time.time)

    def __post_init__(self) -> None:
        if self.type not in EVENT_TYPES:
            raise ValueError(f"unknown event type {self.type!r}")
        if self.schema_version == 0:
            object.__setattr__(self, "schema_version", EVENT_TYPES[self.type])
        # Normalize to the types the columns give back: the hash covers these values, so an int ``ts`` (or a
        # bool/numpy ``trial``) hashed as written would not match the REAL/INTEGER read back by ``verify``.
        object.__setattr__(self, "ts", float(self.ts))
        for name in ("trial", "step"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, operator.index(value))
        # the payload has what its type requires (storage/payloads.py); an older version's is not held to it
        missing = missing_keys(self.type, self.payload) if self.schema_version == EVENT_TYPES[self.type] else []
        if missing:
            raise ValueError(f"a {self.type} payload needs {', '.join(missing)} (storage/payloads.py)")

    def payload_text(self) -> str:
        """The payload as stored: secrets redacted, canonical JSON."""
        return canonical_json(redact(self.payload))


@dataclass(frozen=True)
class StoredEvent:
    """An event as read back from the log, payload upcast to the current version."""

    seq: int
    type: str
    run_id: str
    payload: dict[str, Any]
    trial: int | None
    step: int | None
    effect_key: str | None
    schema_version: int
    ts: float
    hash: str


# Built once: ``json.dumps`` with options builds a new encoder per call, which shows on the append path.
# The output is byte-for-byte what ``json.dumps`` with these options gives; hashes of old logs depend on it.
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def stored_event(seq: int, type_: str, run_id: str, payload: dict[str, Any], trial: int | None, step: int | None,
                 effect_key: str | None, schema_version: int, ts: float, hash_: str) -> StoredEvent:
    """Build a :class:`StoredEvent` without the frozen dataclass ``__init__``.

    Every event read or written is built here; the generated ``__init__`` of a frozen dataclass sets each
    field through ``object.__setattr__`` and costs about five times as much. StoredEvent has no defaults
    and no ``__post_init__``, so filling ``__dict__`` gives the same object (tests/test_eventlog.py checks).
    """
    e = object.__new__(StoredEvent)
    e.__dict__.update(seq=seq, type=type_, run_id=run_id, payload=payload, trial=trial, step=step,
                      effect_key=effect_key, schema_version=schema_version, ts=ts, hash=hash_)
    return e


def canonical_json(value: JSON) -> str:
    """The one JSON form the log stores and hashes: sorted keys, no spaces, UTF-8 text, no NaN."""
    return _CANONICAL.encode(value)


def upcast(type_: str, version: int, payload: dict[str, Any]) -> dict[str, Any]:
    """Bring a stored payload up to the current version of its type."""
    current = EVENT_TYPES.get(type_)
    if current is None or version >= current:
        # Current already (the common case), or a type this version does not know: keep it readable, the
        # fold ignores it.
        return payload
    while version < current:
        step = UPCASTERS.get((type_, version))
        if step is None:
            raise ValueError(f"no upcaster for {type_} v{version}")
        payload = step(payload)
        version += 1
    return payload
