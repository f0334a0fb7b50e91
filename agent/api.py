"""The Python API: start, resume, replay and read runs from a notebook or a script, with the same
:class:`~agent.engine.config.RunConfig` the command line builds.

    from agent.api import search, load
    run = search(space="nas_macro", optimizer="evolution", trials=5, db="runs/notebook.sqlite")
    run.best                 # the best iteration over all trials
    run.iterations()         # one row per iteration, as a pandas DataFrame

Each function has an ``a``-prefixed coroutine twin (``asearch``...) for code already inside an event loop; the
plain ones work there too (a notebook's loop is running): they run the search on a loop of their own in a
worker thread.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

from agent.engine import orchestrator
from agent.engine.config import RunConfig
from agent.flags import DEFAULT_TEMPERATURE, PAPER_TEMPERATURE
from agent.read.report import run_document
from storage import DEFAULT_DB
from storage.fold import IterationState, RunState, TrialState
from storage.runs import load_run as _load_run
from storage.runs import load_runs as _load_runs

T = TypeVar("T")


@dataclass(frozen=True)
class Run:
    """A run as the log holds it (a fold over its events; nothing here is kept beside the log)."""

    state: RunState
    db: str

    @property
    def run_id(self) -> str:
        return self.state.run_id

    @property
    def status(self) -> str:
        return self.state.status

    @property
    def config(self) -> RunConfig:
        return RunConfig.from_json(self.state.config)

    @property
    def trials(self) -> list[TrialState]:
        return [self.state.trials[n] for n in sorted(self.state.trials)]

    @property
    def best(self) -> IterationState | None:
        """The iteration with the highest searched accuracy over every trial."""
        return self.state.best()

    def best_architectures(self) -> list[IterationState]:
        """Each trial's best iteration (by searched accuracy), in trial order; trials without a result left out."""
        return [b for t in self.trials if (b := t.best()) is not None]

    def iterations(self) -> Any:
        """One row per iteration of every trial: a pandas DataFrame with ``trial, iteration, status, arch,
        accuracy, test_accuracy, rank, repeat, reason``."""
        import pandas as pd  # imported when asked for: the command line never needs it

        rows = [{"trial": n, "iteration": it.iteration, "status": it.status, "arch": it.arch,
                 "accuracy": it.accuracy, "test_accuracy": it.test_accuracy, "rank": it.rank, "repeat": it.repeat,
                 "reason": it.reason} for n, t in sorted(self.state.trials.items()) for it in t.iterations]
        return pd.DataFrame(rows, columns=["trial", "iteration", "status", "arch", "accuracy", "test_accuracy",
                                           "rank", "repeat", "reason"])

    def document(self) -> dict[str, Any]:
        """The ``--json`` document of the run."""
        return run_document(self.state)


def _run_sync(coro: Coroutine[Any, Any, T]) -> T:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    # Called from inside a running loop (a notebook): give the search a loop of its own in a worker thread.
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


async def asearch(config: RunConfig | None = None, *, db: str = str(DEFAULT_DB), run_id: str | None = None,
                  **options: Any) -> Run:
    """Start a run (``config``, or a RunConfig made of ``options`` with the command line's defaults: agent mode,
    temperature 0.7, 0 in paper mode) and carry it to the end."""
    if config is None:
        options.setdefault("mode", "agent")
        options.setdefault("temperature", PAPER_TEMPERATURE if options["mode"] == "paper" else DEFAULT_TEMPERATURE)
        config = RunConfig(**options)
    return Run(await orchestrator.start_run(config, db=db, run_id=run_id), db)


def search(config: RunConfig | None = None, *, db: str = str(DEFAULT_DB), run_id: str | None = None,
           **options: Any) -> Run:
    """:func:`asearch`, for code outside an event loop (or inside a notebook)."""
    return _run_sync(asearch(config, db=db, run_id=run_id, **options))


async def aresume(run_id: str, *, db: str = str(DEFAULT_DB), retry_failed: bool = False, **changes: Any) -> Run:
    """Continue an interrupted run where it stopped (``changes``: base_url, request_timeout_s, rate_limit,
    max_cost, max_tokens). ``retry_failed``: evaluate failed candidates again, as ``resume --retry-failed``."""
    return Run(await orchestrator.resume_run(run_id, db=db, changes=changes, retry_failed=retry_failed), db)


def resume(run_id: str, *, db: str = str(DEFAULT_DB), retry_failed: bool = False, **changes: Any) -> Run:
    return _run_sync(aresume(run_id, db=db, retry_failed=retry_failed, **changes))


async def areplay(run_id: str, *, db: str = str(DEFAULT_DB)) -> Run:
    """Re-execute a run from its log alone (no model, no network, no training); the result is in memory."""
    return Run(await orchestrator.replay_run(run_id, db=db), db)


def replay(run_id: str, *, db: str = str(DEFAULT_DB)) -> Run:
    return _run_sync(areplay(run_id, db=db))


async def aload(run_id: str, *, db: str = str(DEFAULT_DB)) -> Run:
    """A run as the log holds it now."""
    return Run(await _load_run(run_id, db=db), db)


def load(run_id: str, *, db: str = str(DEFAULT_DB)) -> Run:
    return _run_sync(aload(run_id, db=db))


async def aruns(*, db: str = str(DEFAULT_DB)) -> list[Run]:
    """Every run in the log, in creation order."""
    return [Run(s, db) for s in await _load_runs(db=db)]


def runs(*, db: str = str(DEFAULT_DB)) -> list[Run]:
    return _run_sync(aruns(db=db))


__all__ = ["Run", "aload", "areplay", "aresume", "aruns", "asearch", "load", "replay", "resume", "runs", "search"]
