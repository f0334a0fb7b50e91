"""The six search spaces of the paper and their benchmark tables.

``get_space(name)`` returns the space (cached per name and data location); its table is read lazily.
``list_spaces()`` summarises them for ``run_agent.py spaces`` without reading any table.
"""

from __future__ import annotations

import difflib
import threading
from pathlib import Path
from typing import Any

from tools.data import DataLocation, data_location
from tools.errors import UserError
from tools.spaces.base import BenchmarkTable, InvalidArchitecture, SearchSpace
from tools.spaces.channel import ChannelMobileNetSpace, ChannelResNetSpace
from tools.spaces.nas_macro import NasMacroSpace
from tools.spaces.nb201 import NB201Cifar10Space, NB201Cifar100Space, NB201ImageNet16Space

__all__ = [
    "SPACE_NAMES",
    "BenchmarkTable",
    "InvalidArchitecture",
    "SearchSpace",
    "UnknownSpaceError",
    "get_space",
    "list_spaces",
]

_CLASSES: dict[str, type[SearchSpace]] = {
    cls.name: cls
    for cls in (
        NasMacroSpace,
        ChannelResNetSpace,
        ChannelMobileNetSpace,
        NB201Cifar10Space,
        NB201Cifar100Space,
        NB201ImageNet16Space,
    )
}
SPACE_NAMES: tuple[str, ...] = tuple(_CLASSES)

_cache: dict[tuple[str, DataLocation], SearchSpace] = {}
_cache_lock = threading.Lock()


class UnknownSpaceError(UserError):
    """A search-space name that is not one of :data:`SPACE_NAMES`."""


def get_space(name: str, data_dir: str | Path | None = None) -> SearchSpace:
    """The search space ``name``, reading tables from ``data_dir`` / ``GENIUS_DATA_DIR`` / the cache.

    One instance per (name, resolved data location), so a table is loaded at most once per process.
    """
    cls = _CLASSES.get(name)
    if cls is None:
        close = difflib.get_close_matches(str(name), SPACE_NAMES, n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise UnknownSpaceError(
            f"unknown search space {name!r}{hint}; choose one of: {', '.join(SPACE_NAMES)}"
        )
    location = data_location(data_dir)
    with _cache_lock:
        space = _cache.get((name, location))
        if space is None:
            space = _cache[(name, location)] = cls(location)
    return space


def list_spaces(data_dir: str | Path | None = None) -> list[dict[str, Any]]:
    """One summary dict per space (never loads or downloads a table)."""
    out: list[dict[str, Any]] = []
    for name in SPACE_NAMES:
        space = get_space(name, data_dir)
        out.append(
            {
                "name": space.name,
                "family": space.family,
                "benchmark": space.benchmark,
                "size": space.size,
                "positions": [list(p) for p in space.positions],
                "position_names": list(space.position_names),
                "searched_metric": space.searched_metric,
                "reported_metric": space.reported_metric,
                "data_present": space.data_available(),
            }
        )
    return out
