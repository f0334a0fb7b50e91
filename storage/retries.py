"""Retrying failed evaluations in an append-only log: a trial runs again from its first failure.

A failure is a fact: the model was told, and everything the trial did afterwards followed from it. So trying
a failed evaluation again (``resume RUN --retry-failed``) cannot change one result in place; the trial has to
run again from that point. The log cannot drop the tail that followed, so instead ``run.retried`` names, per
trial, the step from which that trial runs again, and everything of that trial at or after the step that was
recorded before the ``run.retried`` event is *superseded*: resume and replay skip it, the fold shows the
trial's new course, and the tokens it spent still count against the run's budget (they were spent).

The new course is written under the same logical keys with a generation suffix (``t0/s12/llm/req@g1``), so the
log's one-event-per-key rule holds and a resume of the new course finds its own events by the logical key.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from storage.events import StoredEvent

GENERATION_MARK = "@g"


def keyed(key: str, generation: int) -> str:
    """The effect key stored for logical ``key`` written in ``generation`` (0: the key itself)."""
    return key if generation == 0 else f"{key}{GENERATION_MARK}{generation}"


def logical_key(key: str) -> str:
    """``key`` without its generation suffix."""
    head, mark, tail = key.rpartition(GENERATION_MARK)
    return head if mark and tail.isdigit() else key


def generation(events: Iterable[StoredEvent]) -> int:
    """How many times the run's failed evaluations were retried (the generation new events are written in)."""
    return sum(1 for e in events if e.type == "run.retried")


def superseded_seqs(events: Sequence[StoredEvent]) -> set[int]:
    """The ``seq`` of every event a later ``run.retried`` superseded (empty for a log without retries)."""
    retries = [e for e in events if e.type == "run.retried"]
    if not retries:
        return set()
    out: set[int] = set()
    for r in retries:
        from_step = {int(t): int(s) for t, s in (r.payload.get("trials") or {}).items()}
        for e in events:
            if e.seq >= r.seq or e.run_id != r.run_id:
                continue
            if e.type == "run.finished":
                out.add(e.seq)  # the run goes on
            elif e.trial is not None and e.step is not None and e.step >= from_step.get(e.trial, e.step + 1):
                out.add(e.seq)
    return out


def current(events: Sequence[StoredEvent]) -> list[StoredEvent]:
    """``events`` less the superseded ones: the course resume and replay follow."""
    gone = superseded_seqs(events)
    return [e for e in events if e.seq not in gone] if gone else list(events)


def retry_points(events: Sequence[StoredEvent]) -> dict[int, int]:
    """Per trial, the step of its first failed evaluation in the current course: where a retry starts it again."""
    points: dict[int, int] = {}
    for e in current(events):
        if (e.type == "effect.completed" and e.payload.get("kind") == "evaluate" and "error" in e.payload
                and e.trial is not None and e.step is not None):
            points[e.trial] = min(points.get(e.trial, e.step), e.step)
    return points
