"""What LLM calls cost, and the budget that stops new ones.

There is one ledger of what a run spent: the fold of its log (:class:`storage.fold.RunState` sums the tokens
and cost of every recorded call, across every execution). The client keeps no count of its own; the trial
checks the budget against the fold before it makes a call (:meth:`agent.engine.context.TrialContext.llm_effect`).
"""

from __future__ import annotations

from agent.llm.errors import BudgetExhausted


def price(prompt_tokens: int, completion_tokens: int, prompt_per_1k: float, completion_per_1k: float) -> float:
    """The cost of some token use at prices per 1,000 tokens."""
    return (prompt_tokens * prompt_per_1k + completion_tokens * completion_per_1k) / 1000.0


def check_budget(*, cost: float, tokens: int, max_cost: float | None, max_tokens: int | None) -> None:
    """Raise :class:`BudgetExhausted` when what the run spent (``cost``, ``tokens``) reaches its budget.

    Checked when a call starts: calls already in flight finish (and are paid for), so the final total can
    exceed the budget by at most what the concurrent calls used (one call per parallel trial).
    """
    if max_cost is not None and cost >= max_cost:
        raise BudgetExhausted(f"LLM cost budget spent: ${cost:.4f} of ${max_cost:.4f}; no new calls")
    if max_tokens is not None and tokens >= max_tokens:
        raise BudgetExhausted(f"LLM token budget spent: {tokens} of {max_tokens} tokens; no new calls")
