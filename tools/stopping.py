"""Stopping a training promptly: the executor that runs it gives the training's thread a stop flag, and the
trainer checks it at every step, so Ctrl-C or SIGTERM ends a training within a step instead of when it would
have finished. Nothing half-done is recorded: the evaluation's result is simply never written, and a resume
trains the candidate again."""

from __future__ import annotations

import threading

_local = threading.local()


class TrainingCancelled(Exception):
    """The training was stopped before it finished (its process is stopping)."""


def set_stop_flag(flag: threading.Event | None) -> None:
    """Give the calling thread's trainings ``flag`` (the executor does this before each training)."""
    _local.flag = flag


def check_stop() -> None:
    """Raise :class:`TrainingCancelled` if the calling thread's stop flag is set (cheap: once per step)."""
    flag: threading.Event | None = getattr(_local, "flag", None)
    if flag is not None and flag.is_set():
        raise TrainingCancelled("the training was stopped before it finished")
