"""Durable execution: every effect of a trial goes through here, keyed by (run, trial, step, kind).

* First execution: the effect's request is appended, the effect performed, its result appended.
* Resume: the trial's code runs again from the start. Effects already in the log return their recorded
  result without being performed; the first unrecorded one continues for real. An effect whose request
  was recorded but whose result was not (the process died mid-call) is performed again, once.
* Replay: every effect must come from the log; nothing is performed. A request that differs from the
  recorded one raises :class:`DivergenceError` with both sides. New events go to an in-memory sink, so
  the replayed state can be folded and compared with the original.

Steps are numbered per trial in the order the trial's code asks for effects and records facts, which is
deterministic once effects return their recorded results. That is what lets keys line up on re-execution.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from typing import Any, Protocol

from storage.errors import DivergenceError, GeniusError, ReplayMissingEffect, StorageError, UserError
from storage.events import Event, StoredEvent, canonical_json
from storage.payloads import EffectCompleted, EffectError, EffectRequested
from storage.redact import redact
from storage.retries import current, generation, keyed, logical_key


class EventSink(Protocol):
    async def append(self, event: Event) -> StoredEvent | None: ...


class MemorySink:
    """Collects events in memory (replay writes nothing to disk)."""

    def __init__(self) -> None:
        self.events: list[StoredEvent] = []

    async def append(self, event: Event) -> StoredEvent | None:
        stored = StoredEvent(seq=len(self.events) + 1, type=event.type, run_id=event.run_id,
                             payload=json.loads(event.payload_text()), trial=event.trial, step=event.step,
                             effect_key=event.effect_key, schema_version=event.schema_version, ts=event.ts,
                             hash="")
        self.events.append(stored)
        return stored


class EffectFailed(GeniusError):
    """An effect ended with an expected error; recorded, and raised again identically on resume and replay."""

    def __init__(self, kind: str, error_type: str, message: str) -> None:
        self.kind = kind
        self.error_type = error_type
        self.message = message
        super().__init__(f"{kind} failed: {error_type}: {message}")


def as_stored_json(value: Any) -> Any:
    """The value exactly as the log will hold it (secrets redacted, tuples as lists)."""
    return json.loads(canonical_json(redact(value)))


def _records_failure(exc: BaseException) -> bool:
    # Expected failures of the outside world (LLM gave up after retries, script ran out, training failed)
    # are facts worth keeping. Storage errors, errors the user must fix (a bad key), budget stops
    # (``record_in_log = False``), cancellation and bugs propagate and leave the effect unfinished, so a
    # resume performs it again.
    return (
        isinstance(exc, GeniusError)
        and not isinstance(exc, StorageError | DivergenceError | UserError)
        and getattr(exc, "record_in_log", True)
    )


class Journal:
    """The journal of one run execution: live/resume (``replay=False``) or replay."""

    def __init__(self, run_id: str, sink: EventSink, recorded: list[StoredEvent], *, replay: bool) -> None:
        self.run_id = run_id
        self.sink = sink
        self.replay = replay
        # A retry of failed evaluations (storage/retries.py) supersedes the course that followed each failure:
        # the journal follows the current course, found under logical keys, and writes in the next generation.
        self.generation = generation(recorded)
        self._recorded: dict[str, StoredEvent] = {
            logical_key(e.effect_key): e for e in current(recorded) if e.effect_key is not None
        }
        # "t{trial}/s{step}" -> the first event recorded at that step, whatever its kind. Re-executed code that
        # asks for another kind of effect (or fact) at a recorded step has diverged; without this index its
        # new key would simply be missing, so resume would perform it for real and every later step would be
        # answered from the log out of context.
        self._steps: dict[str, StoredEvent] = {}
        for key, e in self._recorded.items():
            parts = key.split("/", 2)
            if len(parts) == 3 and parts[0].startswith("t") and parts[1].startswith("s"):
                self._steps.setdefault(f"{parts[0]}/{parts[1]}", e)

    def recorded(self, key: str) -> StoredEvent | None:
        return self._recorded.get(key)

    def recorded_at(self, step_base: str) -> StoredEvent | None:
        """The first event recorded at ``t{trial}/s{step}``, of any kind."""
        return self._steps.get(step_base)

    async def emit(self, event: Event) -> None:
        """Append a keyed run-level event unless the log already has it (replay: to the memory sink)."""
        if event.effect_key is not None:
            if event.effect_key in self._recorded and not self.replay:
                return
            event = replace(event, effect_key=keyed(event.effect_key, self.generation))
        await self.sink.append(event)

    def trial(self, trial: int) -> TrialJournal:
        return TrialJournal(self, trial)


class TrialJournal:
    """Effects and facts of one trial."""

    def __init__(self, journal: Journal, trial: int) -> None:
        self._j = journal
        self.trial = trial
        self._step = 0
        # The effect.completed event of the last effect, as the log holds it: what the trial's fold applies.
        self.last_completed: StoredEvent | None = None

    @property
    def replay(self) -> bool:
        return self._j.replay

    def _event(self, type_: str, payload: Mapping[str, Any], key: str) -> Event:
        return Event(type=type_, run_id=self._j.run_id, payload=payload, trial=self.trial, step=self._step,
                     effect_key=keyed(key, self._j.generation))

    def _check_step(self, key: str, requested: Any) -> None:
        """Raise :class:`DivergenceError` if the log holds something else at this step."""
        other = self._j.recorded_at(f"t{self.trial}/s{self._step}")
        if other is not None:
            raise DivergenceError(key, {"key": other.effect_key, "type": other.type, "payload": other.payload},
                                  {"key": key, **requested})

    async def effect(self, kind: str, request: Any, perform: Callable[[], Awaitable[Any]]) -> Any:
        """Perform an effect once, durably; on resume/replay return its recorded result instead."""
        self._step += 1
        base = f"t{self.trial}/s{self._step}/{kind}"
        req_key, res_key = base + "/req", base + "/res"
        stored_request = as_stored_json(request)
        rec_req = self._j.recorded(req_key)
        if rec_req is not None and rec_req.payload.get("request") != stored_request:
            raise DivergenceError(base, rec_req.payload.get("request"), stored_request)
        rec_res = self._j.recorded(res_key)
        req_event = self._event("effect.requested", EffectRequested(kind=kind, request=request), req_key)
        if rec_res is not None:
            self.last_completed = rec_res
            if self._j.replay:
                await self._j.sink.append(req_event)
                self.last_completed = await self._j.sink.append(Event(
                    type="effect.completed", run_id=self._j.run_id, payload=rec_res.payload,
                    trial=self.trial, step=self._step, effect_key=keyed(res_key, self._j.generation),
                    ts=rec_res.ts)) or rec_res
            return _unwrap(kind, rec_res.payload)
        if rec_req is None:
            self._check_step(base, {"kind": kind, "request": stored_request})
        if self._j.replay:
            raise ReplayMissingEffect(
                f"the log has no result for {base}: the run was interrupted there; resume it to continue")
        if rec_req is None:
            await self._j.sink.append(req_event)
        try:
            payload = EffectCompleted(kind=kind, ok=await perform())
        except BaseException as exc:
            if not _records_failure(exc):
                raise
            error = EffectError(type=type(exc).__name__, message=str(exc))
            attempts = getattr(exc, "attempts", None)
            if isinstance(attempts, list) and attempts:  # what the server saw of a call that failed for good
                error["attempts"] = attempts
            payload = EffectCompleted(kind=kind, error=error)
        completed = self._event("effect.completed", payload, res_key)
        self.last_completed = await self._j.sink.append(completed) or _as_stored(completed)
        return _unwrap(kind, as_stored_json(payload))

    async def record(self, type_: str, payload: Mapping[str, Any]) -> StoredEvent:
        """Record a fact of the trial (e.g. an iteration's outcome); idempotent across re-execution. Returns the
        event as the log holds it (the recorded one, on a resume), for the trial's fold."""
        self._step += 1
        key = f"t{self.trial}/s{self._step}/{type_}"
        rec = self._j.recorded(key)
        if rec is not None:
            stored = as_stored_json(payload)
            if rec.payload != stored:
                raise DivergenceError(key, rec.payload, stored)
            if not self._j.replay:
                return rec
        else:
            self._check_step(key, {"type": type_, "payload": as_stored_json(payload)})
        event = self._event(type_, payload, key)
        return await self._j.sink.append(event) or _as_stored(event)


def _as_stored(event: Event) -> StoredEvent:
    """``event`` as a stored event would read back (used where the sink did not return one)."""
    return StoredEvent(seq=0, type=event.type, run_id=event.run_id, payload=as_stored_json(event.payload),
                       trial=event.trial, step=event.step, effect_key=event.effect_key,
                       schema_version=event.schema_version, ts=event.ts, hash="")


def _unwrap(kind: str, payload: dict[str, Any]) -> Any:
    if "error" in payload:
        err = payload["error"]
        raise EffectFailed(kind, str(err.get("type")), str(err.get("message")))
    return payload.get("ok")
