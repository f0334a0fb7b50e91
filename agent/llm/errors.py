"""Errors of the LLM layer.

User-caused problems (a bad ``--llm`` spec, a missing key, a missing model package) are
:class:`~tools.errors.UserError` and name the remedy. A call that failed after its retries is an
:class:`LLMCallFailed`: the caller records the failure and the run goes on.
"""

from __future__ import annotations

from typing import Any

from tools.errors import GeniusError, UserError


class LLMSpecError(UserError):
    """An ``--llm`` spec that does not parse, or names something that is not there."""


class LLMAuthError(UserError):
    """The endpoint refused our credentials (401/403). The message never contains the key."""


class ModelPackageMissing(UserError):
    """A bundled embedded model's package is not installed; the message names the pip command."""


class ModelIntegrityError(GeniusError):
    """A bundled model file does not match its pinned size or sha256 (a broken or tampered install)."""


class BudgetExhausted(GeniusError):
    """The run's cost or token budget is spent: no new LLM calls are made.

    Not recorded as the call's result: the run stops as interrupted, and a resume with a larger budget
    makes the call.
    """

    record_in_log = False


class ScriptExhausted(GeniusError):
    """A scripted model ran out of replies for a trial (a test or demo script that is too short)."""


class LLMCallFailed(GeniusError):
    """A chat call failed for good: attempts ran out, or the error is not worth retrying.

    ``attempts`` holds one dict per failed attempt (``kind``, ``status``, ``message`` without secrets,
    ``elapsed_s``, ``wait_s``), the same records an :class:`~agent.llm.reply.LLMReply` carries.
    """

    def __init__(self, message: str, attempts: list[dict[str, Any]], *, retryable: bool = True) -> None:
        super().__init__(message)
        self.attempts = attempts
        # False when the last error was of a kind that retrying cannot fix (e.g. HTTP 400).
        self.retryable = retryable
        # An endpoint that could not be reached (down, overloaded, timing out) is an outage, not the call's
        # result: it is not recorded, the trial stops as interrupted, and a resume makes the call again. A
        # reply that no retry can fix is recorded as the call's result.
        self.record_in_log = not retryable

    @property
    def outage(self) -> bool:
        return self.retryable
