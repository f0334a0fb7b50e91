"""Keeping secrets out of logs, exception messages and recorded replies.

Two layers, because either alone leaks: values of secret-looking *keys* (``api_key``,
``authorization``, ...) are masked wherever they appear in a structlog event, and every registered
secret *value* (the API key the client was opened with), plus anything shaped like a bearer token or an
OpenAI key, is scrubbed out of free text such as a provider's error message.
"""

from __future__ import annotations

import re
import threading
from collections.abc import MutableMapping
from typing import Any

MASK = "***"

_SECRET_KEYS = re.compile(r"(api[_-]?key|authorization|secret|token|password)$", re.IGNORECASE)
# Provider error bodies quote (partly masked) keys and bearer headers; scrub their shapes too.
_SECRET_SHAPES = re.compile(
    r"(sk-[A-Za-z0-9_\-*]{4,}|Bearer\s+[A-Za-z0-9_\-.=*]+|(?<=api_key=)[^\s&'\"]+)",
    re.IGNORECASE,
)

_lock = threading.Lock()
_secrets: set[str] = set()


def register_secret(value: str | None) -> None:
    """Remember a secret value so that :func:`scrub` removes it from any text from now on."""
    # Very short values would turn scrubbing into noise (and are not real keys).
    if value and len(value) >= 6:
        with _lock:
            _secrets.add(value)


def scrub(text: str) -> str:
    """``text`` with every registered secret and every key-shaped token replaced by ``***``."""
    with _lock:
        secrets = sorted(_secrets, key=len, reverse=True)
    for secret in secrets:
        text = text.replace(secret, MASK)
    return _SECRET_SHAPES.sub(MASK, text)


def _redact_value(key: str, value: Any) -> Any:
    if _SECRET_KEYS.search(key):
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

    Put it before the renderer (and before ``format_exc_info`` output is rendered: exception text is
    scrubbed too, since it is a string field by then).
    """
    for key in list(event_dict):
        event_dict[key] = _redact_value(str(key), event_dict[key])
    return event_dict
