"""Retry policy: which failures are worth another attempt, and how long to wait before it.

The only retry layer of the project (the OpenAI SDK's own retries are off: ``max_retries=0``), so
retries never multiply. Retried: 408, 409, 429, 5xx, timeouts, connection errors, and replies that are
empty or malformed. Not retried: other 4xx (the request itself is wrong).
"""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx2
import openai

from agent.llm.redact import scrub

_RETRYABLE_STATUS = {408, 409, 429}


class BadReply(Exception):
    """A reply that arrived but cannot be used (empty, or not the JSON the schema asked for)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind  # "empty" | "malformed"


@dataclass(frozen=True)
class Failure:
    """One failed attempt, classified."""

    kind: str
    status: int | None
    retryable: bool
    message: str
    retry_after_s: float | None = None


def parse_retry_after(headers: Mapping[str, str] | None, now: float | None = None) -> float | None:
    """Seconds to wait from ``retry-after-ms``, or ``retry-after`` (seconds or an HTTP date); else None."""
    if not headers:
        return None
    lower = {k.lower(): v for k, v in headers.items()}
    if (ms := lower.get("retry-after-ms")) is not None:
        try:
            return max(0.0, float(ms) / 1000.0)
        except ValueError:
            pass
    value = lower.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def classify(exc: BaseException) -> Failure:
    """Map an exception raised by a provider call to a :class:`Failure` (message scrubbed of secrets)."""
    detail = str(exc) or ("no response within the per-attempt timeout" if isinstance(exc, TimeoutError) else "")
    message = scrub(f"{type(exc).__name__}: {detail}")[:500]
    if isinstance(exc, BadReply):
        return Failure(exc.kind, None, True, message)
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        retry_after = parse_retry_after(exc.response.headers)
        if status == 429:
            return Failure("rate_limited", status, True, message, retry_after)
        if status >= 500:
            return Failure("server_error", status, True, message, retry_after)
        if status in _RETRYABLE_STATUS:
            return Failure("http_retryable", status, True, message, retry_after)
        if status in (401, 403):
            return Failure("auth", status, False, message)
        if status == 404:
            return Failure("not_found", status, False, message)
        return Failure("bad_request", status, False, message)
    if isinstance(exc, openai.APITimeoutError | TimeoutError):
        return Failure("timeout", None, True, message)
    if isinstance(exc, openai.APIConnectionError | httpx2.TransportError | ConnectionError):
        return Failure("connection", None, True, message)
    if isinstance(exc, openai.APIResponseValidationError | ValueError | KeyError | TypeError | AttributeError):
        # Raised while decoding a body that is not a chat completion (garbage, truncated JSON, HTML).
        return Failure("malformed", None, True, message)
    return Failure("unexpected", None, False, message)


def backoff_s(attempt: int, base_s: float, max_s: float, rng: random.Random | None = None) -> float:
    """Exponential backoff with full jitter for the wait after failed attempt number ``attempt`` (1-based)."""
    cap = min(max_s, base_s * (2 ** (attempt - 1)))
    return (rng or random).uniform(0.0, cap)


def wait_s(failure: Failure, attempt: int, base_s: float, max_s: float, rng: random.Random | None = None) -> float:
    """How long to wait before the next attempt: the server's Retry-After when given, else backoff."""
    if failure.retry_after_s is not None:
        # Honour the server; a little extra jitter so that callers it throttled together spread out.
        return failure.retry_after_s + (rng or random).uniform(0.0, min(1.0, 0.1 * failure.retry_after_s))
    return backoff_s(attempt, base_s, max_s, rng)


def attempt_record(failure: Failure, elapsed_s: float, wait: float | None) -> dict[str, Any]:
    """The JSON record of a failed attempt, as kept in replies and in :class:`LLMCallFailed`."""
    return {
        "kind": failure.kind,
        "status": failure.status,
        "message": failure.message,
        "elapsed_s": round(elapsed_s, 4),
        "wait_s": None if wait is None else round(wait, 4),
    }
