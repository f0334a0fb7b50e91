"""The LLM layer: model specs, the shared rate-limited client, embedded and scripted models.

Public interface::

    spec = parse_llm_spec("embedded:qwen-1.5b")
    client = await LLMClient.open(spec, LLMSettings(rate_limit=5))
    reply = await client.chat([{"role": "user", "content": "..."}], trial=0, answer_schema=schema)
    await client.aclose()
"""

from __future__ import annotations

from typing import Any

from agent.llm.errors import (
    BudgetExhausted,
    LLMAuthError,
    LLMCallFailed,
    LLMSpecError,
    ModelIntegrityError,
    ModelPackageMissing,
    ScriptExhausted,
)
from agent.llm.parsing import extract_list
from agent.llm.redact import redact_processor
from agent.llm.reply import LLMReply
from agent.llm.spec import DEFAULT_SPEC, LLMSpec, parse_llm_spec


def __getattr__(name: str) -> Any:
    # The client imports langchain and openai (about 1.4 s): commands that show runs never need it, so it is
    # imported when first asked for rather than with the package.
    if name in ("LLMClient", "LLMSettings"):
        from agent.llm import client

        return getattr(client, name)
    raise AttributeError(f"module 'agent.llm' has no attribute {name!r}")


__all__ = [
    "DEFAULT_SPEC",
    "BudgetExhausted",
    "LLMAuthError",
    "LLMCallFailed",
    "LLMClient",
    "LLMReply",
    "LLMSettings",
    "LLMSpec",
    "LLMSpecError",
    "ModelIntegrityError",
    "ModelPackageMissing",
    "ScriptExhausted",
    "extract_list",
    "parse_llm_spec",
    "redact_processor",
]
