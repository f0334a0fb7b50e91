"""Plots are real, non-blank PNGs; the HTML report is self-contained, escapes the log and opens in Chromium."""

from __future__ import annotations

import asyncio
import html
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from matplotlib.image import imread

from agent import cli
from agent.engine.config import RunConfig
from agent.engine.orchestrator import start_run
from agent.read.html_report import render_report
from agent.read.plots import plot_compare, plot_run
from storage import Event, EventLog
from storage.runs import load_run

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
EVIL = '<script>alert("x")</script><img src="https://evil.example/p.png">'


def assert_real_png(path: Path) -> np.ndarray:
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC
    img = imread(str(path))
    assert img.ndim == 3 and img.shape[0] > 300 and img.shape[1] > 300
    # not blank: a white page with a frame has almost no variance; curves, labels and markers do
    assert float(img[..., :3].std()) > 0.02
    return img


async def _baseline_run(db: str, tables: str, optimizer: str, *, trials: int = 3, iterations: int = 6) -> str:
    config = RunConfig(space="nas_macro", optimizer=optimizer, trials=trials, iterations=iterations, seed=2,
                       data_dir=tables)
    return (await start_run(config, db=db)).run_id


async def _hostile_run(db: str) -> str:
    """A genius-looking run whose log text is markup: model name, rejection kind, reasons, error messages."""
    run = "hostile"
    log = await EventLog.open(db)
    try:
        await log.append(Event("run.created", run, {"config": {
            "space": "nas_macro", "optimizer": "genius", "llm": EVIL, "mode": "paper", "iterations": 3,
            "trials": 1, "base_url": "https://api.example.com/v1"}}))
        await log.append(Event("run.started", run, {"pid": 1, "host": "h", "mode": "live"}))
        await log.append(Event("trial.started", run, {"seed": 1, "temperature": 0.0}, trial=0))
        await log.append(Event("effect.completed", run, {"kind": "llm", "ok": {
            "content": EVIL, "prompt_tokens": 1200, "completion_tokens": 34, "cost": 0.25, "attempts": []}}, trial=0))
        await log.append(Event("effect.completed", run, {"kind": "llm", "error": {
            "type": "BadReply", "message": EVIL}}, trial=0))
        await log.append(Event("attempt.rejected", run, {"iteration": 0, "attempt": 1, "kind": "<b>odd</b>",
                                                         "answer": EVIL, "message": EVIL}, trial=0))
        await log.append(Event("iteration.completed", run, {
            "iteration": 0, "status": "ok", "arch": [1, 1, 1, 1, 1, 1, 1, 1], "key": "k", "repeat": False,
            "attempts": 1, "evaluation": {"accuracy": 91.0, "test_accuracy": 91.0, "rank": 2000}}, trial=0))
        await log.append(Event("iteration.completed", run, {"iteration": 1, "status": "failed", "arch": None,
                                                            "attempts": 3, "reason": EVIL, "cause": "other"},
                               trial=0))
        await log.append(Event("iteration.completed", run, {
            "iteration": 2, "status": "ok", "arch": [1, 1, 1, 1, 1, 1, 1, 1], "key": "k", "repeat": True,
            "attempts": 1, "evaluation": {"accuracy": 91.0, "test_accuracy": 91.0, "rank": 2000}}, trial=0))
        await log.append(Event("trial.finished", run, {"status": "finished", "reason": EVIL}, trial=0))
        await log.append(Event("run.finished", run, {"status": "finished"}))
    finally:
        await log.close()
    return run


def test_plot_run_shows_trials_repeats_and_failures(tmp_path, tables):
    db = str(tmp_path / "log.sqlite")
    run_id = asyncio.run(_baseline_run(db, tables, "evolution"))
    asyncio.run(_hostile_run(db))
    for rid in (run_id, "hostile"):
        out = tmp_path / f"{rid}.png"
        plot_run(asyncio.run(load_run(rid, db=db)), out, optimum=(93.13, 1))
        assert_real_png(out)
    # through the CLI: show RUN_ID --plot
    out = tmp_path / "show.png"
    assert cli.main(["show", run_id, "--db", db, "--plot", str(out)]) == 0
    assert_real_png(out)


