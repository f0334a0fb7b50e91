"""The event log: schema, append, read, fold into state, verify, and the journal for durable execution."""

from storage.errors import (
    DivergenceError,
    IntegrityBug,
    NewerSchemaError,
    NotAnEventLog,
    ReplayMissingEffect,
    StorageError,
    UnknownRunError,
)
from storage.events import Event, StoredEvent
from storage.fold import IterationState, RunState, TrialState, fold_all, fold_run
from storage.journal import EffectFailed, Journal, MemorySink, TrialJournal
from storage.log import DEFAULT_DB, EventLog, VerifyReport

__all__ = [
    "DEFAULT_DB",
    "DivergenceError",
    "EffectFailed",
    "Event",
    "EventLog",
    "IntegrityBug",
    "IterationState",
    "Journal",
    "MemorySink",
    "NewerSchemaError",
    "NotAnEventLog",
    "ReplayMissingEffect",
    "RunState",
    "StorageError",
    "StoredEvent",
    "TrialJournal",
    "TrialState",
    "UnknownRunError",
    "VerifyReport",
    "fold_all",
    "fold_run",
]
