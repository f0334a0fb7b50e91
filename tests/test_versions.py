"""Every execution records its code version, a run resumed on other code says so, and a divergence names
where the two requests first differ."""

from __future__ import annotations

from agent.read.report import summary_lines
from storage.errors import DivergenceError
from storage.events import StoredEvent
from storage.fold import fold_run


def event(seq: int, type_: str, payload: dict) -> StoredEvent:
    return StoredEvent(seq=seq, type=type_, run_id="r", payload=payload, trial=None, step=None, effect_key=None,
                       schema_version=1, ts=float(seq), hash="")


def test_a_run_resumed_on_other_code_shows_both_versions():
    events = [event(1, "run.created", {"config": {"space": "nas_macro"}}),
              event(2, "run.started", {"pid": 1, "host": "h", "mode": "live", "code_version": "0.1.0+aaa"}),
              event(3, "run.interrupted", {"reason": "killed"}),
              event(4, "run.started", {"pid": 2, "host": "h", "mode": "resume", "code_version": "0.1.0+bbb"}),
              event(5, "run.started", {"pid": 3, "host": "h", "mode": "resume", "code_version": "0.1.0+bbb"})]
    state = fold_run("r", events)
    assert state.code_versions == ["0.1.0+aaa", "0.1.0+bbb"]
    lines = summary_lines(state, elapsed_s=None, space_size=None, commands={})
    assert any("code versions: 0.1.0+aaa, 0.1.0+bbb" in line for line in lines)
    one = fold_run("r", events[:2])
    assert not any("code versions" in line for line in summary_lines(one, elapsed_s=None, space_size=None,
                                                                    commands={}))


async def test_the_cli_records_the_code_version_of_each_execution(tmp_path, tables):
    from agent.engine.config import RunConfig
    from agent.engine.orchestrator import start_run
    from storage import EventLog

    db = str(tmp_path / "l.sqlite")
    state = await start_run(RunConfig(space="nas_macro", optimizer="random", trials=1, iterations=2), db=db)
    log = await EventLog.open(db, create=False)
    try:
        started = [e.payload for e in await log.read(state.run_id) if e.type == "run.started"]
    finally:
        await log.close()
    assert started and started[0]["code_version"].startswith("0.1.0")


def test_a_divergence_shows_where_the_requests_first_differ():
    long = "x" * 800
    recorded = {"messages": [{"role": "user", "content": long + " take option 1"}], "seed": 4}
    asked = {"messages": [{"role": "user", "content": long + " take option 2"}], "seed": 4}
    text = str(DivergenceError("t0/s3/llm", recorded, asked))
    assert "first difference at .messages[0].content (character 813)" in text
    assert "option 1" in text and "option 2" in text and len(text) < 600


def test_replay_and_show_need_nothing_but_the_log(tmp_path, tables):
    import json
    import os
    import subprocess
    import sys

    from tests.conftest import ROOT
    from tests.test_search_e2e import valid_answers

    a = valid_answers("channel_resnet", 3)
    script = tmp_path / "s.json"
    script.write_text(json.dumps([{"content": "", "tool_calls": [{"name": "lookup_benchmark",
                                                                  "args": {"architecture": x}}]} for x in a]))
    db = str(tmp_path / "l.sqlite")

    def cli(*args: str, offline: bool) -> subprocess.CompletedProcess[str]:
        env = dict(os.environ)
        if offline:  # no tables, an empty cache, and every download refused at once
            env.update(GENIUS_DATA_DIR=str(tmp_path / "empty"), XDG_CACHE_HOME=str(tmp_path / "cache"),
                       GENIUS_DATA_URL="http://127.0.0.1:9")
        return subprocess.run([sys.executable, str(ROOT / "run_agent.py"), *args], capture_output=True, text=True,
                              env=env, timeout=120)

    made = cli("--space", "channel_resnet", "--llm", f"scripted:{script}", "--trials", "1", "--iterations", "3",
               "--run-id", "o", "--db", db, offline=False)
    assert made.returncode == 0, made.stderr
    replay = cli("replay", "o", "--db", db, offline=True)
    assert replay.returncode == 0, replay.stderr
    assert "replay matches" in replay.stdout and "93.89" in replay.stdout  # the optimum, from the log
    assert "of 16,384" in replay.stdout
    show = cli("show", "o", "--db", db, offline=True)
    assert show.returncode == 0 and "93.89" in show.stdout, show.stderr
    assert not (tmp_path / "cache").exists()


