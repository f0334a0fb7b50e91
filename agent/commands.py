"""What each CLI command does, once its arguments are parsed.

The commands that run the engine (search, resume, replay, compare) import it when they run; the ones that only
read the log (runs, show, verify, spaces, report) read folds through storage/runs.py and never load it, so they
start in a fraction of the time (benchmarks/startup.py).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import io
import json
import os
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

from rich.console import Console

from agent.flags import config_from_args
from agent.read.report import paper_table, run_document, runs_json, runs_table, space_info, summary_lines
from agent.read.ui import LivePresenter, PlainPresenter
from storage import DEFAULT_DB, EventLog, RunState, runs
from storage.hints import command_hint
from storage.log import VerifyReport
from tools.errors import UserError
from tools.spaces import get_space, list_spaces


class Terminated(KeyboardInterrupt):
    """SIGTERM, handled like Ctrl-C: the run is recorded as interrupted and the resume command printed."""


# The run id of the search started in this process, for the Ctrl-C hint.
_last_started: dict[str, str] = {}


def last_started_run() -> str | None:
    return _last_started.get("run_id")


def note_run_id(run_id: str, *, json_mode: bool) -> None:
    _last_started["run_id"] = run_id
    print(f"run {run_id}", file=sys.stderr if json_mode else sys.stdout, flush=True)


def print_json(doc: Any) -> None:
    sys.stdout.write(json.dumps(doc, indent=2, default=str) + "\n")


def _console() -> Console:
    # Pipes and files get a wide console: the paper-style table has 12 columns.
    return Console() if sys.stdout.isatty() else Console(width=200)


async def dispatch(args: argparse.Namespace) -> int:
    handler = HANDLERS[args.command]
    # SIGTERM ends a command as Ctrl-C does: the running command is cancelled (a search records its
    # interruption and stays resumable), then Terminated reaches the command line, which prints the hint.
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    terminated = False

    def on_sigterm() -> None:
        nonlocal terminated
        terminated = True
        if task is not None:
            task.cancel()

    # Not the main thread, or no signals on this platform: SIGTERM keeps its default.
    with contextlib.suppress(NotImplementedError, RuntimeError):
        loop.add_signal_handler(signal.SIGTERM, on_sigterm)
    try:
        return int(await handler(args))
    except asyncio.CancelledError:
        if terminated:
            raise Terminated() from None
        raise
    finally:
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.remove_signal_handler(signal.SIGTERM)


def _presenter(args: argparse.Namespace, trials: int, iterations: int) -> Any:
    if getattr(args, "json", False):
        return None
    if sys.stdout.isatty():
        return LivePresenter(trials=trials, iterations=iterations)
    return PlainPresenter(sys.stdout)


def _interrupted_exit(args: argparse.Namespace, state: RunState) -> int:
    """0 for a run that ended; for one that stopped because its model could not be reached, the cause and the
    command that continues it, and exit status 1."""
    if state.status != "interrupted":
        return 0
    db = getattr(args, "db", str(DEFAULT_DB))
    print(f"interrupted: {state.interrupt_reason}; once the endpoint is back, resume with: "
          f"{command_hint('resume', state.run_id, db=db)} (--base-url, --timeout and --rate-limit may change)",
          file=sys.stderr)
    return 1


def _next_commands(args: argparse.Namespace, state: RunState) -> dict[str, str]:
    """What to run next, quoted so that pasting it is safe."""
    db = getattr(args, "db", str(DEFAULT_DB))
    out = {"show": command_hint("show", state.run_id, db=db), "replay": command_hint("replay", state.run_id, db=db)}
    if state.status != "finished":
        out["resume"] = command_hint("resume", state.run_id, db=db)
    return out


def _print_result(args: argparse.Namespace, state: RunState, elapsed_s: float | None = None) -> None:
    if getattr(args, "json", False):
        print_json(run_document(state))
        return
    console = _console()
    optimum, size = space_info(state)
    console.print(paper_table(state, optimum=optimum))
    console.print(f"status {state.status}")
    for line in summary_lines(state, elapsed_s=elapsed_s, space_size=size,
                              commands=_next_commands(args, state)):
        console.print(line, highlight=False, markup=False)


async def cmd_search(args: argparse.Namespace) -> int:
    from agent.engine import orchestrator  # when it runs (module docstring)

    config = config_from_args(args)
    presenter = _presenter(args, config.trials, config.iterations)

    def started(run_id: str) -> None:
        note_run_id(run_id, json_mode=args.json)

    began = time.monotonic()
    if presenter is None:
        state = await orchestrator.start_run(config, db=args.db, run_id=args.run_id, on_run_id=started)
    else:
        with presenter:
            state = await orchestrator.start_run(config, db=args.db, run_id=args.run_id, listener=presenter,
                                                 on_run_id=started)
    _print_result(args, state, time.monotonic() - began)
    if not args.json and state.config.get("embedded_server") and state.config.get("embedded_runtime") == "auto":
        from agent.llm.native_server import build_would_help, find_build, no_build_message

        if find_build() is None and build_would_help():
            print(f"these cores have AVX-512, which the in-process llama.cpp leaves unused: {no_build_message()} "
                  "(once, minutes), and later runs read prompts faster")
    return _interrupted_exit(args, state)


async def cmd_resume(args: argparse.Namespace) -> int:
    from agent.engine import orchestrator  # when it runs (module docstring)

    before = await runs.load_run(args.run_id, db=args.db)
    if before.status == "finished" and not args.retry_failed:
        if not args.json:
            print(f"run {args.run_id} already finished; nothing to resume")
        _print_result(args, before)
        return 0
    presenter = _presenter(args, len(before.trials) or int(before.config.get("trials", 1)),
                           int(before.config.get("iterations", 10)))
    changes = {"base_url": args.base_url, "request_timeout_s": args.timeout, "rate_limit": args.rate_limit,
               "max_cost": args.max_cost, "max_tokens": args.max_tokens}
    if presenter is None:
        state = await orchestrator.resume_run(args.run_id, db=args.db, changes=changes,
                                              retry_failed=args.retry_failed)
    else:
        with presenter:
            state = await orchestrator.resume_run(args.run_id, db=args.db, listener=presenter, changes=changes,
                                                  retry_failed=args.retry_failed)
    _print_result(args, state)
    return _interrupted_exit(args, state)


async def cmd_replay(args: argparse.Namespace) -> int:
    from agent.engine import orchestrator  # when it runs (module docstring)

    original = await runs.load_run(args.run_id, db=args.db)
    if original.status in ("running", "created"):
        raise UserError(f"run {args.run_id} is still running (process {original.last_pid} on {original.last_host}); "
                        f"replay it once it has finished or been interrupted")
    replayed = await orchestrator.replay_run(args.run_id, db=args.db)
    same = run_document(original)["trials"] == run_document(replayed)["trials"]
    _print_result(args, replayed)
    if not args.json:
        print("replay matches the recorded run" if same else "replay DIFFERS from the recorded run")
    return 0 if same else 1


async def cmd_runs(args: argparse.Namespace) -> int:
    states = await runs.load_runs(db=args.db)
    if args.json:
        print_json(runs_json(states))
    else:
        _console().print(runs_table(states))
    return 0


async def cmd_show(args: argparse.Namespace) -> int:
    state = await runs.load_run(args.run_id, db=args.db)
    if args.csv:
        sys.stdout.write(evaluations_csv(state))
        return 0
    if args.plot:
        from agent.read.plots import plot_run

        plot_run(state, args.plot, optimum=space_info(state)[0])
    _print_result(args, state)
    return 0


def evaluations_csv(state: RunState) -> str:
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(["run_id", "trial", "iteration", "status", "arch", "key", "accuracy", "test_accuracy", "rank",
                "paper_rank", "params", "flops", "repeat", "attempts"])
    for n in sorted(state.trials):
        for it in state.trials[n].iterations:
            w.writerow([state.run_id, n, it.iteration, it.status, "" if it.arch is None else list(it.arch), it.key,
                        it.accuracy, it.test_accuracy, it.rank, it.paper_rank, it.params, it.flops, it.repeat,
                        it.attempts])
    return out.getvalue()


async def cmd_verify(args: argparse.Namespace) -> int:
    if args.db != ":memory:" and not os.path.exists(args.db):
        raise UserError(f"no event log at {args.db}; pass --db PATH")
    log = await EventLog.open(args.db, create=False, writable=False)
    try:
        report: VerifyReport = await log.verify()
    finally:
        await log.close()
    if report.ok:
        print(f"ok: {report.events} events, hash chain intact")
        if report.unended:
            print(f"{len(report.unended)} run(s) end without a finish or an interruption (killed, still running, or "
                  f"their newest events were lost): {', '.join(report.unended)}; `runs` shows which are running, "
                  "and `resume RUN` continues one")
        return 0
    print(f"TAMPERED: first bad seq {report.first_bad_seq}: {report.reason}")
    return 1


async def cmd_spaces(args: argparse.Namespace) -> int:
    rows = list_spaces(args.data_dir)
    if args.json:
        print_json(rows)
        return 0
    from rich.table import Table

    table = Table(title="search spaces")
    for col in ("name", "benchmark", "size", "choices", "searched / reported", "data"):
        table.add_column(col)
    for r in rows:
        positions = r["positions"]
        if len({tuple(p) for p in positions}) == 1:
            choices = f"{len(positions)} x {{{','.join(map(str, positions[0]))}}}"
        else:
            choices = f"{len(positions)} positions x {len(positions[0])} channel options"
        table.add_row(r["name"], r["benchmark"], str(r["size"]), choices,
                      f"{r['searched_metric']} / {r['reported_metric']}", "present" if r["data_present"] else "missing")
    _console().print(table)
    return 0


async def cmd_build_llama_server(args: argparse.Namespace) -> int:
    from agent.llm.native_server import build, find_build, reason_not_to_build

    if args.jobs is not None and args.jobs < 1:
        raise UserError("--jobs must be at least 1")
    if args.if_useful:
        reason = reason_not_to_build()
        if reason is not None:
            print(f"nothing to build: {reason}")
            return 0
    existing = find_build()
    if existing is not None:
        print(f"the build of {existing.manifest.get('built_at', '?')} at {existing.binary} serves until the new one "
              "is done")
    try:
        await asyncio.to_thread(build, jobs=args.jobs)
    except UserError as exc:
        if not args.if_useful:
            raise
        # --if-useful sits in the README's install line before the search: a build that fails must not stop the
        # search, which then runs on the in-process wheel as it would have without the build.
        print(f"not built: {exc}; the embedded model runs on the in-process wheel", file=sys.stderr)
    return 0


async def cmd_compare(args: argparse.Namespace) -> int:
    from agent.engine.compare import CompareSpec, parse_optimizers, run_compare
    from agent.read.comparison import compare_document, compare_tables

    optimizers = parse_optimizers(args.optimizers)
    base = config_from_args(args, optimizer=optimizers[0])
    # Progress goes to stderr under --json so that stdout stays one JSON document.
    out = sys.stderr if args.json else sys.stdout
    runs = await run_compare(CompareSpec(base=base, optimizers=optimizers, reuse=args.reuse), db=args.db,
                             note=lambda text: print(text, file=out, flush=True))
    size = get_space(base.space, base.data_dir).size
    doc, samples = compare_document([(r.label, r.state, r.reused) for r in runs], space=base.space, size=size,
                                    trials=base.trials, iterations=base.iterations, optimizers=optimizers,
                                    seed=base.seed or 0)
    if args.plot:
        from agent.read.plots import plot_compare

        plot_compare({s.label: s.curves for s in samples}, args.plot,
                     title=f"{args.space}: best-so-far rank per iteration, {args.trials} trials")
    if args.json:
        print_json(doc)
    else:
        console = _console()
        for table in compare_tables(doc):
            console.print(table)
    return 0


async def cmd_report(args: argparse.Namespace) -> int:
    from agent.read.html_report import render_report

    states = [await runs.load_run(run_id, db=args.db) for run_id in args.run_ids]
    page = render_report(states)
    try:
        with open(args.html, "w", encoding="utf-8") as fh:
            fh.write(page)
    except OSError as exc:
        raise UserError(f"cannot write {args.html}: {exc.strerror}; pass --html with a writable path") from exc
    print(f"wrote {args.html} ({len(states)} run{'s' if len(states) != 1 else ''})")
    return 0


# The command table: every command the parser knows, and the function that runs it.
HANDLERS: dict[str, Callable[[argparse.Namespace], Awaitable[int]]] = {
    "search": cmd_search,
    "resume": cmd_resume,
    "replay": cmd_replay,
    "runs": cmd_runs,
    "show": cmd_show,
    "verify": cmd_verify,
    "spaces": cmd_spaces,
    "compare": cmd_compare,
    "report": cmd_report,
    "build-llama-server": cmd_build_llama_server,
}
