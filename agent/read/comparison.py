"""A comparison of optimizers on one space at the same budget, from folded runs: the samples, the summary
document (what ``compare --json`` prints), and its terminal tables. Reused runs and fresh ones are the same
computation; the statistics themselves live in :mod:`agent.read.stats`, the curves in :mod:`agent.read.plots`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from rich.table import Table

from agent.read import stats
from storage.fold import RunState, TrialState

TOP_FRACTIONS = (("top_1pct", 0.01), ("top_0_1pct", 0.001))


@dataclass
class Sample:
    """One optimizer's trials reduced to what the comparison needs (plain lists, one entry per trial)."""

    label: str
    optimizer: str
    run_id: str
    reused: bool = False
    llm: str | None = None
    mode: str | None = None
    best_accuracy: list[float] = field(default_factory=list)  # reported (test) accuracy of each trial's best
    best_rank: list[int] = field(default_factory=list)  # strict rank of each trial's best
    curves: list[list[float]] = field(default_factory=list)  # trials x iterations, best-so-far rank (NaN before any)
    trials_without_result: int = 0  # trials with no evaluated iteration (left out of the statistics)


def trial_curve(trial: TrialState, budget: int) -> list[float]:
    """Best-so-far strict rank after each iteration of one trial (see :func:`agent.read.stats.best_so_far_ranks`)."""
    return stats.best_so_far_ranks(
        [(it.iteration, it.accuracy if it.status == "ok" else None, it.rank) for it in trial.iterations], budget)


def sample_of(state: RunState, *, trials: int | None = None, iterations: int | None = None,
              label: str | None = None, reused: bool = False) -> Sample:
    """Reduce a folded run to a :class:`Sample`: its first ``trials`` trials (all by default)."""
    c = state.config
    optimizer = str(c.get("optimizer", "genius"))
    budget = int(iterations or c.get("iterations") or 0)
    genius = optimizer == "genius"
    s = Sample(label=label or optimizer, optimizer=optimizer, run_id=state.run_id, reused=reused,
               llm=str(c.get("llm")) if genius else None, mode=str(c.get("mode")) if genius else None)
    numbers = sorted(state.trials)
    for n in numbers[:trials] if trials is not None else numbers:
        t = state.trials[n]
        best = t.best()
        if best is None or best.test_accuracy is None or best.rank is None:
            s.trials_without_result += 1
            continue
        s.best_accuracy.append(float(best.test_accuracy))
        s.best_rank.append(int(best.rank))
        s.curves.append(trial_curve(t, budget))
    return s


def _num(v: float) -> float | None:
    """JSON has no NaN: missing numbers are null."""
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else v


def summarize(samples: Sequence[Sample], *, space: str, size: int, iterations: int, reference: int = 0,
              resamples: int = stats.DEFAULT_RESAMPLES, seed: int = stats.DEFAULT_SEED) -> dict[str, Any]:
    """The comparison document: per optimizer its figures, and each one against ``samples[reference]``.

    Differences are ``this - reference`` (a negative rank difference means this optimizer found better
    architectures). Confidence intervals are seeded percentile bootstraps of the difference of means; the
    p-value is a two-sided Mann-Whitney U test on the best ranks.
    """
    ref = samples[reference]
    thresholds = {name: stats.top_threshold(size, frac) for name, frac in TOP_FRACTIONS}
    rows: list[dict[str, Any]] = []
    for k, s in enumerate(samples):
        acc_mean, acc_std = stats.mean_std(s.best_accuracy)
        curve_mean, curve_median = stats.column_mean_median(s.curves) if s.curves else ([], [])
        row: dict[str, Any] = {
            "label": s.label, "optimizer": s.optimizer, "run_id": s.run_id, "reused": s.reused, "llm": s.llm,
            "mode": s.mode, "trials": len(s.best_rank), "trials_without_result": s.trials_without_result,
            "best_accuracy": {"mean": _num(acc_mean), "std": _num(acc_std)},
            "best_rank": {"mean": _num(stats.mean_std(s.best_rank)[0]), "median": _num(stats.median(s.best_rank))},
            **{name: _num(stats.top_share(s.best_rank, size, frac)) for name, frac in TOP_FRACTIONS},
            "anytime": {"mean": [_num(v) for v in curve_mean], "median": [_num(v) for v in curve_median]},
            "per_trial": {"best_accuracy": s.best_accuracy, "best_rank": s.best_rank},
            "vs_reference": None,
        }
        if k != reference:
            acc_ci = stats.bootstrap_mean_diff_ci(s.best_accuracy, ref.best_accuracy, resamples=resamples, seed=seed)
            rank_ci = stats.bootstrap_mean_diff_ci(s.best_rank, ref.best_rank, resamples=resamples, seed=seed)
            u, p = stats.mann_whitney_u(s.best_rank, ref.best_rank)
            acc_diff = stats.mean_std(s.best_accuracy)[0] - stats.mean_std(ref.best_accuracy)[0]
            rank_diff = stats.mean_std(s.best_rank)[0] - stats.mean_std(ref.best_rank)[0]
            row["vs_reference"] = {
                "reference": ref.label,
                "accuracy_diff": {"mean": _num(acc_diff), "ci95": [_num(acc_ci[0]), _num(acc_ci[1])]},
                "rank_diff": {"mean": _num(rank_diff), "ci95": [_num(rank_ci[0]), _num(rank_ci[1])]},
                "mann_whitney": {"u": _num(u), "p": _num(p)},
            }
        rows.append(row)
    return {"space": space, "size": size, "iterations": iterations, "reference": ref.label,
            "thresholds": thresholds, "bootstrap": {"resamples": resamples, "seed": seed, "level": 0.95},
            "optimizers": rows}


