"""Training dispatched to a Ray cluster: one Ray task per evaluation, resubmitted when its worker dies.

Install with ``pip install 'genius-agent[ray]'``. Every node needs this package and the dataset (or
internet to download it) at the config's ``data_dir``; for a cluster whose nodes lack the package pass
``runtime_env={"py_modules": [...]}`` or ``{"working_dir": ...}`` (Ray's own mechanism).

Retry policy lives here and only here: Ray's own task retries are switched off (``max_retries=0``) and a
task whose worker process or node died is resubmitted by :meth:`RayExecutor.submit`, up to
``max_attempts`` times, so the caller sees every failed attempt in :attr:`RemoteResult.attempts`. An
exception raised by the training itself (bad architecture, missing dataset, a bug) is not retried: it
would fail the same way again; it is re-raised as its own type.
"""

from __future__ import annotations

import os
import socket
from types import TracebackType
from typing import Any

from tools.errors import UserError
from tools.evaluation import Arch, Evaluation
from tools.executors.base import RemoteResult, TrainTask
from tools.training import TrainConfig, train_and_evaluate


def _import_ray() -> Any:
    try:
        import ray
    except ImportError as exc:
        raise UserError("Ray is not installed; install it with: pip install 'genius-agent[ray]'") from exc
    return ray


def _run_on_worker(task: TrainTask, family: str, arch: Arch, config_json: dict[str, Any]) -> dict[str, Any]:
    """The Ray task body: compute and return; never write any log (the orchestrator does)."""
    evaluation = task(family, arch, TrainConfig.from_json(config_json))
    return {"evaluation": evaluation.to_json(), "worker": f"{socket.gethostname()}:{os.getpid()}"}


class RayExecutor:
    """Runs ``task`` (default :func:`train_and_evaluate`) as Ray remote tasks.

    - ``address``: a running cluster's address (``"auto"``, ``"ray://host:10001"``, ...); ``None`` starts a
      local Ray instance for this process (with ``num_cpus`` / ``num_gpus`` when given) and stops it on
      :meth:`close`. When Ray is already initialised in this process it is used as it is.
    - ``gpus_per_eval``: GPUs reserved per evaluation; ``None`` means 1 when the cluster has GPUs, else 0.
      ``cpus_per_eval``: CPUs reserved per evaluation (Ray schedules at most cluster CPUs / this at once).
    - ``max_attempts``: tries per evaluation when workers die (1 = never resubmit).
    """

    def __init__(
        self,
        address: str | None = None,
        *,
        gpus_per_eval: float | None = None,
        cpus_per_eval: float = 1.0,
        max_attempts: int = 3,
        num_cpus: int | None = None,
        num_gpus: int | None = None,
        runtime_env: dict[str, Any] | None = None,
        task: TrainTask = train_and_evaluate,
    ) -> None:
        if max_attempts < 1:
            raise UserError("max_attempts must be >= 1")
        ray = self._ray = _import_ray()
        self._owns_ray = False
        if not ray.is_initialized():
            init_kwargs: dict[str, Any] = {"runtime_env": runtime_env, "log_to_driver": False}
            if address is None:
                init_kwargs.update(num_cpus=num_cpus, num_gpus=num_gpus, include_dashboard=False)
            else:
                init_kwargs["address"] = address
            try:
                ray.init(**init_kwargs)
            except ConnectionError as exc:
                raise UserError(
                    f"cannot reach the Ray cluster at {address!r} ({exc}); start it with `ray start --head` "
                    "or pass no address to run a local instance"
                ) from exc
            self._owns_ray = True
        if gpus_per_eval is None:
            gpus_per_eval = 1.0 if ray.cluster_resources().get("GPU", 0) > 0 else 0.0
        self.gpus_per_eval = gpus_per_eval
        self.max_attempts = max_attempts
        # max_calls=0 (no limit) keeps a GPU worker alive between tasks, so its device-resident dataset
        # and CUDA context are reused; Ray would otherwise start a fresh process for every GPU task.
        self._remote = ray.remote(max_calls=0)(_run_on_worker).options(
            num_gpus=gpus_per_eval, num_cpus=cpus_per_eval, max_retries=0
        )
        self._task = task
        # Worker deaths worth a resubmission; an application error arrives as RayTaskError instead.
        exc_mod = ray.exceptions
        self._system_errors: tuple[type[BaseException], ...] = tuple(
            getattr(exc_mod, name)
            for name in (
                "WorkerCrashedError",
                "NodeDiedError",
                "LocalRayletDiedError",
                "ObjectLostError",
                "OwnerDiedError",
                "RaySystemError",
            )
            if hasattr(exc_mod, name)
        )

    async def submit(self, family: str, arch: Arch, config: TrainConfig) -> RemoteResult:
        failures: list[str] = []
        for attempt in range(1, self.max_attempts + 1):
            ref = self._remote.remote(self._task, family, tuple(arch), config.to_json())
            try:
                out = await ref
            except self._ray.exceptions.RayTaskError as exc:
                # The training raised. A user error is re-raised as it is, so its message (the remedy)
                # stays one clean line; anything else keeps its type and Ray's remote traceback.
                if isinstance(exc.cause, UserError):
                    raise exc.cause from None
                raise exc.as_instanceof_cause() from None
            except self._system_errors as exc:
                failures.append(f"attempt {attempt}: {type(exc).__name__}: {str(exc).splitlines()[0]}")
                continue
            return RemoteResult(Evaluation.from_json(out["evaluation"]), tuple(failures), out["worker"])
        raise RayEvaluationFailed(family, tuple(arch), failures)

    async def close(self) -> None:
        if self._owns_ray:
            self._ray.shutdown()
            self._owns_ray = False

    async def __aenter__(self) -> RayExecutor:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()


class RayEvaluationFailed(RuntimeError):
    """Every attempt of one evaluation lost its worker; ``attempts`` says how each one ended."""

    def __init__(self, family: str, arch: Arch, attempts: list[str]) -> None:
        super().__init__(f"{family} {list(arch)}: all {len(attempts)} attempts failed: " + "; ".join(attempts))
        self.attempts = tuple(attempts)
