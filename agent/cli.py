"""The command line: parse, configure logging, run the command, turn what went wrong into one line. Thin by design:
the flags are agent/flags.py, each command is agent/commands.py."""

from __future__ import annotations

import asyncio
import functools
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from agent import commands
from agent.flags import COMMANDS, build_parser
from agent.llm.diagnostics import get_logger
from agent.llm.errors import BudgetExhausted
from agent.llm.redact import scrub
from agent.logs import configure_logging, details_hint
from storage import DEFAULT_DB
from storage.hints import command_hint
from tools.errors import GeniusError, UserError


def _log_file(db: str) -> Path:
    return Path(db).resolve().parent / "genius.log" if db != ":memory:" else Path("runs") / "genius.log"


# Exit status of a search that stopped at its --max-cost/--max-tokens budget (a normal end, resumable).
BUDGET_EXIT = 3

# Commands that only read the log: they create no file and no directory, genius.log included.
READ_ONLY_COMMANDS = ("replay", "runs", "show", "verify", "spaces", "report")
# Commands that read folds and run nothing: they log only when they fail, so their logging (structlog: 0.14 s to
# import) is set up then, and they start in a fraction of the time (benchmarks/startup.py).
QUICK_COMMANDS = ("runs", "show", "verify", "spaces", "report")


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list and args_list[0] not in COMMANDS and args_list[0] not in ("-h", "--help"):
        args_list.insert(0, "search")
    elif not args_list:
        args_list = ["--help"]
    parser = build_parser()
    args = parser.parse_args(args_list)
    db = getattr(args, "db", str(DEFAULT_DB))

    @functools.cache  # logging is set up once, by the first caller
    def logger() -> Any:
        configure_logging(_log_file(db), quiet=getattr(args, "json", False),
                          create=args.command not in READ_ONLY_COMMANDS)
        return get_logger("genius")

    if args.command not in QUICK_COMMANDS:
        logger()
    try:
        return asyncio.run(commands.dispatch(args))
    except KeyboardInterrupt as exc:
        run_id = getattr(args, "run_id", None) or commands.last_started_run()
        hint = f"; resume with: {command_hint('resume', run_id, db=db)}" if run_id else ""
        terminated = isinstance(exc, commands.Terminated)
        print(f"{'terminated' if terminated else 'interrupted'}{hint}", file=sys.stderr)
        return 143 if terminated else 130
    except BudgetExhausted as exc:
        # The run did what it was asked: stop at the budget. Not an error; resumable with a larger budget.
        run_id = getattr(args, "run_id", None) or commands.last_started_run()
        which = "--max-tokens N" if "token" in str(exc) else "--max-cost X"
        hint = f"; continue with a larger budget: {command_hint('resume', run_id, *which.split(), db=db)}" \
            if run_id else ""
        print(f"budget reached: {exc}{hint}", file=sys.stderr)
        return BUDGET_EXIT
    except UserError as exc:
        print(f"error: {scrub(str(exc))}", file=sys.stderr)
        return exc.exit_code
    except GeniusError as exc:
        logger().error("command failed", command=args.command, error=f"{type(exc).__name__}: {exc}", stderr=False)
        print(f"error: {scrub(str(exc))} ({details_hint()})", file=sys.stderr)
        return exc.exit_code
    except Exception as exc:  # a bug: say where the details are
        logger().exception("unexpected failure", command=args.command, stderr=False)
        print(f"error: {type(exc).__name__}: {scrub(str(exc))} ({details_hint()})", file=sys.stderr)
        return 1
