"""The LangChain agent's middleware: the journal (every model and tool call through the event log), the search's
control (budget, turn limit, nudges) and the help small models need (one question per position)."""

from __future__ import annotations

from agent.engine.middleware.control import SearchControl
from agent.engine.middleware.journal import JournalMiddleware
from agent.engine.middleware.small_model import PositionQuestionsMiddleware

__all__ = ["JournalMiddleware", "PositionQuestionsMiddleware", "SearchControl"]
