"""Token and cost accounting for one client, and the budget that stops new calls."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from agent.llm.errors import BudgetExhausted


def price(prompt_tokens: int, completion_tokens: int, prompt_per_1k: float, completion_per_1k: float) -> float:
    """The cost of some token use at prices per 1,000 tokens."""
    return (prompt_tokens * prompt_per_1k + completion_tokens * completion_per_1k) / 1000.0


@dataclass
class UsageMeter:
    """Running totals over a client's life; prices are per 1,000 tokens."""

    price_prompt_per_1k: float = 0.0
    price_completion_per_1k: float = 0.0
    max_cost: float | None = None
    max_tokens: int | None = None
    calls: int = 0
    failed_calls: int = 0
    retries: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def cost(self) -> float:
        return price(self.prompt_tokens, self.completion_tokens, self.price_prompt_per_1k,
                     self.price_completion_per_1k)

    def record(self, prompt_tokens: int, completion_tokens: int) -> None:
        self.calls += 1
        self.prompt_tokens += prompt_tokens
        self.completion_tokens += completion_tokens

    def check_budget(self) -> None:
        """Raise :class:`BudgetExhausted` when the cost or token budget is spent.

        Checked when a call starts: calls already in flight finish (and are paid for), so the final
        total can exceed the budget by at most what the concurrent calls used.
        """
        if self.max_cost is not None and self.cost >= self.max_cost:
            raise BudgetExhausted(f"LLM cost budget spent: ${self.cost:.4f} of ${self.max_cost:.4f}; no new calls")
        used = self.prompt_tokens + self.completion_tokens
        if self.max_tokens is not None and used >= self.max_tokens:
            raise BudgetExhausted(f"LLM token budget spent: {used} of {self.max_tokens} tokens; no new calls")

    def as_dict(self) -> dict[str, Any]:
        return {
            "calls": self.calls,
            "failed_calls": self.failed_calls,
            "retries": self.retries,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "cost": round(self.cost, 6),
        }
