"""Executors: a thread for local training, Ray tasks (local CPU instance) with visible resubmission."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from tests.test_training import synthetic_images
from tools.errors import UserError
from tools.evaluation import Arch, Evaluation
from tools.executors import LocalExecutor, RemoteResult
from tools.training import TrainConfig, write_cifar

FAKE = Evaluation(accuracy=50.0, test_accuracy=49.0, params=1, flops=2, wall_s=0.0, source="train")


# Tasks run by the workers: module-level so that Ray workers import them by name. The marker
# directory travels in ``config.data_dir``, the one free-form field a task receives.


def slow_task(family: str, arch: Arch, config: TrainConfig) -> Evaluation:
    time.sleep(0.3)
    return replace(FAKE, accuracy=float(sum(arch)))


def crash_once(family: str, arch: Arch, config: TrainConfig) -> Evaluation:
    """Kills its own worker process on the first attempt (as an out-of-memory kill or a lost node
    would), succeeds on the next."""
    marker = Path(config.data_dir) / "crashed"
    if not marker.exists():
        marker.touch()
        os._exit(1)
    return FAKE


def always_crash(family: str, arch: Arch, config: TrainConfig) -> Evaluation:
    os._exit(1)


def user_error_task(family: str, arch: Arch, config: TrainConfig) -> Evaluation:
    with (Path(config.data_dir) / "calls").open("a") as f:
        f.write("call\n")
    raise UserError("bad architecture; choose another")


async def test_local_executor_keeps_the_loop_responsive() -> None:
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    tick_task = asyncio.create_task(ticker())
    async with LocalExecutor(max_workers=2, task=slow_task) as executor:
        results = await asyncio.gather(
            executor.submit("nas_macro", (1,) * 8, TrainConfig()),
            executor.submit("nas_macro", (2,) * 8, TrainConfig()),
        )
    tick_task.cancel()
    assert [r.evaluation.accuracy for r in results] == [8.0, 16.0]
    assert all(r.attempts == () and r.attempt_count == 1 for r in results)
    assert ticks > 10  # the loop ran while both trainings slept in their threads
    assert RemoteResult.from_json(results[0].to_json()) == results[0]


async def test_local_executor_propagates_training_errors(tmp_path: Path) -> None:
    async with LocalExecutor(task=user_error_task) as executor:
        with pytest.raises(UserError, match="choose another"):
            await executor.submit("nas_macro", (0,) * 8, TrainConfig(data_dir=str(tmp_path)))


# --- Ray ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[None]:
    ray = pytest.importorskip("ray", reason="Ray is optional: pip install 'genius-agent[ray]'")
    # Workers import this test module by name: make the repository root importable for them.
    root = str(Path(__file__).resolve().parents[1])
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        runtime_env={"env_vars": {"PYTHONPATH": root}},
    )
    try:
        yield
    finally:
        ray.shutdown()


async def test_ray_trains_for_real(ray_cluster: None, tmp_path: Path) -> None:
    from tools.executors import RayExecutor

    x_train, y_train = synthetic_images(300, seed=1)
    x_test, y_test = synthetic_images(100, seed=2)
    write_cifar(tmp_path, "cifar10", x_train, y_train, x_test, y_test)
    config = TrainConfig(
        data_dir=str(tmp_path), epochs=2, batch_size=50, lr=0.1, device="cpu", download=False, val_fraction=0.2
    )
    executor = RayExecutor()  # joins the running instance; no GPU there, so gpus_per_eval is 0
    assert executor.gpus_per_eval == 0
    result = await executor.submit("nas_macro", (0,) * 8, config)
    await executor.close()
    assert result.attempts == ()
    assert result.worker is not None and result.worker.split(":")[1] != str(os.getpid())
    assert result.evaluation.source == "train" and result.evaluation.params == 387_882
    assert 0.0 <= result.evaluation.test_accuracy <= 100.0


async def test_ray_resubmits_when_the_worker_dies(ray_cluster: None, tmp_path: Path) -> None:
    from tools.executors import RayExecutor

    executor = RayExecutor(task=crash_once, max_attempts=3)
    result = await executor.submit("nas_macro", (0,) * 8, TrainConfig(data_dir=str(tmp_path)))
    assert result.evaluation == FAKE
    assert result.attempt_count == 2
    assert "WorkerCrashedError" in result.attempts[0], result.attempts


async def test_ray_gives_up_after_max_attempts(ray_cluster: None, tmp_path: Path) -> None:
    from tools.executors import RayEvaluationFailed, RayExecutor

    executor = RayExecutor(task=always_crash, max_attempts=2)
    with pytest.raises(RayEvaluationFailed) as info:
        await executor.submit("nas_macro", (0,) * 8, TrainConfig(data_dir=str(tmp_path)))
    assert len(info.value.attempts) == 2


async def test_ray_does_not_retry_errors_of_the_training(ray_cluster: None, tmp_path: Path) -> None:
    from tools.executors import RayExecutor

    executor = RayExecutor(task=user_error_task, max_attempts=3)
    with pytest.raises(UserError) as info:
        await executor.submit("nas_macro", (0,) * 8, TrainConfig(data_dir=str(tmp_path)))
    assert str(info.value) == "bad architecture; choose another"  # the user's message, not a traceback
    assert (tmp_path / "calls").read_text().count("call") == 1


def test_missing_ray_is_a_user_error_naming_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    from tools.executors import ray_executor

    monkeypatch.setitem(sys.modules, "ray", None)  # makes `import ray` fail as if not installed
    with pytest.raises(UserError, match=r"genius-agent\[ray\]"):
        ray_executor.RayExecutor()
