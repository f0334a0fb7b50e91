"""Shared test setup: the benchmark tables come from GENIUS_DATA_DIR (the README's test command sets it)."""

from __future__ import annotations

import importlib.util
import os
import signal
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent


def benchmark_module(name: str) -> ModuleType:
    """A script of benchmarks/ (not a package) loaded as a module, for tests of its functions."""
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def rewrite_run(src: str, dst: str, run_id: str,
                      rewrite: Callable[[Any], tuple[dict[str, Any], int] | None]) -> None:
    """Write ``run_id``'s events from log ``src`` into a new log ``dst`` as another version of the program would
    have: ``rewrite(event)`` gives each event's (payload, schema version), or None to leave it out."""
    from storage import EventLog
    from storage.events import Event

    source = await EventLog.open(src, create=False)
    target = await EventLog.open(dst)
    try:
        rewritten = []
        for e in await source.read(run_id):
            new = rewrite(e)
            if new is not None:
                rewritten.append(Event(e.type, e.run_id, new[0], trial=e.trial, step=e.step, effect_key=e.effect_key,
                                       schema_version=new[1], ts=e.ts))
        await target.append_many(rewritten)
    finally:
        await source.close()
        await target.close()

# A shell that starts pytest in the background (`pytest &`, nohup) sets SIGINT to "ignore", and every process a
# test starts would inherit that: the Ctrl-C tests would then test nothing. With a handler here, a child starts
# with the default disposition, as it does under a terminal.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)
DATA_DIR = os.environ.get("GENIUS_DATA_DIR")


def data_dir() -> str:
    if not DATA_DIR or not Path(DATA_DIR).is_dir():
        pytest.skip("GENIUS_DATA_DIR does not point at the benchmark tables (see README)")
    return str(Path(DATA_DIR).resolve())


@pytest.fixture
def tables() -> str:
    """The benchmark data directory (skips the test when the tables are absent)."""
    return data_dir()
