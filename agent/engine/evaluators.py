"""Evaluators: table lookup (instant) and training (local or on a Ray cluster). Workers never write the log.

An evaluator returns the evaluation as JSON (what the ``evaluate`` effect records): the :class:`Evaluation`
fields, plus for training how it was obtained (failed attempts, the worker), so a retried worker is visible
in the log.
"""

from __future__ import annotations

import asyncio
from typing import Any

from agent.engine.config import RunConfig
from tools.evaluation import Arch
from tools.spaces.base import SearchSpace


class TableEvaluator:
    """Answers from the space's benchmark table."""

    name = "table"

    async def evaluate(self, space: SearchSpace, arch: Arch, *, seed: int) -> dict[str, Any]:
        return space.lookup(arch).to_json()

    async def close(self) -> None:
        """Nothing to release."""


def builder_family(space: SearchSpace) -> str:
    """The builder family (tools.builders) of a space."""
    return space.builder


class TrainingEvaluator:
    """Trains the candidate (tools.training) through an executor: this machine, or a Ray cluster."""

    name = "train"

    def __init__(self, train_options: dict[str, Any], executor: str = "local", ray_address: str | None = None,
                 gpus_per_eval: float | None = None) -> None:
        self._options = dict(train_options)
        self._executor_kind = executor
        self._ray_address = ray_address
        self._gpus = gpus_per_eval
        self._executor: Any = None
        self._executor_lock = asyncio.Lock()

    async def _get_executor(self) -> Any:
        async with self._executor_lock:  # trials ask at once: one executor for all of them
            if self._executor is None:
                # Made in a worker thread: connecting to (or starting) a Ray cluster blocks for seconds, and
                # every trial shares this event loop.
                self._executor = await asyncio.to_thread(self._make_executor)
            return self._executor

    def _make_executor(self) -> Any:
        # Imported here: the executors import torch (and Ray), which a table lookup never needs.
        if self._executor_kind == "ray":
            from tools.executors import RayExecutor

            return RayExecutor(address=self._ray_address, gpus_per_eval=self._gpus)
        from tools.executors import LocalExecutor

        return LocalExecutor()

    async def close(self) -> None:
        """Stop a running training at its next step and release the executor (local threads, or Ray)."""
        if self._executor is not None:
            await self._executor.close()
            self._executor = None

    async def evaluate(self, space: SearchSpace, arch: Arch, *, seed: int) -> dict[str, Any]:
        from tools.training import TrainConfig

        config = TrainConfig(**{**self._options, "seed": seed})
        executor = await self._get_executor()
        result = await executor.submit(builder_family(space), arch, config)
        out = result.evaluation.to_json()
        out["attempts"] = list(result.attempts)
        out["worker"] = result.worker
        return out


def make_evaluator(config: RunConfig) -> TableEvaluator | TrainingEvaluator:
    if config.evaluator == "train":
        opts = dict(config.train)
        executor = str(opts.pop("executor", "local"))
        address = opts.pop("ray_address", None)
        gpus = opts.pop("gpus_per_eval", None)
        return TrainingEvaluator(opts, executor=executor, ray_address=address, gpus_per_eval=gpus)
    return TableEvaluator()
