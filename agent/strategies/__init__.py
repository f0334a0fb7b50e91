"""Search strategies behind one interface (see :class:`agent.strategies.base.Strategy`)."""

from __future__ import annotations

from agent.config import RunConfig
from agent.strategies.base import Strategy


def make_strategy(config: RunConfig) -> Strategy:
    """The strategy a configuration asks for."""
    if config.optimizer == "genius":
        if config.mode == "paper":
            from agent.strategies.paper import PaperStrategy

            return PaperStrategy()
        if config.mode == "agent":
            from agent.strategies.langchain_agent import LangChainAgentStrategy

            return LangChainAgentStrategy()
        from agent.strategies.assisted import AssistedStrategy

        return AssistedStrategy(config.assist)
    from agent.strategies.baselines import make_baseline

    return make_baseline(config)


__all__ = ["Strategy", "make_strategy"]
