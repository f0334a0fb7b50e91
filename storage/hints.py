"""Commands printed for a user to run next: shell-quoted, so that pasting one is safe, and complete."""

from __future__ import annotations

import re
import shlex

from storage import DEFAULT_DB
from storage.errors import UserError

# Run ids: letters, digits, '.', '_' and '-', not starting with '-' (it would read as an option), at most 128.
RUN_ID = re.compile(r"[A-Za-z0-9_.][A-Za-z0-9_.-]{0,127}")


def check_run_id(run_id: str) -> str:
    """``run_id`` if it follows :data:`RUN_ID`, else a UserError with the rule."""
    if not RUN_ID.fullmatch(run_id):
        raise UserError(f"--run-id {run_id!r} is not allowed: use 1-128 letters, digits, '.', '_' or '-', not "
                        "starting with '-'")
    return run_id


def command_hint(*words: str, db: str) -> str:
    """``python run_agent.py WORDS [--db DB]``, every word shell-quoted; ``--db`` named when not the default."""
    tail = ("--db", db) if db != str(DEFAULT_DB) else ()
    return shlex.join(["python", "run_agent.py", *words, *tail])
