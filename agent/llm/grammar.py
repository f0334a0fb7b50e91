"""Exact llama.cpp grammars for answers the server's own JSON-schema grammar serves badly.

llama.cpp turns a ``json_schema`` response format into a grammar that allows whitespace before and after
the value. Asked for one of a few strings ("conv3x3"), the 1.5B model spent that freedom: 27 of the 627
answers of a NAS-Bench-201 search were only spaces and newlines, cut at the token cap and asked again, and
recorded questions sent again took 8.2 generated tokens per answer against 5.8 under the exact grammar below
(benchmarks/answer_grammar.py; docs/models.md). llama.cpp has no switch for that whitespace, and
no library writes GBNF for a JSON string enum, so this module does; it is the only grammar we write.
"""

from __future__ import annotations

import json
from typing import Any


def string_enum(schema: dict[str, Any]) -> list[str] | None:
    """The values of ``schema`` when it asks for exactly one string out of a list, else None."""
    values = schema.get("enum")
    if schema.get("type") != "string" or not isinstance(values, list) or not values:
        return None
    if set(schema) - {"type", "enum", "description", "title"}:
        return None
    return [str(v) for v in values] if all(isinstance(v, str) for v in values) else None


def _gbnf_literal(text: str) -> str:
    """``text`` as a GBNF string literal."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r")
    return f'"{escaped}"'


def enum_grammar(values: list[str]) -> str:
    """A GBNF grammar whose only sentences are the JSON encodings of ``values`` (``"conv3x3"``), with no
    whitespace around them: the reply is then exactly what the ``json_schema`` answer would be, parsed the
    same way."""
    if not values:
        raise ValueError("enum_grammar needs at least one value")
    return "root ::= " + " | ".join(_gbnf_literal(json.dumps(v, ensure_ascii=False)) for v in values)


def embedded_answer_format(schema: dict[str, Any]) -> dict[str, Any]:
    """The request fields that constrain an answer to ``schema`` on our llama.cpp server, as the client sends
    them there: an exact grammar for one string out of a list, else the strict ``json_schema`` format (for the
    scripts in benchmarks/ that talk to the server directly)."""
    values = string_enum(schema)
    if values is not None:
        return {"grammar": enum_grammar(values)}
    return {"response_format": {"type": "json_schema", "json_schema": {"name": "answer", "strict": True,
                                                                       "schema": schema}}}
