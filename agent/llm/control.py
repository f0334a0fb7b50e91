"""The control model (``--llm control:random``): uniform random answers of the requested shape.

It stands where the language model stands, behind the same client, prompts, validation and feedback, and
answers every request with a uniform sample of the JSON schema it was asked for. A strategy run with it
measures what the pipeline does on its own; the difference to a real model is the model's own
contribution (benchmarks/search_quality.py). Sampling depends only on (seed, trial, call index), so runs
resume and replay exactly.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult

from agent.llm.scripted import CALL_METADATA_KEY, TRIAL_METADATA_KEY


def sample(schema: dict[str, Any], rng: random.Random) -> Any:
    """A uniform sample of the subset of JSON schema our answers use (enums, fixed arrays, objects)."""
    if "enum" in schema:
        return rng.choice(list(schema["enum"]))
    if "anyOf" in schema:  # a constrained tool call: one of the tools
        return sample(rng.choice(list(schema["anyOf"])), rng)
    kind = schema.get("type")
    if kind == "array":
        items: Sequence[dict[str, Any]] = schema.get("prefixItems") or [schema.get("items") or {}] * int(
            schema.get("minItems", 1))
        return [sample(item, rng) for item in items]
    if kind == "object":
        return {name: sample(sub, rng) for name, sub in (schema.get("properties") or {}).items()}
    if kind == "integer":
        return rng.randint(int(schema.get("minimum", 0)), int(schema.get("maximum", 9)))
    return ""


class RandomAnswerModel(BaseChatModel):
    """Answers with a uniform sample of the requested ``response_format`` JSON schema."""

    model_name: str = "control:random"

    @property
    def _llm_type(self) -> str:
        return "genius-control-random"

    def _answer(self, run_manager: Any, kwargs: dict[str, Any]) -> ChatResult:
        metadata = run_manager.metadata if run_manager is not None else {}
        key = f"{kwargs.get('seed')}:{metadata.get(TRIAL_METADATA_KEY, 0)}:{metadata.get(CALL_METADATA_KEY, 0)}"
        fmt = kwargs.get("response_format") or {}
        schema = (fmt.get("json_schema") or {}).get("schema") if isinstance(fmt, dict) else None
        content = json.dumps(sample(schema, random.Random(key))) if schema else "[]"
        tokens = max(1, len(content) // 4)
        message = AIMessage(content=content, usage_metadata={"input_tokens": 0, "output_tokens": tokens,
                                                             "total_tokens": tokens},
                            response_metadata={"model_name": self.model_name, "finish_reason": "stop"})
        return ChatResult(generations=[ChatGeneration(message=message)])

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                  run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any) -> ChatResult:
        return self._answer(run_manager, kwargs)

    async def _agenerate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                         run_manager: AsyncCallbackManagerForLLMRun | None = None, **kwargs: Any) -> ChatResult:
        return self._answer(run_manager, kwargs)
