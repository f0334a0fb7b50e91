"""The run's shared client as a LangChain chat model, for ``langchain.agents.create_agent``.

The agent's graph calls a ``BaseChatModel``; this one hands every call to the run's one
:class:`~agent.llm.client.LLMClient` (rate limit, concurrency cap, the only retry layer, usage), so an agent
trial and a paper-loop trial reach the endpoint by the same path. What the graph binds (tools,
``tool_choice``) and what middleware puts in ``model_settings`` (temperature, seed, an answer schema, the
trial and call index) arrive here as call keyword arguments.

The client's :class:`~agent.llm.reply.LLMReply` travels back in ``response_metadata["genius_reply"]``, so the
journal middleware records exactly what the client returned (tokens, latency, failed attempts).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables import Runnable
from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import ConfigDict

from agent.llm.messages import from_langchain, to_ai_message
from agent.llm.reply import LLMReply

REPLY_METADATA_KEY = "genius_reply"


class NoModelError(RuntimeError):
    """The agent asked the model for something the log did not hold during a replay (a bug: the journal
    middleware serves every replayed call from the log)."""


class RunChatModel(BaseChatModel):
    """``client``: the run's LLMClient, or None where no call may be made (replay)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    client: Any = None
    model_name: str = "genius"

    @property
    def _llm_type(self) -> str:
        return "genius-run-client"

    def bind_tools(
        self,
        tools: Sequence[dict[str, Any] | type | Callable[..., Any] | BaseTool],
        *,
        tool_choice: str | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """Tools in OpenAI form; the client binds them natively or asks for a constrained tool call."""
        return self.bind(tools=[convert_to_openai_tool(t) for t in tools], tool_choice=tool_choice, **kwargs)

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                  run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any) -> ChatResult:
        raise NotImplementedError("the run's chat model is async only: use ainvoke")

    async def _agenerate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                         run_manager: AsyncCallbackManagerForLLMRun | None = None, **kwargs: Any) -> ChatResult:
        if self.client is None:
            raise NoModelError("no language model in this execution (replay serves every call from the log)")
        reply: LLMReply = await self.client.chat(
            from_langchain(messages),
            trial=int(kwargs.get("trial", 0)),
            temperature=float(kwargs.get("temperature", 0.0)),
            answer_schema=kwargs.get("answer_schema"),
            tools=kwargs.get("tools") or None,
            seed=kwargs.get("seed"),
            max_tokens=kwargs.get("max_tokens"),
            call_index=kwargs.get("call_index"),
        )
        message = to_ai_message(reply.to_json())
        message.response_metadata[REPLY_METADATA_KEY] = reply.to_json()
        return ChatResult(generations=[ChatGeneration(message=message)])
