"""Retry policy units: Retry-After parsing, backoff bounds; and LLMReply's JSON round trip."""

from __future__ import annotations

import email.utils
import json
import random
import time

from agent.llm import LLMReply
from agent.llm.messages import to_ai_message
from agent.llm.retry import Failure, backoff_s, parse_retry_after, wait_s


def test_retry_after_forms() -> None:
    assert parse_retry_after({"Retry-After": "3"}) == 3.0
    assert parse_retry_after({"retry-after": "1.5"}) == 1.5
    assert parse_retry_after({"retry-after-ms": "250", "retry-after": "9"}) == 0.25
    now = time.time()
    date = email.utils.formatdate(now + 30, usegmt=True)
    assert 28.0 <= (parse_retry_after({"Retry-After": date}, now=now) or 0) <= 31.0
    assert parse_retry_after({"Retry-After": email.utils.formatdate(now - 60, usegmt=True)}, now=now) == 0.0
    assert parse_retry_after({"Retry-After": "soon"}) is None
    assert parse_retry_after({}) is None and parse_retry_after(None) is None


def test_backoff_is_bounded_full_jitter() -> None:
    rng = random.Random(1)
    for attempt in range(1, 12):
        cap = min(30.0, 0.5 * 2 ** (attempt - 1))
        waits = [backoff_s(attempt, 0.5, 30.0, rng) for _ in range(200)]
        assert all(0.0 <= w <= cap for w in waits)
        assert max(waits) > cap / 2  # full jitter spreads over the whole range


def test_retry_after_wins_over_backoff() -> None:
    failure = Failure("rate_limited", 429, True, "429", retry_after_s=2.0)
    assert 2.0 <= wait_s(failure, 1, 0.5, 30.0) <= 2.2


def test_a_reply_as_recorded_rebuilds_the_agent_message() -> None:
    reply = LLMReply(
        content="[1, 2]",
        tool_calls=[{"id": "c1", "name": "evaluate", "args": {"arch": [1, 2]}}],
        prompt_tokens=12,
        completion_tokens=4,
        latency_s=0.25,
        attempts=[{"kind": "rate_limited", "status": 429, "message": "m", "elapsed_s": 0.1, "wait_s": 1.0}],
        model="gpt-4o",
        finish_reason="stop",
    )
    data = json.loads(json.dumps(reply.to_json()))
    assert data == reply.to_json()  # plain JSON: what the log stores is what the agent reads back
    message = to_ai_message(data)
    assert message.content == "[1, 2]"
    assert [(tc["id"], tc["name"], tc["args"]) for tc in message.tool_calls] == [("c1", "evaluate", {"arch": [1, 2]})]
    assert message.usage_metadata is not None and message.usage_metadata["total_tokens"] == 16
