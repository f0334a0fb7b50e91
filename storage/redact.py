"""Remove secrets from anything about to be written to the log or a log file."""

from __future__ import annotations

import re
from typing import Any

REDACTED = "[REDACTED]"

# Key names that hold secrets. Token *counts* (prompt_tokens, ...) are not secrets, so match whole
# words of a key rather than any key containing "token".
_SECRET_KEY = re.compile(
    r"(^|[_\-\s])(api[_\-]?key|apikey|authorization|auth[_\-]?token|access[_\-]?token|secret|password|"
    r"passwd|token|x[_\-]api[_\-]key|bearer|cookie|openai[_\-]api[_\-]key)($|[_\-\s])",
    re.IGNORECASE,
)
# Values that look like credentials wherever they appear (e.g. inside an error message).
_SECRET_VALUE = re.compile(
    r"(sk-[A-Za-z0-9_\-]{8,}|Bearer\s+[A-Za-z0-9_\-\.=]{8,}|ghp_[A-Za-z0-9]{20,}|xox[bap]-[A-Za-z0-9\-]{10,})"
)


def is_secret_key(key: str) -> bool:
    return bool(_SECRET_KEY.search(key))


def redact_text(text: str) -> str:
    return _SECRET_VALUE.sub(REDACTED, text)


def redact(value: Any) -> Any:
    """Return a copy of ``value`` (JSON-like) with secret-named fields and credential-looking strings masked."""
    if isinstance(value, dict):
        return {
            k: (REDACTED if isinstance(k, str) and is_secret_key(k) and v not in (None, "") else redact(v))
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    if isinstance(value, str):
        return redact_text(value)
    return value
