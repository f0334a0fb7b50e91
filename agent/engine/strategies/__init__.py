"""Search strategies behind one interface (see :class:`agent.engine.strategies.base.Strategy`)."""

from __future__ import annotations

from agent.engine.config import RunConfig
from agent.engine.strategies.base import Strategy


def make_strategy(config: RunConfig) -> Strategy:
    """The strategy a configuration asks for."""
    if config.optimizer == "genius":
        if config.mode == "paper":
            from agent.engine.strategies.paper import PaperStrategy

            return PaperStrategy()
        if config.mode == "agent":
            from agent.engine.strategies.langchain_agent import LangChainAgentStrategy

            return LangChainAgentStrategy()
        from agent.engine.strategies.assisted import AssistedStrategy

        return AssistedStrategy(config.assist)
    from agent.engine.strategies.baselines import make_baseline

    return make_baseline(config)


__all__ = ["Strategy", "make_strategy"]
