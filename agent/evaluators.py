"""Evaluators: table lookup (instant) and training (local or on a Ray cluster). Workers never write the log."""

from __future__ import annotations

from typing import Any

from agent.config import RunConfig
from tools.evaluation import Arch, Evaluation
from tools.spaces.base import SearchSpace


class TableEvaluator:
    """Answers from the space's benchmark table."""

    name = "table"

    async def evaluate(self, space: SearchSpace, arch: Arch, *, seed: int) -> Evaluation:
        return space.lookup(arch)


class TrainingEvaluator:
    """Trains the candidate (tools.training), locally or through a Ray executor."""

    name = "train"

    def __init__(self, train_options: dict[str, Any], executor: str = "local", ray_address: str | None = None,
                 gpus_per_eval: float | None = None) -> None:
        self._options = dict(train_options)
        self._executor_kind = executor
        self._ray_address = ray_address
        self._gpus = gpus_per_eval
        self._executor: Any = None

    def _get_executor(self) -> Any:
        if self._executor is None:
            if self._executor_kind == "ray":
                from tools.executors import RayExecutor

                self._executor = RayExecutor(address=self._ray_address, gpus_per_eval=self._gpus)
            else:
                from tools.executors import LocalExecutor

                self._executor = LocalExecutor()
        return self._executor

    async def evaluate(self, space: SearchSpace, arch: Arch, *, seed: int) -> Evaluation:
        from tools.training import TrainConfig

        family = space.name if space.family == "channel" else space.family
        config = TrainConfig(**{**self._options, "seed": seed})
        result = await self._get_executor().submit(family, arch, config)
        return result.evaluation  # type: ignore[no-any-return]


def make_evaluator(config: RunConfig) -> TableEvaluator | TrainingEvaluator:
    if config.evaluator == "train":
        opts = dict(config.train)
        executor = str(opts.pop("executor", "local"))
        address = opts.pop("ray_address", None)
        gpus = opts.pop("gpus_per_eval", None)
        return TrainingEvaluator(opts, executor=executor, ray_address=address, gpus_per_eval=gpus)
    return TableEvaluator()
