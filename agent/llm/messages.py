"""Converting our plain JSON messages (OpenAI form) to LangChain messages and back.

Callers and the event log speak plain dicts, ``{"role", "content", "tool_calls"?, "tool_call_id"?}``
with tool calls as ``{"id", "name", "args"}``; only this module knows LangChain's message classes.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_core.messages.tool import ToolCall


def _tool_call(raw: dict[str, Any]) -> ToolCall:
    args = raw.get("args", raw.get("arguments", {}))
    if isinstance(args, str):  # OpenAI wire form carries arguments as a JSON string
        args = json.loads(args) if args.strip() else {}
    return ToolCall(name=str(raw["name"]), args=dict(args), id=str(raw.get("id") or ""), type="tool_call")


def to_langchain(messages: list[dict[str, Any]]) -> list[BaseMessage]:
    """LangChain messages for ``messages``; an unknown role is a programming error (ValueError)."""
    out: list[BaseMessage] = []
    for m in messages:
        role = m.get("role")
        content = m.get("content") or ""
        if role == "system":
            out.append(SystemMessage(content=content))
        elif role == "user":
            out.append(HumanMessage(content=content))
        elif role == "assistant":
            out.append(AIMessage(content=content, tool_calls=[_tool_call(tc) for tc in m.get("tool_calls") or []]))
        elif role == "tool":
            out.append(ToolMessage(content=content, tool_call_id=str(m.get("tool_call_id") or "")))
        else:
            raise ValueError(f"unknown message role {role!r}; expected system, user, assistant or tool")
    return out


def text_of(message: BaseMessage) -> str:
    """The message's text: string content as is, content blocks joined (reasoning blocks dropped)."""
    if isinstance(message.content, str):
        return message.content
    parts: list[str] = []
    for block in message.content:
        if isinstance(block, str):
            parts.append(block)
        elif isinstance(block, dict) and block.get("type") == "text":
            parts.append(str(block.get("text", "")))
    return "".join(parts)


def tool_calls_of(message: AIMessage) -> list[dict[str, Any]]:
    """``[{"id", "name", "args"}]`` of an AI message, as plain dicts."""
    return [{"id": tc.get("id") or "", "name": tc["name"], "args": dict(tc["args"])} for tc in message.tool_calls]


def from_langchain(messages: Sequence[BaseMessage]) -> list[dict[str, Any]]:
    """Our plain JSON messages for LangChain ``messages`` (the inverse of :func:`to_langchain`)."""
    out: list[dict[str, Any]] = []
    for m in messages:
        if isinstance(m, SystemMessage):
            out.append({"role": "system", "content": text_of(m)})
        elif isinstance(m, HumanMessage):
            out.append({"role": "user", "content": text_of(m)})
        elif isinstance(m, AIMessage):
            item: dict[str, Any] = {"role": "assistant", "content": text_of(m)}
            if m.tool_calls:
                item["tool_calls"] = tool_calls_of(m)
            out.append(item)
        elif isinstance(m, ToolMessage):
            out.append({"role": "tool", "tool_call_id": str(m.tool_call_id), "content": text_of(m)})
        else:
            raise ValueError(f"cannot send a {type(m).__name__} to the model")
    return out


def to_ai_message(reply: dict[str, Any]) -> AIMessage:
    """An AI message from a recorded reply (``content``, ``tool_calls``, token counts), the same whether the
    reply was just received or read back from the log."""
    prompt, completion = int(reply.get("prompt_tokens") or 0), int(reply.get("completion_tokens") or 0)
    return AIMessage(
        content=str(reply.get("content") or ""),
        tool_calls=[_tool_call(tc) for tc in reply.get("tool_calls") or []],
        usage_metadata={"input_tokens": prompt, "output_tokens": completion, "total_tokens": prompt + completion},
        response_metadata={"model_name": str(reply.get("model") or ""), "finish_reason": reply.get("finish_reason")},
    )
