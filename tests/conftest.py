"""Shared test setup: the benchmark tables come from GENIUS_DATA_DIR (the README's test command sets it)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = os.environ.get("GENIUS_DATA_DIR")


def data_dir() -> str:
    if not DATA_DIR or not Path(DATA_DIR).is_dir():
        pytest.skip("GENIUS_DATA_DIR does not point at the benchmark tables (see README)")
    return str(Path(DATA_DIR).resolve())


@pytest.fixture
def tables() -> str:
    """The benchmark data directory (skips the test when the tables are absent)."""
    return data_dir()
