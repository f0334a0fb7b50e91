"""Keeping secrets out of log files and exception messages: the structlog side of :mod:`storage.redact`.

What counts as a secret is decided in one place, :mod:`storage.redact` (secret-named keys, credential-shaped
strings, registered secret values); this module applies it to structlog events and free text with the
``***`` mask used in human-facing output.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

from storage.redact import is_secret_key, redact_text, register_secret

MASK = "***"

__all__ = ["MASK", "redact_processor", "register_secret", "scrub"]


def scrub(text: str) -> str:
    """``text`` with every registered secret and every key-shaped token replaced by ``***``."""
    return redact_text(text, MASK)


def _redact_value(key: str, value: Any) -> Any:
    if is_secret_key(key) and value not in (None, ""):
        return MASK
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, dict):
        return {k: _redact_value(str(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_redact_value(key, v) for v in value)
    if isinstance(value, BaseException):
        return scrub(f"{type(value).__name__}: {value}")
    return value


def redact_processor(_logger: Any, _method: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: mask secret-named keys and scrub secret values from every field.

    Put it before the renderer: exception text is scrubbed too, since it is a string field by then.
    """
    for key in list(event_dict):
        event_dict[key] = _redact_value(str(key), event_dict[key])
    return event_dict
