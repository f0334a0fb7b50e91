"""The project's error types, as the search spaces and tools use them.

The root (:class:`GeniusError`, :class:`UserError`) is defined at the bottom layer, ``storage.errors``, so
that the event log depends on nothing above it; this module adds what is about the spaces' data.
"""

from __future__ import annotations

from storage.errors import GeniusError, UserError


class DataFileError(UserError):
    """A benchmark table is missing, unreachable or corrupted; the message says how to place it."""


__all__ = ["DataFileError", "GeniusError", "UserError"]
