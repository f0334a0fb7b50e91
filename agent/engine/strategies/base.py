"""The strategy interface and the propose-validate-retry step that every LLM strategy shares."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from agent.engine.answers import ParsedAnswer
from agent.engine.context import TrialContext
from prompts import render
from storage.journal import EffectFailed
from storage.payloads import FailureCause
from tools.evaluation import Arch


class Strategy(Protocol):
    """A search strategy: runs one trial inside its context until the budget is spent or it stops."""

    name: str

    async def run(self, ctx: TrialContext) -> None: ...


@dataclass
class Proposal:
    """The outcome of asking the model for one architecture."""

    arch: Arch | None = None
    stop: bool = False
    failed: str = ""  # why no usable answer came (after all attempts, or the call failed), in words
    cause: FailureCause = "other"  # the same as a value, when ``failed`` is set
    llm_failure: EffectFailed | None = None  # the recorded failure of the LLM call, when that is why
    attempts: int = 0
    reply: str = ""
    messages: list[dict[str, Any]] = field(default_factory=list)  # the conversation including the reply


def answer_format(ctx: TrialContext, *, with_rationale: bool = False) -> dict[str, Any] | None:
    """The JSON schema to ask for, when the run uses structured output."""
    if not ctx.config.structured_output:
        return None
    schema = ctx.view.answer_schema()
    if not with_rationale:
        return schema
    return {
        "type": "object",
        "properties": {"rationale": {"type": "string", "maxLength": 600}, "op_list": schema},
        "required": ["rationale", "op_list"],
        "additionalProperties": False,
    }


async def ask_for_arch(ctx: TrialContext, messages: list[dict[str, Any]], *, schema: dict[str, Any] | None,
                       temperature: float | None = None, max_tokens: int | None = None) -> Proposal:
    """Ask until the answer is a valid architecture, at most ``max_attempts`` times per iteration.

    Each unusable answer is recorded and sent back with the validation message, so the model can fix it.
    """
    convo = list(messages)
    last = ""
    if max_tokens is None and schema is not None:
        # A grammar-constrained answer is short; the cap stops a weak model padding it with whitespace.
        max_tokens = 320 if schema.get("type") == "array" else 700
    for attempt in range(1, ctx.config.max_attempts + 1):
        try:
            reply = await ctx.ask(convo, answer_schema=schema, temperature=temperature, max_tokens=max_tokens)
        except EffectFailed as exc:
            return Proposal(failed=f"LLM call failed: {exc.message}", cause="llm", attempts=attempt, messages=convo,
                            llm_failure=exc)
        content = str(reply.get("content") or "")
        last = content
        parsed: ParsedAnswer = ctx.view.parse(content)
        convo_with_reply = [*convo, {"role": "assistant", "content": content}]
        kind = "invalid"
        if parsed.arch is not None:
            violation = ctx.constraint_violation(parsed.arch)
            if violation is None:
                return Proposal(arch=parsed.arch, attempts=attempt, reply=content, messages=convo_with_reply)
            kind, message = "constraint", violation
        elif parsed.stop:
            return Proposal(stop=True, attempts=attempt, reply=content, messages=convo_with_reply)
        else:
            message = parsed.error or "unusable answer"
        await ctx.reject(kind=kind, answer=content, message=message, attempt=attempt)
        convo = [*convo_with_reply, {"role": "user", "content": render(
            "paper/invalid_answer", error=message, answer_name=ctx.view.answer_name)}]
    return Proposal(failed=f"no valid answer in {ctx.config.max_attempts} attempts", cause="no_valid_answer",
                    attempts=ctx.config.max_attempts, reply=last, messages=convo)
