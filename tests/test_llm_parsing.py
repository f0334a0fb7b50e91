"""extract_list: the first list in free model text."""

from __future__ import annotations

from typing import Any

import pytest

from agent.llm import extract_list


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[0, 1, 2, 1, 0, 2, 2, 1]", [0, 1, 2, 1, 0, 2, 2, 1]),
        ("Here is my proposal:\n```json\n[2, 2, 1, 0, 0, 1, 2, 2]\n```\nIt should do well.", [2, 2, 1, 0, 0, 1, 2, 2]),
        ("```python\nop_list = [3, 3, 1, 0]\n```", [3, 3, 1, 0]),
        ("op_list = [64, 128, 192, 256, 128, 512, 384] # channels", [64, 128, 192, 256, 128, 512, 384]),
        ("The [best] answer is [1, 2, 3] and [4, 5]", [1, 2, 3]),  # "[best]" does not parse: skipped
        ("[1, 2, 3,]", [1, 2, 3]),  # trailing comma
        ("['a', 'b']", ["a", "b"]),
        ("[[1, 2], [3, 4]] then more", [[1, 2], [3, 4]]),
        ('["x]y", 2]', ["x]y", 2]),  # a bracket inside a string does not end the list
        ("[true, None]", [True, None]),
        ("[]", []),
    ],
)
def test_extracts(text: str, expected: list[Any]) -> None:
    assert extract_list(text) == expected


@pytest.mark.parametrize("text", ["", "no list here", "[1, 2", "{'a': 1}", "[a, b]"])
def test_none_when_no_list(text: str) -> None:
    assert extract_list(text) is None
