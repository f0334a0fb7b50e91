"""What a run shows: the JSON document, the paper-style table, the runs table. All read the fold."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from storage.fold import IterationState, RunState, TrialState


def _it_json(it: IterationState) -> dict[str, Any]:
    out = {"iteration": it.iteration, "status": it.status, "arch": it.arch, "accuracy": it.accuracy,
           "test_accuracy": it.test_accuracy, "rank": it.rank, "repeat": it.repeat}
    if it.status != "ok":
        out.update(reason=it.reason, cause=it.cause)
    return out


def _best_json(t: TrialState) -> dict[str, Any] | None:
    b = t.best()
    if b is None:
        return None
    return {"arch": b.arch, "accuracy": b.accuracy, "test_accuracy": b.test_accuracy, "rank": b.rank,
            "paper_rank": b.paper_rank}


def run_document(state: RunState) -> dict[str, Any]:
    """The ``--json`` document of a run (the same for search, resume, replay and show)."""
    c = state.config
    trials = []
    for n in sorted(state.trials):
        t = state.trials[n]
        trials.append({"trial": n, "status": t.status, "reason": t.reason,
                       "iterations": [_it_json(it) for it in t.iterations], "best": _best_json(t),
                       "repeat_fraction": round(t.repeat_fraction(), 4), "rejected": t.rejected})
    return {
        "run_id": state.run_id, "space": c.get("space"), "optimizer": c.get("optimizer"), "mode": c.get("mode"),
        "llm": c.get("llm") if c.get("optimizer", "genius") == "genius" else None, "status": state.status,
        "trials": trials,
        "usage": {"calls": state.calls, "prompt_tokens": state.prompt_tokens,
                  "completion_tokens": state.completion_tokens, "failed_calls": state.failed_calls,
                  "retries": state.retries, "requests": state.calls + state.failed_requests,
                  "failed_requests": state.failed_requests, "cost": round(state.cost, 6)},
        "code_versions": list(state.code_versions),
        "retried": state.retried,
    }


def space_info(state: RunState) -> tuple[tuple[float, int] | None, int | None]:
    """The optimum (reported accuracy, rank) and size of the run's space; None for what is not known.

    Recorded in the run since this version, so showing or replaying needs no table, no cache and no network;
    for older runs the table is read where it can be, and without it the optimum column goes.
    """
    facts = state.space_facts
    if facts:
        best = facts.get("optimum")
        optimum = (float(best["test_accuracy"]), int(best["rank"])) if best else None
        return optimum, int(facts["size"]) if facts.get("size") else None
    try:
        from tools.spaces import get_space

        space = get_space(str(state.config.get("space")), state.config.get("data_dir"))
    except Exception:
        return None, None
    try:
        _, ev = space.optimum()
        return (ev.test_accuracy, int(ev.rank or 1)), space.size
    except Exception:  # no table here: show the run without the optimum
        return None, space.size


def _duration(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def summary_lines(state: RunState, *, elapsed_s: float | None, space_size: int | None,
                  commands: dict[str, str]) -> list[str]:
    """The lines after the table: best ranks across trials, repeats, time, tokens, and what to run next
    (``commands``: label -> a command safe to paste)."""
    ranks = sorted(int(b.rank) for t in state.trials.values() if (b := t.best()) is not None and b.rank)
    lines = []
    if ranks:
        mid = len(ranks) // 2
        median = ranks[mid] if len(ranks) % 2 else (ranks[mid - 1] + ranks[mid]) / 2
        of = f" of {space_size:,}" if space_size else ""
        lines.append(f"best strict rank over {len(ranks)} trials: mean {sum(ranks) / len(ranks):.0f}, "
                     f"median {median:g}{of} (1 = the best architecture)")
    evaluations = [it for t in state.trials.values() for it in t.evaluated()]
    repeats = sum(1 for it in evaluations if it.repeat)
    distinct = {tuple(tuple(it.arch or ()) for it in t.evaluated()) for t in state.trials.values()}
    lines.append(f"evaluations {len(evaluations)}, repeats {repeats}; trials {len(state.trials)}, "
                 f"{len(distinct)} distinct")
    usage = []
    if elapsed_s is not None:
        usage.append(f"time {_duration(elapsed_s)}")
    if state.calls or state.failed_calls:
        usage.append(f"LLM calls {state.calls} ({state.failed_calls} failed for good); requests "
                     f"{state.calls + state.failed_requests} ({state.failed_requests} failed at the server, "
                     f"{state.retries} retries); tokens {state.prompt_tokens:,} prompt + "
                     f"{state.completion_tokens:,} completion")
    if state.config.get("embedded_server"):
        usage.append(f"model served by {state.config['embedded_server']}")
    if usage:
        lines.append("; ".join(usage))
    if len(state.code_versions) > 1:
        lines.append(f"code versions: {', '.join(state.code_versions)} (the run was resumed on other code)")
    if state.retried:
        lines.append(f"failed evaluations retried {state.retried} time{'s' if state.retried > 1 else ''} "
                     "(resume --retry-failed); the calls the earlier courses made count in the usage above")
    lines.extend(f"{label}: {command}" for label, command in commands.items())
    return lines


def _fmt_acc(v: float | None) -> str:
    return "-" if v is None else f"{v:.2f}"


def paper_table(state: RunState, *, optimum: tuple[float, int] | None = None) -> Table:
    """Rows = trials; columns T=0..N-1 with accuracy over rank; then best and optimum (the paper's tables)."""
    n = int(state.config.get("iterations", 10))
    c = state.config
    genius = c.get("optimizer", "genius") == "genius"
    method = f"genius/{c.get('mode')} ({c.get('llm')})" if genius else c.get("optimizer")
    table = Table(title=f"run {state.run_id} - {c.get('space')} - {method} - {state.status}")
    table.add_column("trial", justify="right")
    for i in range(n):
        table.add_column(f"T={i}", justify="right")
    table.add_column("best", justify="right")
    if optimum is not None:
        table.add_column("optimal", justify="right")
    for k in sorted(state.trials):
        t = state.trials[k]
        cells = []
        for i in range(n):
            it = t.iterations[i] if i < len(t.iterations) else None
            if it is None:
                cells.append("")
            elif it.status != "ok":
                cells.append("-" if it.status == "stopped" else "x")
            else:
                mark = "*" if it.repeat else ""
                cells.append(f"{_fmt_acc(it.accuracy)}{mark}\n{it.rank if it.rank is not None else '?'}")
        b = t.best()
        best = "" if b is None else f"{_fmt_acc(b.test_accuracy)}\n{b.rank}"
        row = [str(k), *cells, best]
        if optimum is not None:
            row.append(f"{optimum[0]:.2f}\n{optimum[1]}")
        table.add_row(*row)
    table.caption = ("cells: searched accuracy / strict rank of the reported accuracy; * repeat; x failed; "
                     "- stopped; best: reported (test) accuracy and rank of the best-by-search iteration")
    return table


def runs_table(states: list[RunState]) -> Table:
    table = Table(title="runs")
    for col in ("run id", "space", "optimizer", "model", "mode", "status", "trials", "best acc", "best rank",
                "tokens", "started"):
        table.add_column(col)
    import time

    for s in states:
        b = s.best()
        c = s.config
        table.add_row(
            s.run_id, str(c.get("space")), str(c.get("optimizer")),
            str(c.get("llm")) if c.get("optimizer") == "genius" else "-",
            str(c.get("mode")) if c.get("optimizer") == "genius" else "-", s.status,
            str(len(s.trials)), _fmt_acc(b.test_accuracy if b else None), str(b.rank if b else "-"),
            str(s.prompt_tokens + s.completion_tokens),
            time.strftime("%Y-%m-%d %H:%M", time.localtime(s.created_ts)) if s.created_ts else "-")
    return table


def runs_json(states: list[RunState]) -> list[dict[str, Any]]:
    out = []
    for s in states:
        b = s.best()
        out.append({"run_id": s.run_id, "space": s.config.get("space"), "optimizer": s.config.get("optimizer"),
                    "llm": s.config.get("llm"), "mode": s.config.get("mode"), "status": s.status,
                    "trials": len(s.trials), "best_accuracy": b.test_accuracy if b else None,
                    "best_rank": b.rank if b else None, "tokens": s.prompt_tokens + s.completion_tokens,
                    "created": s.created_ts})
    return out
