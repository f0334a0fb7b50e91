"""Figures of runs and comparisons (PNG, matplotlib's Agg renderer).

Figures are built on :class:`matplotlib.figure.Figure` with an explicit Agg canvas rather than through
``pyplot``: no global backend is switched, no figure registry keeps memory alive, and it works headless
in any thread.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from typing import IO, Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from agent.read import stats
from storage.errors import UserError
from storage.fold import RunState

Target = str | os.PathLike[str] | IO[bytes]
_LEGEND_MAX = 12  # above this many trials a legend is noise; the colours still tell trials apart


def _save(fig: Figure, path: Target) -> None:
    FigureCanvasAgg(fig)
    try:
        fig.savefig(path, format="png", dpi=110)
    except OSError as exc:
        raise UserError(f"cannot write the plot to {path} ({exc.strerror or exc}); pass another --plot PATH") from None


def _plain(text: object) -> str:
    """Text from the log shown literally: matplotlib would read ``$...$`` as math (and fail on a lone ``$``)."""
    return str(text).replace("$", r"\$")


def _title(state: RunState) -> str:
    c = state.config
    who = str(c.get("optimizer", "genius"))
    if who == "genius":
        who += f" ({c.get('llm')}, {c.get('mode')})"
    return _plain(f"run {state.run_id}: {c.get('space')}, {who}, {len(state.trials)} trials - {state.status}")


def plot_run(state: RunState, path: Target, *, optimum: tuple[float, int] | None = None) -> None:
    """The paper's Figures 2-3 for one run: reported accuracy (top) and strict rank (bottom, log) per iteration.

    One line per trial. Repeated proposals are hollow markers; failed or stopped iterations are crosses on
    the lower edge of both panels; the optimum (its accuracy, rank 1) is a dashed line.
    """
    budget = int(state.config.get("iterations") or 0)
    budget = max([budget, *(it.iteration + 1 for t in state.trials.values() for it in t.iterations)])
    fig = Figure(figsize=(9.5, 7.5), layout="constrained")
    top, bottom = fig.subplots(2, 1, sharex=True)
    colours = _colours(len(state.trials))
    many = len(state.trials) > _LEGEND_MAX
    for colour, n in zip(colours, sorted(state.trials), strict=True):
        t = state.trials[n]
        ok = [it for it in t.iterations if it.status == "ok" and it.test_accuracy is not None]
        xs = [it.iteration for it in ok]
        style = {"color": colour, "linewidth": 0.8 if many else 1.4, "alpha": 0.55 if many else 0.9}
        top.plot(xs, [it.test_accuracy for it in ok], marker="o", markersize=3 if many else 5,
                 label=f"trial {n}", **style)
        ranked = [it for it in ok if it.rank is not None]
        bottom.plot([it.iteration for it in ranked], [it.rank for it in ranked], marker="o",
                    markersize=3 if many else 5, **style)
        repeats = [it for it in ok if it.repeat]
        if repeats:
            for ax, values in ((top, [it.test_accuracy for it in repeats]),
                               (bottom, [it.rank if it.rank is not None else math.nan for it in repeats])):
                ax.scatter([it.iteration for it in repeats], values, s=90, facecolors="none", edgecolors=colour,
                           linewidths=1.5, zorder=3)
        failed = [it.iteration for it in t.iterations if it.status != "ok"]
        if failed:
            for ax in (top, bottom):
                # x in data, y in axes coordinates: the cross sits on the panel's lower edge whatever the scale
                ax.scatter(failed, [0.03] * len(failed), marker="x", s=50, color=colour,
                           transform=ax.get_xaxis_transform(), zorder=4, clip_on=False)
    if optimum is not None:
        top.axhline(optimum[0], color="black", linestyle="--", linewidth=1.2)
        bottom.axhline(optimum[1], color="black", linestyle="--", linewidth=1.2)
    top.set_ylabel("reported accuracy (%)")
    bottom.set_yscale("log")
    bottom.invert_yaxis()  # rank 1 is best: better is up in both panels
    bottom.set_ylabel("strict rank (log scale, 1 = best, at top)")
    bottom.set_xlabel("iteration T")
    bottom.xaxis.set_major_locator(MaxNLocator(integer=True))
    if budget:
        bottom.set_xlim(-0.5, budget - 0.5)
    for ax in (top, bottom):
        ax.grid(True, which="major", alpha=0.3)
    handles: list[Any] = [] if many else list(top.get_legend_handles_labels()[0])
    handles += [
        Line2D([], [], marker="o", linestyle="none", markerfacecolor="none", markeredgecolor="grey", markersize=9,
               label="repeat"),
        Line2D([], [], marker="x", linestyle="none", color="grey", label="failed / stopped"),
    ]
    if optimum is not None:
        handles.append(Line2D([], [], color="black", linestyle="--",
                              label=f"optimum ({optimum[0]:.2f}%, rank {optimum[1]})"))
    top.legend(handles=handles, loc="lower right", fontsize="small", ncol=2 if len(handles) > 8 else 1)
    fig.suptitle(_title(state), fontsize="medium")
    _save(fig, path)


def plot_compare(curves: Mapping[str, Sequence[Sequence[float]] | np.ndarray], path: Target, *, title: str = "",
                 resamples: int = 2_000, seed: int = 0) -> None:
    """Anytime curves of several optimizers: mean best-so-far rank per iteration with a 95% bootstrap band.

    ``curves`` maps a label to its trials x iterations matrix of best-so-far ranks (NaN before a trial's
    first evaluation). Log y-axis, inverted so that better (lower rank) is up; the optimum is rank 1.
    """
    fig = Figure(figsize=(9, 5.5), layout="constrained")
    ax = fig.subplots()
    colours = _colours(len(curves))
    width = 0
    for colour, (label, matrix) in zip(colours, curves.items(), strict=True):
        m = np.asarray(matrix, dtype=float)
        if m.ndim != 2 or m.size == 0:
            continue
        width = max(width, m.shape[1])
        x = np.arange(m.shape[1])
        mean, _ = stats.column_mean_median(m)
        lo, hi = stats.column_mean_bands(m, resamples=resamples, seed=seed)
        ax.plot(x, mean, marker="o", markersize=4, color=colour, label=_plain(f"{label} (n={m.shape[0]})"))
        ax.fill_between(x, lo, hi, color=colour, alpha=0.2, linewidth=0)
    ax.axhline(1, color="black", linestyle="--", linewidth=1.2, label="optimum (rank 1)")
    ax.set_yscale("log")
    ax.invert_yaxis()  # lower rank is better: better is up
    ax.set_ylabel("best-so-far strict rank (log scale, lower = better, at top)")
    ax.set_xlabel("iteration T")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if width:
        ax.set_xlim(-0.3, width - 0.7)
    ax.grid(True, which="both", alpha=0.25)
    ax.legend(loc="best", fontsize="small")
    ax.set_title(_plain(title or "anytime performance: mean with 95% bootstrap band"), fontsize="medium")
    _save(fig, path)


def _colours(n: int) -> list[tuple[float, float, float, float]]:
    from matplotlib import colormaps

    cmap = colormaps["tab10" if n <= 10 else "viridis"]
    if n <= 10:
        return [cmap(i) for i in range(n)]
    return [cmap(i / max(1, n - 1)) for i in range(n)]