# ---- running -------------------------------------------------------------------------------------------


def reference_index(optimizers: Sequence[str]) -> int:
    """Everything is compared against genius when it takes part, else against the first optimizer listed."""
    return list(optimizers).index("genius") if "genius" in optimizers else 0


def compare_document(runs: Sequence[tuple[str, RunState, bool]], *, space: str, size: int, trials: int,
                     iterations: int, optimizers: Sequence[str], seed: int = 0,
                     resamples: int = stats.DEFAULT_RESAMPLES) -> tuple[dict[str, Any], list[Sample]]:
    """The :func:`summarize` document (``compare --json``) and the samples of ``runs``: (label, run, reused) per
    optimizer, in the order of ``optimizers``; each run's first ``trials`` trials at ``iterations``."""
    samples = [sample_of(state, trials=trials, iterations=iterations, label=label, reused=reused)
               for label, state, reused in runs]
    doc = summarize(samples, space=space, size=size, iterations=iterations, reference=reference_index(optimizers),
                    resamples=resamples, seed=seed)
    doc["trials_requested"] = trials
    return doc, samples


# ---- showing -------------------------------------------------------------------------------------------


def _f(v: float | None, spec: str = ".2f") -> str:
    return "-" if v is None else format(v, spec)


def _ci(d: dict[str, Any], spec: str) -> str:
    lo, hi = d["ci95"]
    return f"{_f(d['mean'], spec)} [{_f(lo, spec)}, {_f(hi, spec)}]"


def compare_tables(doc: dict[str, Any]) -> list[Table]:
    """The comparison as rich tables: the summary, then the anytime curve (mean / median best-so-far rank)."""
    th = doc["thresholds"]
    summary = Table(title=f"compare on {doc['space']} ({doc['size']} architectures), budget {doc['iterations']}; "
                          f"differences vs {doc['reference']}")
    for col in ("optimizer", "run", "trials", "best acc mean +- std", "rank mean", "rank median",
                f"top 1% (<= {th['top_1pct']})", f"top 0.1% (<= {th['top_0_1pct']})", "d acc [95% CI]",
                "d rank [95% CI]", "MWU p (rank)"):
        summary.add_column(col, justify="left" if col in ("optimizer", "run") else "right")
    for r in doc["optimizers"]:
        acc = r["best_accuracy"]
        vs = r["vs_reference"]
        summary.add_row(
            r["label"], r["run_id"] + (" (reused)" if r["reused"] else ""), str(r["trials"]),
            f"{_f(acc['mean'])} +- {_f(acc['std'])}", _f(r["best_rank"]["mean"], ".1f"),
            _f(r["best_rank"]["median"], ".1f"), _pct(r["top_1pct"]), _pct(r["top_0_1pct"]),
            _ci(vs["accuracy_diff"], "+.2f") if vs else "ref", _ci(vs["rank_diff"], "+.1f") if vs else "ref",
            _f(vs["mann_whitney"]["p"], ".3g") if vs else "ref")
    summary.caption = ("best = iteration with the highest searched accuracy; acc = its reported accuracy, rank = "
                       "its strict rank; CI = seeded bootstrap of the difference of means")
    curve = Table(title="anytime: best-so-far rank after each iteration (mean / median over trials)")
    curve.add_column("optimizer")
    for i in range(doc["iterations"]):
        curve.add_column(f"T={i}", justify="right")
    for r in doc["optimizers"]:
        cells = [f"{_f(m, '.0f')}\n{_f(md, '.0f')}" for m, md in
                 zip(r["anytime"]["mean"], r["anytime"]["median"], strict=True)]
        cells += [""] * (doc["iterations"] - len(cells))
        curve.add_row(r["label"], *cells)
    return [summary, curve]


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{100 * v:.1f}%"
