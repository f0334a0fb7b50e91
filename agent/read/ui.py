"""Showing a run while it runs: a rich live view on a terminal, plain lines otherwise."""

from __future__ import annotations

import sys
from typing import Any, TextIO

from rich.console import Console, Group
from rich.live import Live
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from storage.events import StoredEvent
from storage.fold import TrialState


class PlainPresenter:
    """One line per iteration on a stream (for logs and pipes)."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout

    def __call__(self, trial: int, event: StoredEvent, state: TrialState) -> None:
        p = event.payload
        if event.type == "iteration.completed":
            ev = p.get("evaluation") or {}
            best = state.best()
            if p.get("status") == "ok":
                line = (f"trial {trial} T={p['iteration']}: {p.get('arch')} acc {ev.get('accuracy'):.2f} "
                        f"rank {ev.get('rank')}{' (repeat)' if p.get('repeat') else ''}"
                        f" | best {best.accuracy if best else 0:.2f} rank {best.rank if best else '-'}")
            else:
                line = f"trial {trial} T={p['iteration']}: {p.get('status')} ({p.get('reason')})"
            print(line, file=self.stream, flush=True)
        elif event.type == "trial.finished":
            print(f"trial {trial} {p.get('status')}{': ' + p['reason'] if p.get('reason') else ''}",
                  file=self.stream, flush=True)

    def __enter__(self) -> PlainPresenter:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


class LivePresenter:
    """A live table (per trial: iteration, last proposal, accuracy, rank, best) and a progress bar."""

    def __init__(self, *, trials: int, iterations: int, console: Console | None = None) -> None:
        self.console = console or Console()
        self.rows: dict[int, dict[str, Any]] = {t: {} for t in range(trials)}
        self.tokens = 0
        self.progress = Progress(TextColumn("[bold]search"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                                 TextColumn("{task.fields[tokens]} tokens"), console=self.console)
        self.task = self.progress.add_task("search", total=trials * iterations, tokens=0)
        self.live = Live(self._render(), console=self.console, refresh_per_second=4, transient=False)

    def _render(self) -> Group:
        table = Table(show_header=True, header_style="bold")
        for col in ("trial", "T", "last proposal", "acc", "rank", "best acc", "best rank", "status"):
            table.add_column(col)
        for t, row in self.rows.items():
            table.add_row(str(t), str(row.get("T", "")), str(row.get("arch", "")), str(row.get("acc", "")),
                          str(row.get("rank", "")), str(row.get("best_acc", "")), str(row.get("best_rank", "")),
                          str(row.get("status", "waiting")))
        return Group(table, self.progress)

    def __call__(self, trial: int, event: StoredEvent, state: TrialState) -> None:
        row = self.rows.setdefault(trial, {})
        p = event.payload
        if event.type == "trial.started":
            row["status"] = "running"
        elif event.type == "iteration.completed":
            ev = p.get("evaluation") or {}
            row["T"] = p.get("iteration")
            row["arch"] = p.get("arch") or p.get("status")
            row["acc"] = f"{ev['accuracy']:.2f}" if ev.get("accuracy") is not None else "-"
            row["rank"] = ev.get("rank", "-")
            best = state.best()
            if best is not None:
                row["best_acc"], row["best_rank"] = f"{best.accuracy:.2f}", best.rank
            self.progress.advance(self.task)
        elif event.type == "trial.finished":
            row["status"] = p.get("status")
        row["tokens"] = state.prompt_tokens + state.completion_tokens
        self.tokens = sum(int(r.get("tokens", 0)) for r in self.rows.values())
        self.progress.update(self.task, tokens=self.tokens)
        self.live.update(self._render())

    def __enter__(self) -> LivePresenter:
        self.live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.live.__exit__(None, None, None)
