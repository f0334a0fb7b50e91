"""One self-contained HTML page for one or more runs (``run_agent.py report RUN_ID ... --html FILE``).

Self-contained: inline CSS, figures embedded as base64 PNG, no scripts and no external URL, so the file
can be mailed or archived and still opens offline. Everything from the log is escaped: model replies,
rejection reasons and error messages can contain any text, markup included.
"""

from __future__ import annotations

import base64
import html
import io
import json
import time
from collections.abc import Callable, Sequence
from typing import Any

from agent.read import plots
from agent.read.comparison import reference_index, sample_of, summarize
from agent.read.report import space_info
from storage.fold import IterationState, RunState

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2em auto;max-width:1400px;
 color:#222;padding:0 1em}
h1{font-size:1.5em}h2{font-size:1.25em;margin-top:2em;border-bottom:1px solid #ccc}h3{font-size:1.05em}
table{border-collapse:collapse;margin:.6em 0 1.2em;font-size:.85em}
th,td{border:1px solid #ddd;padding:.25em .5em;text-align:right;vertical-align:top}
th{background:#f4f4f4}td.l,th.l{text-align:left}
td.failed{color:#b00}td.repeat{background:#fff6d6}td.best{font-weight:bold}
.rank{color:#666;display:block}.note{color:#666;font-size:.85em}
img{max-width:100%;height:auto;border:1px solid #eee}
code,pre{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.9em}
pre{background:#f8f8f8;padding:.5em;white-space:pre-wrap;word-break:break-word}
"""

SpaceInfo = Callable[[RunState], tuple[tuple[float, int] | None, int | None]]


def _e(value: object) -> str:
    """Escape any value for HTML text or a quoted attribute."""
    return html.escape("" if value is None else str(value), quote=True)


def _png(draw: Callable[[io.BytesIO], None]) -> str:
    buf = io.BytesIO()
    draw(buf)
    return f'<img alt="figure" src="data:image/png;base64,{base64.b64encode(buf.getvalue()).decode("ascii")}">'


def _acc(v: float | None) -> str:
    return "-" if v is None else f"{v:.2f}"


def _config_table(state: RunState) -> str:
    rows = []
    for key, value in sorted(state.config.items()):
        if value in (None, "", {}, []):
            continue
        shown = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
        rows.append(f'<tr><th class="l">{_e(key)}</th><td class="l"><code>{_e(shown)}</code></td></tr>')
    return "<table class=\"config\">" + "".join(rows) + "</table>"


def _cell(it: IterationState | None, best: IterationState | None) -> str:
    if it is None:
        return "<td></td>"
    if it.status != "ok":
        mark = "-" if it.status == "stopped" else "x"
        return f'<td class="failed" title="{_e(it.status + ": " + it.reason)}">{mark}</td>'
    classes = [c for c, on in (("repeat", it.repeat), ("best", it is best)) if on]
    cls = f' class="{" ".join(classes)}"' if classes else ""
    title = _e(f"arch {it.arch}" + (" (repeat)" if it.repeat else ""))
    rank = "?" if it.rank is None else it.rank
    return (f'<td{cls} title="{title}">{_acc(it.accuracy)}{"*" if it.repeat else ""}'
            f'<span class="rank">{_e(rank)}</span></td>')


def _iteration_table(state: RunState, optimum: tuple[float, int] | None) -> str:
    """The paper's tables: trials x T=0..N-1, searched accuracy over strict rank; best and optimum."""
    n = max([int(state.config.get("iterations") or 0),
             *(it.iteration + 1 for t in state.trials.values() for it in t.iterations)])
    head = "<tr><th>trial</th>" + "".join(f"<th>T={i}</th>" for i in range(n)) + "<th>best</th>"
    head += "<th>optimal</th></tr>" if optimum is not None else "</tr>"
    rows = []
    for k in sorted(state.trials):
        t = state.trials[k]
        by_iter = {it.iteration: it for it in t.iterations}
        b = t.best()
        cells = "".join(_cell(by_iter.get(i), b) for i in range(n))
        best = "<td></td>" if b is None else (f'<td class="best">{_acc(b.test_accuracy)}'
                                              f'<span class="rank">{_e(b.rank)}</span></td>')
        opt = (f'<td>{optimum[0]:.2f}<span class="rank">{optimum[1]}</span></td>' if optimum is not None else "")
        rows.append(f"<tr><th>{k}</th>{cells}{best}{opt}</tr>")
    caption = ("cells: searched accuracy over the strict rank of the reported accuracy; * repeat (shaded); "
               "x failed; - stopped; bold: the trial's best by searched accuracy; best column: its reported "
               "accuracy and rank")
    return (f'<table class="iterations"><caption class="note">{_e(caption)}</caption>{head}{"".join(rows)}'
            "</table>")


def _trials_table(state: RunState) -> str:
    head = ("<tr><th>trial</th><th class=\"l\">status</th><th>evaluated</th><th>repeats</th><th>rejected</th>"
            "<th class=\"l\">rejections by kind</th><th>LLM calls</th><th>tokens</th><th class=\"l\">best arch</th>"
            "<th class=\"l\">reason</th></tr>")
    rows = []
    for k in sorted(state.trials):
        t = state.trials[k]
        b = t.best()
        kinds = ", ".join(f"{kind}: {count}" for kind, count in sorted(t.rejections.items()))
        rows.append(
            f"<tr><th>{k}</th><td class=\"l\">{_e(t.status)}</td><td>{len(t.evaluated())}</td>"
            f"<td>{sum(it.repeat for it in t.evaluated())} ({100 * t.repeat_fraction():.0f}%)</td>"
            f"<td>{t.rejected}</td><td class=\"l\">{_e(kinds)}</td><td>{t.llm_calls}</td>"
            f"<td>{t.prompt_tokens + t.completion_tokens}</td><td class=\"l\"><code>{_e(b.arch if b else '')}</code>"
            f"</td><td class=\"l\">{_e(t.reason)}</td></tr>")
    return f'<table class="trials">{head}{"".join(rows)}</table>'


def _usage_table(state: RunState) -> str:
    u = state.usage()
    cells = [("LLM calls", u["calls"]), ("failed calls", u["failed_calls"]), ("retries", u["retries"]),
             ("prompt tokens", u["prompt_tokens"]), ("completion tokens", u["completion_tokens"]),
             ("total tokens", u["prompt_tokens"] + u["completion_tokens"]), ("cost", f"{u['cost']:.4f}"),
             ("evaluations", state.evaluations), ("executions", state.executions)]
    head = "".join(f"<th>{_e(k)}</th>" for k, _ in cells)
    body = "".join(f"<td>{_e(v)}</td>" for _, v in cells)
    return f'<table class="usage"><tr>{head}</tr><tr>{body}</tr></table>'


def _when(ts: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts)) if ts else "-"


def _run_section(state: RunState, info: tuple[tuple[float, int] | None, int | None]) -> str:
    optimum, _ = info
    c = state.config
    who = str(c.get("optimizer"))
    if who == "genius":
        who += f" ({c.get('llm')}, {c.get('mode')})"
    parts = [
        f'<section class="run" id="run-{_e(state.run_id)}">',
        f"<h2>Run {_e(state.run_id)}: {_e(c.get('space'))}, {_e(who)}</h2>",
        f'<p>status <b>{_e(state.status)}</b>; created {_e(_when(state.created_ts))}; finished '
        f"{_e(_when(state.finished_ts))}"
        + (f"; interrupted: {_e(state.interrupt_reason)}" if state.interrupt_reason else "") + "</p>",
        "<h3>Configuration</h3>", _config_table(state),
        "<h3>Per-iteration results</h3>", _iteration_table(state, optimum),
        "<h3>Trials: repeats and rejections</h3>", _trials_table(state),
        "<h3>Token use and cost</h3>", _usage_table(state),
    ]
    if state.errors:
        shown = state.errors[:50]
        more = f"<p class=\"note\">... and {len(state.errors) - 50} more</p>" if len(state.errors) > 50 else ""
        parts += ["<h3>Errors</h3>", "<pre>" + _e("\n".join(shown)) + "</pre>" + more]
    if any(t.iterations for t in state.trials.values()):
        parts += ["<h3>Accuracy and rank per iteration</h3>",
                  _png(lambda buf: plots.plot_run(state, buf, optimum=optimum))]
    parts.append("</section>")
    return "\n".join(parts)


def _f(v: float | None, spec: str) -> str:
    return "-" if v is None else format(v, spec)


def _compare_section(space: str, states: Sequence[RunState], size: int) -> str:
    """Several runs of one space side by side, each run one sample (statistics as ``compare``)."""
    samples = []
    for s in states:
        c = s.config
        label = str(c.get("optimizer"))
        if label == "genius":
            label += f" ({c.get('llm')}, {c.get('mode')})"
        samples.append(sample_of(s, label=f"{label} [{s.run_id}]"))
    iterations = max(int(s.config.get("iterations") or 0) for s in states)
    optimizers = [str(s.config.get("optimizer")) for s in states]
    doc = summarize(samples, space=space, size=size, iterations=iterations, reference=reference_index(optimizers))
    th = doc["thresholds"]
    head = ("<tr><th class=\"l\">run</th><th>trials</th><th>best acc mean &plusmn; std</th><th>rank mean</th>"
            f"<th>rank median</th><th>top 1% (&le; {th['top_1pct']})</th><th>top 0.1% (&le; {th['top_0_1pct']})</th>"
            "<th>&Delta; acc [95% CI]</th><th>&Delta; rank [95% CI]</th><th>Mann-Whitney p (rank)</th></tr>")
    rows = []
    for r in doc["optimizers"]:
        vs = r["vs_reference"]

        def ci(d: dict[str, Any], spec: str) -> str:
            return f"{_f(d['mean'], spec)} [{_f(d['ci95'][0], spec)}, {_f(d['ci95'][1], spec)}]"

        pct = [("-" if r[k] is None else f"{100 * r[k]:.1f}%") for k in ("top_1pct", "top_0_1pct")]
        rows.append(
            f"<tr><td class=\"l\">{_e(r['label'])}</td><td>{r['trials']}</td>"
            f"<td>{_f(r['best_accuracy']['mean'], '.2f')} &plusmn; {_f(r['best_accuracy']['std'], '.2f')}</td>"
            f"<td>{_f(r['best_rank']['mean'], '.1f')}</td><td>{_f(r['best_rank']['median'], '.1f')}</td>"
            f"<td>{pct[0]}</td><td>{pct[1]}</td>"
            f"<td>{_e(ci(vs['accuracy_diff'], '+.2f')) if vs else 'reference'}</td>"
            f"<td>{_e(ci(vs['rank_diff'], '+.1f')) if vs else 'reference'}</td>"
            f"<td>{_f(vs['mann_whitney']['p'], '.3g') if vs else 'reference'}</td></tr>")
    curves = {s.label: s.curves for s in samples if s.curves}
    note = (f"differences are this run minus {doc['reference']}; CI: seeded bootstrap of the difference of "
            "means; with few trials per run these are rough")
    return "\n".join([
        f'<section class="compare" id="compare-{_e(space)}">',
        f"<h2>Compare on {_e(space)} ({size} architectures)</h2>",
        f'<table class="compare">{head}{"".join(rows)}</table>', f'<p class="note">{_e(note)}</p>',
        _png(lambda buf: plots.plot_compare(curves, buf, title=f"{space}: best-so-far rank per iteration")),
        "</section>"])


def render_report(states: Sequence[RunState], *, info: SpaceInfo = space_info) -> str:
    """The HTML page for ``states``: each run, then a compare section per space with several runs."""
    infos = {s.run_id: info(s) for s in states}
    runs_list = "".join(
        f'<li><a href="#run-{_e(s.run_id)}">{_e(s.run_id)}</a>: {_e(s.config.get("space"))}, '
        f'{_e(s.config.get("optimizer"))}, {_e(s.status)}</li>' for s in states)
    body = [f"<h1>GENIUS report: {len(states)} run{'s' if len(states) != 1 else ''}</h1>",
            f'<p class="note">generated {_e(_when(time.time()))}</p>', f"<ul>{runs_list}</ul>"]
    by_space: dict[str, list[RunState]] = {}
    for s in states:
        by_space.setdefault(str(s.config.get("space")), []).append(s)
    for space, group in by_space.items():
        size = infos[group[0].run_id][1]
        if len(group) > 1 and size is not None and any(any(t.best() for t in s.trials.values()) for s in group):
            body.append(_compare_section(space, group, size))
    body += [_run_section(s, infos[s.run_id]) for s in states]
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{_e('GENIUS report ' + ', '.join(s.run_id for s in states))}</title>"
            f"<style>{_CSS}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n")
