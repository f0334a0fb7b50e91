"""Exact llama.cpp grammars for answers the server's own JSON-schema grammar serves badly.

llama.cpp turns a ``json_schema`` response format into a grammar that allows whitespace before and after
the value. Asked for one of a few strings ("conv3x3"), the 1.5B model spent that freedom: 27 of the 627
answers of a NAS-Bench-201 search were only spaces and newlines, cut at the token cap and asked again, and
recorded questions sent again took 8.2 generated tokens per answer against 5.8 under the exact grammar below
(benchmarks/answer_grammar.py; docs/models.md). llama.cpp has no switch for that whitespace, and
no library writes GBNF for a JSON enum, so this module does; it is the only grammar we write. Integers out of
a list take it too, and under it a reply is decided by its first characters (:func:`decided_after`), which
the client uses to stop generation early.
"""

from __future__ import annotations

import json
from typing import Any


def enum_literals(schema: dict[str, Any]) -> list[str] | None:
    """The JSON texts of ``schema``'s values (``"conv3x3"``, ``128``) when it asks for exactly one string or
    one integer out of a list, else None."""
    values = schema.get("enum")
    if schema.get("type") not in ("string", "integer") or not isinstance(values, list) or not values:
        return None
    if set(schema) - {"type", "enum", "description", "title"}:
        return None
    kind = str if schema["type"] == "string" else int
    if not all(isinstance(v, kind) and not isinstance(v, bool) for v in values):
        return None
    return [json.dumps(v, ensure_ascii=False) for v in values]


def decided_after(literals: list[str]) -> int | None:
    """How many characters of a reply under :func:`literal_grammar` (``literals``) name its value for certain:
    the longest of the values' shortest prefixes that no other value shares. None where that cannot be read
    from a prefix: one literal is a prefix of another (only the reply's end tells them apart), or a literal
    is not ASCII (a token may then carry part of a character)."""
    if not literals or not all(text.isascii() for text in literals):
        return None
    longest = 0
    for text in literals:
        if any(other != text and other.startswith(text) for other in literals):
            return None
        longest = max(longest, next(k for k in range(1, len(text) + 1)
                                    if sum(other.startswith(text[:k]) for other in literals) == 1))
    return longest


def completed(reply: str, literals: list[str]) -> str | None:
    """The one literal that ``reply`` (cut off after :func:`decided_after` tokens) begins, else None."""
    matches = [text for text in literals if reply and text.startswith(reply)]
    return matches[0] if len(matches) == 1 else None


def _gbnf_literal(text: str) -> str:
    """``text`` as a GBNF string literal."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r")
    return f'"{escaped}"'


def literal_grammar(literals: list[str]) -> str:
    """A GBNF grammar whose only sentences are ``literals`` (JSON texts, :func:`enum_literals`), with no
    whitespace around them."""
    if not literals:
        raise ValueError("literal_grammar needs at least one literal")
    return "root ::= " + " | ".join(_gbnf_literal(text) for text in literals)


def embedded_answer_format(schema: dict[str, Any]) -> dict[str, Any]:
    """The request fields that constrain an answer to ``schema`` on our llama.cpp server, as the client sends
    them there: an exact grammar for one string out of a list, else the strict ``json_schema`` format (for the
    scripts in benchmarks/ that talk to the server directly)."""
    literals = enum_literals(schema)
    if literals is not None:
        return {"grammar": literal_grammar(literals)}
    return {"response_format": {"type": "json_schema", "json_schema": {"name": "answer", "strict": True,
                                                                       "schema": schema}}}


def embedded_answer_request(schema: dict[str, Any], max_tokens: int, *, whole: bool = False) -> dict[str, Any]:
    """:func:`embedded_answer_format` and the ``max_tokens`` the client sends with it: the tokens that decide
    a one-value answer (:func:`decided_after`), unless ``whole`` asks for the answer to its end."""
    literals = enum_literals(schema)
    decided = decided_after(literals) if literals is not None and not whole else None
    return {**embedded_answer_format(schema), "max_tokens": min(max_tokens, decided or max_tokens)}