async def test_a_finished_run_lives_in_the_log_file_and_verify_names_unended_runs(tmp_path, tables):
    import os

    from agent.engine.config import RunConfig
    from agent.engine.orchestrator import start_run
    from storage import Event, EventLog

    db = str(tmp_path / "l.sqlite")
    state = await start_run(RunConfig(space="nas_macro", optimizer="random", trials=2, iterations=3), db=db)
    wal = db + "-wal"
    assert not os.path.exists(wal) or os.path.getsize(wal) == 0  # checkpointed into the log at the end
    if os.path.exists(wal):
        os.remove(wal)  # losing the -wal now loses nothing
    log = await EventLog.open(db)
    try:
        assert (await log.verify()).unended == ()
        assert sum(1 for e in await log.read(state.run_id) if e.type == "run.finished") == 1
        await log.append(Event("run.created", "cut", {"config": {"space": "nas_macro"}}, effect_key="run/created"))
        await log.append(Event("run.started", "cut", {"pid": 1, "host": "h", "mode": "live"}))
        report = await log.verify()
    finally:
        await log.close()
    assert report.ok and report.unended == ("cut",)


async def _copy_with_config(src: str, dst: str, run_id: str, edit, *, finished: bool = True) -> None:
    """The run's events written again into a new log, its recorded config changed by ``edit`` (as another
    version of the program would have recorded it); ``finished=False`` leaves its end out (resumable)."""
    from tests.conftest import rewrite_run

    def rewrite(e):
        if e.type == "run.finished" and not finished:
            return None
        payload = dict(e.payload)
        if e.type == "run.created":
            payload["config"] = edit(dict(payload["config"]))
        return payload, e.schema_version

    await rewrite_run(src, dst, run_id, rewrite)


async def test_a_run_recorded_with_settings_this_version_lacks_is_refused_not_reexecuted(tmp_path, tables):
    """A later version's setting is not dropped on replay or resume (the run would re-execute differently):
    both refuse, naming the setting and the version that wrote it; the unchanged copy replays."""
    import pytest

    from agent.engine.config import RunConfig
    from agent.engine.orchestrator import replay_run, resume_run, start_run
    from tools.errors import UserError

    db = str(tmp_path / "l.sqlite")
    await start_run(RunConfig(space="nas_macro", optimizer="random", trials=1, iterations=2, seed=3), db=db,
                    run_id="r")

    def later(config: dict) -> dict:
        config["assist"] = {**config["assist"], "telepathy": True}
        config["code_version"] = "0.9.0+abc1234"
        return config

    def agent_loop(config: dict) -> dict:
        config.update(mode="agent", code_version="0.1.0+0ld0ld0")
        del config["model_help"]
        return config

    paths = {n: str(tmp_path / f"{n}.sqlite") for n in ("same", "newer", "newer_open", "older")}
    await _copy_with_config(db, paths["same"], "r", lambda c: c)
    await _copy_with_config(db, paths["newer"], "r", later)
    await _copy_with_config(db, paths["newer_open"], "r", later, finished=False)
    await _copy_with_config(db, paths["older"], "r", agent_loop)
    assert (await replay_run("r", db=paths["same"])).status == "finished"
    refusal = r"0\.9\.0\+abc1234 with settings this version does not know \(assist\.telepathy\); git checkout abc1234"
    with pytest.raises(UserError, match=refusal):
        await replay_run("r", db=paths["newer"])
    with pytest.raises(UserError, match=refusal):
        await resume_run("r", db=paths["newer_open"])
    with pytest.raises(UserError, match=r"hand-written agent loop.*git checkout 0ld0ld0"):
        await replay_run("r", db=paths["older"])
