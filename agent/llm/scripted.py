"""The scripted model: canned replies from a JSON file, in-process, for tests and demos.

File format: a JSON list of replies given in order to *every* trial, or a list of lists, one per trial
(trial numbers index it from 0). A reply is a string, or ``{"content": str, "tool_calls": [{"name",
"args"}]}`` so tool-using agents can be scripted too. A trial that asks for more replies than its
script holds gets :class:`~agent.llm.errors.ScriptExhausted`, never a hang.

It is a LangChain ``BaseChatModel``, so it runs through the same client code as ChatOpenAI: it accepts
``bind_tools`` and ignores ``response_format``, ``temperature`` and friends.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.messages.tool import ToolCall
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables import Runnable
from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import PrivateAttr

from agent.llm.errors import LLMSpecError, ScriptExhausted

# Key in the run config's metadata under which the client passes the trial number.
TRIAL_METADATA_KEY = "genius_trial"
# Key under which the client passes the index of the call within its trial (see LLMClient.chat).
CALL_METADATA_KEY = "genius_call"


def _check_reply(reply: Any, where: str) -> None:
    if isinstance(reply, str):
        return
    if not isinstance(reply, dict) or not isinstance(reply.get("content", ""), str):
        raise LLMSpecError(f'{where}: a reply is a string or {{"content": str, "tool_calls": [...]}}')
    for tc in reply.get("tool_calls", []):
        if not isinstance(tc, dict) or not isinstance(tc.get("name"), str) or not isinstance(tc.get("args", {}), dict):
            raise LLMSpecError(f'{where}: a tool call is {{"name": str, "args": {{...}}}}')


def load_script(path: Path) -> tuple[list[Any] | None, list[list[Any]] | None]:
    """``(shared, per_trial)`` from a script file: exactly one of the two is set."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise LLMSpecError(f"script file {str(path)!r} not found: check the path in --llm scripted:FILE.json") from None
    except (OSError, ValueError) as e:
        raise LLMSpecError(f"script file {str(path)!r} is not readable JSON ({e}); fix the file") from None
    if not isinstance(data, list) or not data:
        raise LLMSpecError(f"script file {str(path)!r}: expected a non-empty JSON list of replies, or of lists")
    if all(isinstance(item, list) for item in data):
        for t, replies in enumerate(data):
            for i, reply in enumerate(replies):
                _check_reply(reply, f"{path} trial {t} reply {i}")
        return None, data
    for i, reply in enumerate(data):
        _check_reply(reply, f"{path} reply {i}")
    return data, None


def _approx_tokens(text: str) -> int:
    # No tokenizer here; ~4 characters per token keeps budgets and usage figures meaningful.
    return max(1, len(text) // 4) if text else 0


class ScriptedChatModel(BaseChatModel):
    """Replies from a script, per trial, in order. Build it with :meth:`from_file` or directly."""

    shared: list[Any] | None = None
    per_trial: list[list[Any]] | None = None
    model_name: str = "scripted"
    _next: dict[int, int] = PrivateAttr(default_factory=dict)

    @classmethod
    def from_file(cls, path: Path) -> ScriptedChatModel:
        shared, per_trial = load_script(path)
        return cls(shared=shared, per_trial=per_trial, model_name=f"scripted:{path.name}")

    @property
    def _llm_type(self) -> str:
        return "genius-scripted"

    def bind_tools(
        self,
        tools: Sequence[dict[str, Any] | type | Callable[..., Any] | BaseTool],
        *,
        tool_choice: str | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """Accept tools like a real chat model does; the script decides which calls to make."""
        return self.bind(tools=[convert_to_openai_tool(t) for t in tools], **kwargs)

    def _replies_for(self, trial: int) -> list[Any]:
        if self.per_trial is None:
            return self.shared or []
        if not 0 <= trial < len(self.per_trial):
            raise ScriptExhausted(
                f"{self.model_name}: no script for trial {trial} (the file has {len(self.per_trial)} "
                "trial lists, numbered from 0); add lists or run fewer trials"
            )
        return self.per_trial[trial]

    def _next_message(self, messages: list[BaseMessage], trial: int, call: int | None = None) -> AIMessage:
        replies = self._replies_for(trial)
        # The call index from the caller makes the reply a function of (trial, call): a resumed trial,
        # whose earlier calls came from the log, gets the reply the uninterrupted run got.
        index = self._next.get(trial, 0) if call is None else call
        if index >= len(replies):
            raise ScriptExhausted(
                f"{self.model_name}: trial {trial} asked for reply {index + 1} but its script has "
                f"{len(replies)}; lengthen the script"
            )
        self._next[trial] = index + 1
        reply = replies[index]
        content = reply if isinstance(reply, str) else reply.get("content", "")
        calls = [] if isinstance(reply, str) else reply.get("tool_calls", [])
        tool_calls = [
            ToolCall(name=tc["name"], args=dict(tc.get("args", {})), id=f"call_{trial}_{index}_{j}", type="tool_call")
            for j, tc in enumerate(calls)
        ]
        prompt = "".join(m.content if isinstance(m.content, str) else json.dumps(m.content) for m in messages)
        completion = content + "".join(json.dumps(tc) for tc in calls)
        prompt_tokens, completion_tokens = _approx_tokens(prompt), _approx_tokens(completion)
        return AIMessage(
            content=content,
            tool_calls=tool_calls,
            usage_metadata={
                "input_tokens": prompt_tokens,
                "output_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
            response_metadata={"model_name": self.model_name, "finish_reason": "tool_calls" if calls else "stop"},
        )

    @staticmethod
    def _trial(run_manager: CallbackManagerForLLMRun | AsyncCallbackManagerForLLMRun | None) -> int:
        metadata = run_manager.metadata if run_manager is not None else {}
        return int(metadata.get(TRIAL_METADATA_KEY, 0))

    @staticmethod
    def _call(run_manager: CallbackManagerForLLMRun | AsyncCallbackManagerForLLMRun | None) -> int | None:
        metadata = run_manager.metadata if run_manager is not None else {}
        call = metadata.get(CALL_METADATA_KEY)
        return None if call is None else int(call)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        message = self._next_message(messages, self._trial(run_manager), self._call(run_manager))
        return ChatResult(generations=[ChatGeneration(message=message)])

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        # No await before the counter update: concurrent trials cannot take the same reply.
        message = self._next_message(messages, self._trial(run_manager), self._call(run_manager))
        return ChatResult(generations=[ChatGeneration(message=message)])
