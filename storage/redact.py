"""Remove secrets from anything about to be written to the log or a log file.

The one place that decides what a secret is: values under secret-named keys, credential-shaped strings,
and every secret value registered at run time (the API key a client was opened with). The event log and
the structlog processor (agent/llm/redact.py) both use it.
"""

from __future__ import annotations

import functools
import re
import threading
from typing import Any

REDACTED = "[REDACTED]"

_lock = threading.Lock()
_registered: tuple[str, ...] = ()  # longest first


def register_secret(value: str | None) -> None:
    """Remember a secret value so it is masked wherever it appears from now on (very short values are not
    real keys and would turn masking into noise)."""
    global _registered
    if value and len(value) >= 6 and value not in _registered:
        with _lock:
            _registered = tuple(sorted({*_registered, value}, key=len, reverse=True))

# Key names that hold secrets. Token *counts* are not secrets: ``prompt_tokens``, LangChain's
# ``token_usage`` and ``input_token_details`` must survive, so a bare "token" is a secret only as the last
# word of a key (``token``, ``hf_token``, ``id_token``), and the other words must be whole words.
_SECRET_KEY = re.compile(
    r"(^|[_\-\s])(api[_\-]?key|apikey|authorization|secret|password|passwd|bearer|cookie|"
    r"(access|auth|refresh|session|api)[_\-]?token)($|[_\-\s])"
    r"|(^|[_\-\s])token$",
    re.IGNORECASE,
)
# A key that names *where* a secret lives (``api_key_env: OPENAI_API_KEY``) is configuration that resume
# needs; its value is still scanned for credential-looking strings.
_POINTER_KEY = re.compile(r"[_\-](env|var|name|file|path)$", re.IGNORECASE)
# Values that look like credentials wherever they appear (e.g. inside an error message).
_SECRET_VALUE = re.compile(
    r"(sk-[A-Za-z0-9_\-]{8,}|Bearer\s+[A-Za-z0-9_\-\.=]{8,}|ghp_[A-Za-z0-9]{20,}|xox[bap]-[A-Za-z0-9\-]{10,})"
)


# Credentials inside URLs: the userinfo of ``scheme://user:pass@host`` and query parameters that carry a key
# or token (``?api-key=...``, ``&token=...``).
_URL_USERINFO = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*://)[^/@\s?#]+@")
_URL_SECRET_PARAM = re.compile(
    r"([?&](?:api[_\-]?key|apikey|key|token|access[_\-]?token|auth|secret|password|passwd|pwd|sig|signature|"
    r"code)=)[^&#\s\"']+",
    re.IGNORECASE,
)


def redact_url_secrets(text: str, mask: str = REDACTED) -> str:
    """``text`` with credentials inside URLs masked (userinfo, key-bearing query parameters)."""
    if "@" in text and "://" in text:
        text = _URL_USERINFO.sub(lambda m: f"{m.group(1)}{mask}@", text)
    if "=" in text and ("?" in text or "&" in text):
        text = _URL_SECRET_PARAM.sub(lambda m: f"{m.group(1)}{mask}", text)
    return text


@functools.lru_cache(maxsize=4096)  # key names repeat endlessly; this sits on the append path
def is_secret_key(key: str) -> bool:
    return bool(_SECRET_KEY.search(key)) and not _POINTER_KEY.search(key)


def redact_text(text: str, mask: str = REDACTED) -> str:
    """``text`` with registered secrets and credential-shaped strings replaced by ``mask``."""
    for secret in _registered:
        if secret in text:
            text = text.replace(secret, mask)
    text = redact_url_secrets(text, mask)
    # Every credential pattern starts with one of these literals; substring tests are far cheaper than the
    # regex, and almost no string holds one.
    if "sk-" in text or "Bearer" in text or "ghp_" in text or "xox" in text:
        return _SECRET_VALUE.sub(mask, text)
    return text


def redact(value: Any) -> Any:
    """Return a copy of ``value`` (JSON-like) with secret-named fields and credential-looking strings masked."""
    cls = type(value)
    if cls is dict:
        return _redact_dict(value)
    if cls is str:
        return redact_text(value)
    if cls is int or cls is float or cls is bool or value is None:
        return value
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return _redact_dict(value)
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    return value


def _redact_dict(value: dict[Any, Any]) -> dict[Any, Any]:
    # This runs for every event appended: leaves are handled inline rather than by a call per value.
    out: dict[Any, Any] = {}
    for k, v in value.items():
        cls = type(v)
        if isinstance(k, str) and is_secret_key(k) and v is not None and v != "":
            out[k] = REDACTED
        elif cls is str:
            out[k] = redact_text(v)
        elif cls is int or cls is float or cls is bool or v is None:
            out[k] = v
        else:
            out[k] = redact(v)
    return out
