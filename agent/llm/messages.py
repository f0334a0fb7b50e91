"""Converting our plain JSON messages (OpenAI form) to LangChain messages and back.

Callers and the event log speak plain dicts, ``{"role", "content", "tool_calls"?, "tool_call_id"?}``
with tool calls as ``{"id", "name", "args"}``; only this module knows LangChain's message classes.
"""

from __future__ import annotations

import json
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
