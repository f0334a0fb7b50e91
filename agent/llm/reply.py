"""What one chat call returns: :class:`LLMReply`, a frozen, JSON round-trippable record.

The event log stores replies as JSON (``to_json``) and the agent rebuilds its messages from that JSON
(``agent.llm.messages.to_ai_message``), so every field is plain data: strings, numbers, lists and dicts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class LLMReply:
    """One assistant reply.

    ``tool_calls``: ``[{"id", "name", "args"}]``. ``latency_s``: duration of the successful attempt
    (queueing for the rate limiter and failed attempts excluded; those are in ``attempts``).
    ``attempts``: one dict per *failed* attempt before this reply (``kind``, ``status``, ``message``,
    ``elapsed_s``, ``wait_s``); empty when the first attempt succeeded.
    """

    content: str
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_s: float = 0.0
    attempts: list[dict[str, Any]] = field(default_factory=list)
    model: str = ""
    finish_reason: str | None = None

    def to_json(self) -> dict[str, Any]:
        """A JSON-serialisable dict (deep copies of the lists, so the record cannot be mutated)."""
        return {
            "content": self.content,
            "tool_calls": [dict(tc) for tc in self.tool_calls],
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "latency_s": self.latency_s,
            "attempts": [dict(a) for a in self.attempts],
            "model": self.model,
            "finish_reason": self.finish_reason,
        }
