"""Runs as the log tells them: a run's events, and its state folded from them, read-only.

What every command that shows a run reads (``runs``, ``show``, ``report``, the Python API) and what resume and
replay start from. It needs nothing but the log, so the commands that only read never load the search engine.
"""

from __future__ import annotations

import os
import socket

from storage.errors import UnknownRunError
from storage.events import StoredEvent
from storage.fold import RunState, fold_all, fold_run
from storage.hints import command_hint
from storage.log import EventLog


async def read_run(run_id: str, *, db: str) -> list[StoredEvent]:
    """A run's events, read-only; an unknown run id is a user error naming how to list the runs."""
    log_ = await EventLog.open(db, create=False, writable=False)
    try:
        events = await log_.read(run_id)
    finally:
        await log_.close()
    if not events:
        raise UnknownRunError(f"no run {run_id} in {db}; list the runs with: {command_hint('runs', db=db)}")
    return events


def mark_abandoned(state: RunState) -> RunState:
    """A run the log calls running whose process on this host is gone was killed: show it as interrupted.

    Display only: the fold stays pure, and the next execution's events settle the status for good.
    """
    if state.status == "running" and state.last_host == socket.gethostname() and state.last_pid:
        try:
            os.kill(state.last_pid, 0)
        except ProcessLookupError:
            state.status = "interrupted"
            state.interrupt_reason = state.interrupt_reason or "the process running it was killed"
        except PermissionError:
            pass  # alive, another user's
    return state


async def load_run(run_id: str, *, db: str) -> RunState:
    """The run's state as shown: the fold of its events, a killed run shown as interrupted."""
    return mark_abandoned(fold_run(run_id, await read_run(run_id, db=db)))


async def load_runs(*, db: str) -> list[RunState]:
    """Every run in the log, as :func:`load_run` shows each."""
    log_ = await EventLog.open(db, create=False, writable=False)
    try:
        return [mark_abandoned(s) for s in fold_all(await log_.read()).values()]
    finally:
        await log_.close()