def test_plot_compare_with_bands(tmp_path):
    rng = np.random.default_rng(0)
    curves = {name: np.minimum.accumulate(rng.integers(1, 5000, (12, 8)).astype(float), axis=1)
              for name in ("random", "evolution")}
    curves["random"][0, 0] = np.nan  # a trial whose first iteration failed
    out = tmp_path / "cmp.png"
    plot_compare(curves, out, title="t")
    assert_real_png(out)


def test_compare_plot_through_cli(tmp_path, tables, capsys):
    out = tmp_path / "compare.png"
    rc = cli.main(["compare", "--space", "nas_macro", "--optimizers", "random,evolution", "--trials", "4",
                   "--iterations", "5", "--db", str(tmp_path / "log.sqlite"), "--data-dir", tables, "--json",
                   "--plot", str(out)])
    assert rc == 0
    capsys.readouterr()
    assert_real_png(out)


_EXTERNAL = re.compile(r"""(?:src|href|action)\s*=\s*["']?\s*(?:https?:|//|ftp:)|url\(|@import|<link|<script""",
                       re.IGNORECASE)


def _report(tmp_path: Path, tables: str) -> tuple[Path, list[str]]:
    db = str(tmp_path / "log.sqlite")
    ids = [asyncio.run(_baseline_run(db, tables, o)) for o in ("random", "local")]
    ids.append(asyncio.run(_hostile_run(db)))
    out = tmp_path / "report.html"
    assert cli.main(["report", *ids, "--db", db, "--html", str(out)]) == 0
    return out, ids


def test_report_is_self_contained_and_escapes_the_log(tmp_path, tables, capsys):
    out, ids = _report(tmp_path, tables)
    page = out.read_text(encoding="utf-8")
    assert not _EXTERNAL.search(page), _EXTERNAL.search(page)
    assert "<script" not in page.lower()
    assert html.escape(EVIL, quote=True) in page  # the text is there, harmless
    assert "&lt;b&gt;odd&lt;/b&gt;: 1" in page  # rejection kinds counted and escaped
    assert page.count('src="data:image/png;base64,') == 4  # one per run, one compare figure
    for rid in ids:
        assert f'id="run-{rid}"' in page
    assert 'id="compare-nas_macro"' in page
    assert "T=5" in page and "1234" in page and "0.2500" in page  # iterations, tokens, cost
    assert "<td class=\"failed\"" in page and "class=\"repeat\"" in page


def test_report_of_an_unknown_run_names_the_remedy(tmp_path, tables, capsys):
    db = str(tmp_path / "log.sqlite")
    asyncio.run(_hostile_run(db))
    assert cli.main(["report", "nope", "--db", db, "--html", str(tmp_path / "r.html")]) == 2
    assert "python run_agent.py runs" in capsys.readouterr().err


def test_render_report_without_tables_still_renders(tmp_path):
    db = str(tmp_path / "log.sqlite")
    asyncio.run(_hostile_run(db))
    state = asyncio.run(load_run("hostile", db=db))
    page = render_report([state], info=lambda s: (None, None))
    assert "optimal" not in page and "<table" in page


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def test_report_opens_in_headless_chromium(tmp_path, tables, capsys):
    browser = _chromium()
    if browser is None:
        pytest.skip("no chromium on PATH (Debian: apt-get install -y chromium)")
    out, _ = _report(tmp_path, tables)
    proc = subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--user-data-dir=" + str(tmp_path / "profile"), "--dump-dom", out.resolve().as_uri()],
        capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    dom = proc.stdout
    # The browser parsed the page into the structure we wrote: tables per run and the compare section.
    assert dom.count('<table class="iterations">') == 3
    assert dom.count('<table class="compare">') == 1
    assert dom.count("<img") == 4
    assert "<script" not in dom.lower()  # the escaped model text stayed text
    assert 'alert("x")' in html.unescape(dom)
