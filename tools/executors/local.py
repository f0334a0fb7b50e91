"""Training on this machine, in a worker thread so that the asyncio loop stays responsive."""

from __future__ import annotations

import asyncio
import os
import socket
import threading
from concurrent.futures import ThreadPoolExecutor
from types import TracebackType

from tools.evaluation import Arch, Evaluation
from tools.executors.base import RemoteResult, TrainTask
from tools.stopping import set_stop_flag
from tools.training import TrainConfig, train_and_evaluate


class LocalExecutor:
    """Runs ``task`` (default :func:`train_and_evaluate`) in a thread pool of ``max_workers`` threads.

    One worker by default: trainings on one machine compete for the same GPU or cores, so running them
    one after another is as fast and keeps each one's timing honest. A failure is raised to the caller
    (a thread does not die the way a remote worker does, so there is nothing to retry).
    """

    def __init__(self, max_workers: int = 1, task: TrainTask = train_and_evaluate) -> None:
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="genius-train")
        self._task = task
        self._worker = f"{socket.gethostname()}:{os.getpid()}"
        self._stop = threading.Event()

    def _run(self, family: str, arch: Arch, config: TrainConfig) -> Evaluation:
        set_stop_flag(self._stop)
        try:
            return self._task(family, arch, config)
        finally:
            set_stop_flag(None)

    async def submit(self, family: str, arch: Arch, config: TrainConfig) -> RemoteResult:
        loop = asyncio.get_running_loop()
        evaluation = await loop.run_in_executor(self._pool, self._run, family, tuple(arch), config)
        return RemoteResult(evaluation, (), self._worker)

    async def close(self) -> None:
        """Stop a running training at its next step and release the thread (nothing half-done is kept)."""
        self._stop.set()
        self._pool.shutdown(wait=False, cancel_futures=True)

    async def __aenter__(self) -> LocalExecutor:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()
