"""Turning a model's reply into an architecture, a refusal to go on, or a message it can act on."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from agent.llm.parsing import extract_list
from tools.evaluation import Arch
from tools.spaces.base import InvalidArchitecture, SearchSpace

# The model saying it cannot do better (the paper's Table 3 '-'): honoured only when no list is given.
_STOP = re.compile(
    r"(no (further |more )?(room|chance|way|possibility) (for|to) (further )?improv|"
    r"(can ?not|can't|unable to) (be )?(further )?improv|no further improvement|"
    r"(already|is) (the )?optimal|cannot (suggest|propose|recommend) (a |any )?(better|new))",
    re.IGNORECASE,
)
_LIST_KEYS = ("op_list", "operations", "channels", "architecture", "arch", "answer", "list")


@dataclass(frozen=True)
class ParsedAnswer:
    arch: Arch | None = None
    error: str | None = None
    stop: bool = False
    rationale: str = ""


def answer_name(space: SearchSpace) -> str:
    """What the prompts call an answer: "operation ID list" or "channel list"."""
    return space.answer_name


def example_answer(space: SearchSpace) -> str:
    return json.dumps([p[0] for p in space.positions])


def _values_from_json(obj: Any) -> tuple[list[Any] | None, str]:
    if isinstance(obj, list):
        return obj, ""
    if isinstance(obj, dict):
        rationale = str(obj.get("rationale", "") or obj.get("reasoning", ""))
        for k in _LIST_KEYS:
            if isinstance(obj.get(k), list):
                return obj[k], rationale
        for v in obj.values():
            if isinstance(v, list):
                return v, rationale
    return None, ""


def parse_answer(space: SearchSpace, content: str) -> ParsedAnswer:
    """Read an architecture out of ``content`` (a JSON answer, or prose with a list in it)."""
    text = content.strip()
    values: list[Any] | None = None
    rationale = ""
    try:
        values, rationale = _values_from_json(json.loads(text))
    except (json.JSONDecodeError, ValueError):
        values = None
    if values is None:
        values = extract_list(text)
    if values is None:
        if _STOP.search(text):
            return ParsedAnswer(stop=True, rationale=text[:500])
        return ParsedAnswer(error=(
            f"no list found in your answer; answer with a {answer_name(space)} of {len(space.positions)} "
            f"{space.value_kind}, for example {example_answer(space)}"))
    try:
        return ParsedAnswer(arch=space.validate(values), rationale=rationale)
    except InvalidArchitecture as exc:
        return ParsedAnswer(error=str(exc))
