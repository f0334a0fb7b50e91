"""The project's error root, and the storage error types. sqlite errors never leak out raw: they are mapped to
these, with a remedy.

The root lives here, at the bottom of the layers (``storage`` imports nothing of the project above it), and
``tools.errors`` re-exports it: every error a user can cause is a :class:`UserError`, whose message says what
was wrong and names the remedy (one line on stderr, exit status 2); everything else that is ours derives
from :class:`GeniusError` (exit status 1).
"""

from __future__ import annotations

from typing import Any


class GeniusError(Exception):
    """Base class of every error this project raises on purpose."""

    exit_code: int = 1


class UserError(GeniusError):
    """Bad input a user can fix: unknown space, bad flag, missing data file, unknown run id."""

    exit_code = 2


class StorageError(GeniusError):
    """The event log could not be read or written."""


class NotAnEventLog(UserError):
    """The file exists but is not a GENIUS event log."""


class NewerSchemaError(UserError):
    """The log was written by a newer version of this project."""


class UnknownRunError(UserError):
    """No run with that id is in the log."""


class DamagedLog(UserError):
    """The log's file is damaged (cut short, edited outside the project): it is read no further than that and
    nothing more is appended to it; the message says how to see what is intact."""


class IntegrityBug(StorageError):
    """A constraint of the log was violated. This is a bug in our code; it is never retried."""


class DivergenceError(GeniusError):
    """Re-executed code asked for something other than what the log recorded at that point."""

    def __init__(self, key: str, recorded: Any, requested: Any) -> None:
        self.key = key
        self.recorded = recorded
        self.requested = requested
        path, was, now = first_difference(recorded, requested)
        super().__init__(
            f"divergence at {key}: first difference at {path or 'the top'}: the log recorded {was} but the code "
            f"now asks {now} (the prompt, strategy or code changed since the run was recorded; replay and "
            "resume need the same code and configuration)"
        )


def first_difference(a: Any, b: Any, path: str = "") -> tuple[str, str, str]:
    """Where ``a`` and ``b`` (JSON-like) first differ: the path into them and both values there, shortened
    around the first differing character when they are long strings."""
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b), key=str):
            if k not in a or k not in b:
                return f"{path}.{k}", _show(a.get(k, "<absent>")), _show(b.get(k, "<absent>"))
            if a[k] != b[k]:
                return first_difference(a[k], b[k], f"{path}.{k}")
    if isinstance(a, list) and isinstance(b, list):
        for i, (x, y) in enumerate(zip(a, b, strict=False)):
            if x != y:
                return first_difference(x, y, f"{path}[{i}]")
        if len(a) != len(b):
            return f"{path} (length)", str(len(a)), str(len(b))
    if isinstance(a, str) and isinstance(b, str):
        i = next((n for n, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))
        start = max(0, i - 40)
        return f"{path} (character {i})", _show(a[start:i + 60], start > 0), _show(b[start:i + 60], start > 0)
    return path, _show(a), _show(b)


def _show(value: Any, cut: bool = False, limit: int = 120) -> str:
    import json

    text = json.dumps(value, sort_keys=True, default=str) if not isinstance(value, str) else json.dumps(value)
    text = text if len(text) <= limit else text[: limit - 3] + "..."
    return ("..." + text) if cut else text


class ReplayMissingEffect(GeniusError):
    """Replay reached an effect the log has no result for (the run was interrupted there)."""
