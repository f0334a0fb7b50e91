"""The Python API: the README's example runs as written, and the API works inside a running event loop."""

from __future__ import annotations

import re

from tests.conftest import ROOT


def test_the_readme_example_runs(tmp_path, tables, monkeypatch):
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Python API", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S)
    assert code is not None
    monkeypatch.setenv("GENIUS_DATA_DIR", tables)  # absolute: the example runs from another directory
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(code.group(1), "README.md", "exec"), namespace)
    run = namespace["run"]
    assert run.status == "finished" and len(run.trials) == 5
    df = namespace["df"]
    assert len(df) == 50 and set(df["trial"]) == set(range(5))
    assert (tmp_path / "runs" / "api.sqlite").exists()


async def test_the_plain_functions_work_inside_a_running_loop(tmp_path, tables):
    from agent.api import aload, load, search

    run = search(space="channel_resnet", optimizer="random", trials=2, iterations=3, db=str(tmp_path / "a.sqlite"))
    assert [len(t.iterations) for t in run.trials] == [3, 3]
    again = await aload(run.run_id, db=str(tmp_path / "a.sqlite"))
    assert again.trials == load(run.run_id, db=str(tmp_path / "a.sqlite")).trials
    assert [b.arch for b in run.best_architectures()] == [t.best().arch for t in run.trials]
    assert run.config.space == "channel_resnet" and run.document()["run_id"] == run.run_id


def test_search_takes_the_command_lines_defaults(tmp_path, tables):
    from agent.api import search

    run = search(space="nas_macro", llm="control:random", trials=1, iterations=2, db=str(tmp_path / "d.sqlite"))
    assert run.config.mode == "agent" and run.config.temperature == 0.7 and run.config.model_help is True
    paper = search(space="nas_macro", mode="paper", llm="control:random", trials=1, iterations=2,
                   db=str(tmp_path / "d.sqlite"))
    assert paper.config.temperature == 0.0
