"""The project's error types.

Every error a user can cause is a :class:`UserError`: its message says what was wrong and names the
remedy, and the CLI turns it into one line on stderr and exit status 2. Everything else that is ours
derives from :class:`GeniusError` (exit status 1).
"""

from __future__ import annotations


class GeniusError(Exception):
    """Base class of every error this project raises on purpose."""

    exit_code: int = 1


class UserError(GeniusError):
    """Bad input a user can fix: unknown space, bad flag, missing data file, unknown run id."""

    exit_code = 2


class DataFileError(UserError):
    """A benchmark table is missing, unreachable or corrupted; the message says how to place it."""
