"""Reading a list out of free model text, for servers that cannot be held to a JSON schema.

Small models wrap the answer in prose, code fences, ``op_list = [...]`` assignments or trailing
remarks. :func:`extract_list` finds the first bracketed list that parses; whether the list is a valid
architecture is the search space's business, not ours.
"""

from __future__ import annotations

import ast
import json
import re
from typing import Any

# Python-isms small models write inside lists; mapped to JSON before json.loads.
_PY_LITERALS = re.compile(r"\b(True|False|None)\b")
_PY_TO_JSON = {"True": "true", "False": "false", "None": "null"}


def _candidates(text: str) -> list[str]:
    """Every balanced ``[...]`` span, outermost first, in order of appearance."""
    spans: list[str] = []
    depth = 0
    start = -1
    in_string: str | None = None
    escaped = False
    for i, ch in enumerate(text):
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == in_string:
                in_string = None
            continue
        if ch in "\"'" and depth > 0:
            in_string = ch
        elif ch == "[":
            if depth == 0:
                start = i
            depth += 1
        elif ch == "]" and depth > 0:
            depth -= 1
            if depth == 0:
                spans.append(text[start : i + 1])
    return spans


def _parse(span: str) -> list[Any] | None:
    try:
        value = json.loads(span)
    except ValueError:
        try:
            value = json.loads(_PY_LITERALS.sub(lambda m: _PY_TO_JSON[m.group(0)], span))
        except ValueError:
            try:
                # Single quotes, trailing commas: Python's literal syntax accepts what JSON refuses.
                value = ast.literal_eval(span)
            except (ValueError, SyntaxError, MemoryError, RecursionError):
                return None
    return list(value) if isinstance(value, list | tuple) else None


def extract_list(text: str) -> list[Any] | None:
    """The first list in ``text`` that parses as JSON (or a Python literal), else ``None``.

    Tolerates prose around it, Markdown code fences, assignments such as ``op_list = [3, 3, 1]``,
    trailing text, single quotes and trailing commas. Nested lists come back nested.
    """
    for span in _candidates(text):
        value = _parse(span)
        if value is not None:
            return value
    return None
