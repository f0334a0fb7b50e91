"""Where trainings run: this machine (:class:`LocalExecutor`) or a Ray cluster (:class:`RayExecutor`).

Both have ``async submit(family, arch, config) -> RemoteResult``. Workers only compute and return; the
caller (the orchestrator) writes the event log. ``RayExecutor`` needs the optional ``ray`` dependency and
is imported from :mod:`tools.executors.ray_executor` lazily here, so this package works without Ray.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tools.executors.base import Executor, RemoteResult, TrainTask
from tools.executors.local import LocalExecutor

if TYPE_CHECKING:
    from tools.executors.ray_executor import RayEvaluationFailed, RayExecutor


def __getattr__(name: str) -> Any:
    if name in ("RayExecutor", "RayEvaluationFailed"):
        from tools.executors import ray_executor

        return getattr(ray_executor, name)
    raise AttributeError(name)


__all__ = ["Executor", "LocalExecutor", "RayEvaluationFailed", "RayExecutor", "RemoteResult", "TrainTask"]
