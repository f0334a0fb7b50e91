"""Bad input gets one line and exit status 2, before anything is created; hints are safe to paste; secrets
inside URLs never reach a file; read-only commands create nothing; in-process models are not throttled."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agent import cli
from tests.conftest import ROOT

# flag -> hostile values; every one must be refused with one line naming the flag
HOSTILE: dict[str, list[str]] = {
    "--trials": ["0", "-3", "nan", "", "x", "1000000000000"],
    "--iterations": ["0", "-1", "1.5", "99999999"],
    "--parallel": ["0", "-2", "100000"],
    "--temperature": ["nan", "inf", "-0.1", "2.5", "x"],
    "--rate-limit": ["nan", "inf", "0", "-1", ""],
    "--timeout": ["nan", "inf", "0", "-5", "1e9"],
    "--max-cost": ["nan", "inf", "0", "-1"],
    "--max-tokens": ["0", "-5", "x"],
    "--tokens-per-minute": ["0", "-1"],
    "--price-prompt": ["nan", "inf", "-1"],
    "--price-completion": ["inf", "-0.5"],
    "--max-params": ["0", "-1", "x"],
    "--max-flops": ["0", "-1"],
    "--population": ["0"],
    "--sample-size": ["0"],
    "--candidates": ["0"],
    "--temperature-schedule": ["foo", "5:9", "1:", "0.1:0.2:0.3", "nan:1"],
    "--mode": ["bogus"],
    "--optimizer": ["bogus"],
    "--history-scope": ["world"],
    "--tool-calls": ["maybe"],
    "--json-schema": ["yes", ""],
    "--model-help": ["sometimes"],
    "--run-id": ["x; rm -rf ~", "-starts-with-dash", "a/b", "", "x" * 200],
    "--space": ["nope", ""],
    "--llm": ["bogus:thing", "openai:m --base-url"],
}


def run_cli(args: list[str], capsys) -> tuple[int, str]:
    try:
        rc = cli.main(args)
    except SystemExit as exc:  # argparse refusals
        rc = int(exc.code or 0)
    return rc, capsys.readouterr().err


@pytest.mark.parametrize(("flag", "value"), [(f, v) for f, values in HOSTILE.items() for v in values])
def test_every_hostile_value_is_one_line_and_exit_2_and_creates_nothing(tmp_path, tables, capsys, flag, value):
    where = tmp_path / "new" / "dir"
    args = ["--space", "nas_macro", "--db", str(where / "log.sqlite"), flag, value]
    if flag == "--space":
        args = ["--db", str(where / "log.sqlite"), "--space", value]
    rc, err = run_cli(args, capsys)
    assert rc == 2, err
    assert err.count("\n") == 1 and err.startswith("error: "), err
    assert "Traceback" not in err
    assert not where.exists(), "a refused command must create nothing"


@pytest.mark.parametrize("command", [["runs"], ["verify"], ["show", "r"], ["replay", "r"]])
def test_read_only_commands_create_nothing(tmp_path, capsys, command):
    where = tmp_path / "ghost" / "dir"
    rc, err = run_cli([*command, "--db", str(where / "x.sqlite")], capsys)
    assert rc == 2 and err.count("\n") == 1, err
    assert not (tmp_path / "ghost").exists()


def test_a_db_that_is_a_directory_is_one_line(tmp_path, capsys):
    rc, err = run_cli(["--space", "nas_macro", "--optimizer", "random", "--db", str(tmp_path)], capsys)
    assert rc in (1, 2) and err.count("\n") == 1 and "Traceback" not in err, err


def test_hints_are_quoted_and_name_the_db(tmp_path, tables, capsys):
    db = str(tmp_path / "my runs" / "log.sqlite")
    rc, _ = run_cli(["--space", "nas_macro", "--optimizer", "random", "--trials", "1", "--run-id", "r.1",
                     "--db", db], capsys)
    assert rc == 0
    rc, err = run_cli(["--space", "nas_macro", "--optimizer", "random", "--run-id", "r.1", "--db", db], capsys)
    assert rc == 2
    hint = err.split("resume it with: ", 1)[1].strip()
    assert shlex.split(hint) == ["python", "run_agent.py", "resume", "r.1", "--db", db]


def test_credentials_in_a_base_url_reach_no_file(tmp_path, tables, capsys):
    from tests.fake_openai_server import FakeOpenAIServer, reply

    with FakeOpenAIServer(default=reply("[0, 1, 2, 0, 1, 2, 0, 1]")) as server:
        host = server.base_url.split("://", 1)[1]
        url = f"http://alice:pa55word-xyz@{host}"
        db = tmp_path / "log.sqlite"
        rc, err = run_cli(["--space", "nas_macro", "--mode", "paper", "--llm", "openai:m", "--base-url", url,
                           "--trials", "1", "--iterations", "2", "--db", str(db)], capsys)
        assert rc == 0, err
        assert server.completions
    written = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.is_file())
    assert b"pa55word-xyz" not in written and b"alice" not in written


def test_key_bearing_query_parameters_are_masked():
    from storage.redact import redact

    recorded = redact({"base_url": "https://h/v1?api-key=key-123456789&model=m", "note": "a = b ? c"})
    assert "key-123456789" not in json.dumps(recorded) and "model=m" in recorded["base_url"]
    assert recorded["note"] == "a = b ? c"


def test_in_process_models_are_not_throttled_unless_asked(tmp_path, tables, capsys):
    # 60 calls at the network default of 5/s would take 12 s; an in-process model has no request rate limit
    started = time.perf_counter()
    rc, err = run_cli(["--space", "nas_macro", "--mode", "paper", "--llm", "control:random", "--trials", "6",
                       "--parallel", "6", "--db", str(tmp_path / "l.sqlite"), "--json"], capsys)
    assert rc == 0, err
    from agent.engine.config import RunConfig

    assert RunConfig(space="nas_macro", llm="control:random").request_rate_limit() == 0.0
    assert RunConfig(space="nas_macro", llm="openai:gpt-4o").request_rate_limit() == 5.0
    assert RunConfig(space="nas_macro", llm="control:random", rate_limit=2.0).request_rate_limit() == 2.0
    assert time.perf_counter() - started < 60  # a loose bound: the figure itself is measured in benchmarks/


def test_sigterm_is_handled_like_ctrl_c(tmp_path, tables):
    script = tmp_path / "s.json"
    from tests.test_search_e2e import valid_answers

    script.write_text(json.dumps([json.dumps(a) for a in valid_answers("nas_macro", 10)]))
    db = str(tmp_path / "log.sqlite")
    proc = subprocess.Popen([sys.executable, str(ROOT / "run_agent.py"), "--space", "nas_macro", "--mode", "paper",
                             "--llm", f"scripted:{script}", "--trials", "2", "--rate-limit", "3", "--run-id", "t",
                             "--db", db], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    assert proc.stdout is not None and proc.stdout.readline().strip() == "run t"
    time.sleep(1.0)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert "terminated; resume with: python run_agent.py resume t --db" in err
    shown = subprocess.run([sys.executable, str(ROOT / "run_agent.py"), "show", "t", "--db", db, "--json"],
                           capture_output=True, text=True)
    assert json.loads(shown.stdout)["status"] == "interrupted"


def test_replay_of_a_running_run_says_so(tmp_path, tables, capsys):
    from storage import Event, EventLog

    async def make() -> None:
        log = await EventLog.open(str(tmp_path / "l.sqlite"))
        try:
            await log.append(Event("run.created", "live", {"config": {"space": "nas_macro"}}, effect_key="run/created"))
            await log.append(Event("run.started", "live", {"pid": os.getpid(), "host": os.uname().nodename,
                                                          "mode": "live"}))
        finally:
            await log.close()

    import asyncio

    asyncio.run(make())
    rc, err = run_cli(["replay", "live", "--db", str(tmp_path / "l.sqlite")], capsys)
    assert rc == 2 and "still running" in err, err


def test_unwritable_log_file_falls_back_to_stderr(tmp_path, tables, capsys):
    db_dir = tmp_path / "ro"
    db_dir.mkdir()
    rc, _ = run_cli(["--space", "nas_macro", "--optimizer", "random", "--trials", "1", "--db",
                     str(db_dir / "l.sqlite")], capsys)
    assert rc == 0
    (db_dir / "genius.log").unlink(missing_ok=True)
    (db_dir / "genius.log").mkdir()  # a log path that cannot be opened as a file
    rc, err = run_cli(["runs", "--db", str(db_dir / "l.sqlite")], capsys)
    assert rc == 0 and "Traceback" not in err


def test_paths_in_hints_survive_the_shell():
    from storage.hints import command_hint

    hint = command_hint("resume", "r", db=str(Path("/tmp/a b/it's.sqlite")))
    assert shlex.split(hint)[-1] == "/tmp/a b/it's.sqlite"


def run_cli_json(args: list[str], capsys) -> tuple[int, dict, str]:
    rc = cli.main(args)
    captured = capsys.readouterr()
    lines = [line for line in captured.out.splitlines() if not line.startswith("run ")]
    return rc, (json.loads("\n".join(lines)) if lines else {}), captured.err


def test_the_usage_counts_requests_as_the_server_saw_them(tmp_path, tables, capsys):
    from tests.fake_openai_server import FakeOpenAIServer, error, reply

    answers = iter(["[0, 1, 2, 0, 1, 2, 0, 1]", "[1, 1, 2, 0, 1, 2, 0, 1]", "[2, 1, 2, 0, 1, 2, 0, 1]",
                    "[0, 0, 2, 0, 1, 2, 0, 1]"])
    with FakeOpenAIServer(default=reply(lambda body: next(answers))) as server:
        # call 1: two 500s, then a reply; call 2: 500 five times (the endpoint is down: the trial is interrupted)
        server.enqueue(error(500), error(500), reply("[2, 2, 2, 2, 2, 2, 2, 2]"), *[error(500)] * 5)
        db = str(tmp_path / "log.sqlite")
        rc, doc, err = run_cli_json(["--space", "nas_macro", "--mode", "paper", "--llm", "openai:m", "--base-url",
                                     server.base_url, "--trials", "1", "--iterations", "3", "--db", db, "--json"],
                                    capsys)
        assert rc == 1 and "once the endpoint is back, resume with" in err, err
        assert doc["status"] == "interrupted"
        seen = server.completions
        usage = doc["usage"]
        failed_at_server = sum(1 for r in seen if r.behaviour == "error")
        assert usage["requests"] == len(seen)
        assert usage["failed_requests"] == failed_at_server == 7
        assert usage["failed_calls"] == 0 and usage["retries"] == 2 + 4
        # back up: the resume makes the unreached call again and finishes
        rc, doc, err = run_cli_json(["resume", doc["run_id"], "--db", db, "--json"], capsys)
        assert rc == 0 and doc["status"] == "finished", err
        assert doc["usage"]["requests"] == len(server.completions)


def test_a_budget_stop_is_a_normal_end_with_its_own_exit_status(tmp_path, tables, capsys):
    from tests.test_search_e2e import valid_answers

    script = tmp_path / "s.json"
    script.write_text(json.dumps([json.dumps(a) for a in valid_answers("nas_macro", 10)]))
    rc = cli.main(["--space", "nas_macro", "--mode", "paper", "--llm", f"scripted:{script}", "--trials", "1",
                   "--max-tokens", "50", "--run-id", "b", "--db", str(tmp_path / "l.sqlite")])
    err = capsys.readouterr().err
    assert rc == cli.BUDGET_EXIT == 3, err
    assert "budget reached: LLM token budget spent" in err and "resume b --max-tokens N --db" in err
    assert "error" not in err.lower().split("budget reached")[0]


def test_a_plot_that_cannot_be_written_is_one_line(tmp_path, tables, capsys):
    rc, _ = run_cli(["--space", "nas_macro", "--optimizer", "random", "--trials", "1", "--run-id", "p", "--db",
                     str(tmp_path / "l.sqlite")], capsys)
    assert rc == 0
    rc, err = run_cli(["show", "p", "--db", str(tmp_path / "l.sqlite"), "--plot", "/nonexistent/dir/p.png"], capsys)
    assert rc == 2 and err.count("\n") == 1 and "--plot" in err, err


def test_a_log_cut_short_is_named_damaged_and_refused_for_appends(tmp_path, tables, capsys):
    db = tmp_path / "l.sqlite"
    rc, _ = run_cli(["--space", "nas_macro", "--optimizer", "random", "--trials", "3", "--db", str(db)], capsys)
    assert rc == 0
    with open(db, "r+b") as fh:
        fh.truncate(db.stat().st_size - 300)
    for command in (["runs"], ["--space", "nas_macro", "--optimizer", "random", "--trials", "1"]):
        rc, err = run_cli([*command, "--db", str(db)], capsys)
        assert rc == 2 and err.count("\n") == 1 and "damaged" in err and "verify --db" in err, err
    import sqlite3

    con = sqlite3.connect(db)
    try:
        assert con.execute("SELECT COUNT(*) FROM events WHERE type = 'run.created'").fetchone()[0] == 1
    finally:
        con.close()


@pytest.mark.parametrize("args", [
    ["compare", "--space", "nas_macro", "--trials", "0"],
    ["compare", "--space", "nas_macro", "--iterations", "-1"],
    ["compare", "--space", "nope"],
    ["compare", "--space", "nas_macro", "--optimizers", "random,annealing"],
    ["compare", "--space", "nas_macro", "--parallel", "0"],
    ["resume", "r", "--timeout", "inf"],
    ["resume", "r", "--max-cost", "nan"],
    ["resume", "r", "--rate-limit", "0"],
    ["resume", "r", "--timeout", "0"],
    ["resume", "r", "--max-tokens", "-5"],
    ["show", "r", "--plot", "DIR"],
    ["show", "missing"],
    ["replay", "missing"],
    ["report", "missing", "--html", "DIR/r.html"],
    ["report", "r", "--html", "DIR"],
    ["spaces", "--data-dir", "DIR/none"],
])
def test_other_commands_refuse_hostile_values_in_one_line(tmp_path, tables, capsys, args):
    db = tmp_path / "l.sqlite"
    rc, _ = run_cli(["--space", "nas_macro", "--optimizer", "random", "--trials", "1", "--iterations", "2",
                     "--run-id", "r", "--db", str(db)], capsys)
    assert rc == 0
    # make r resumable: a run left interrupted by a crash has no ending event
    import sqlite3

    con = sqlite3.connect(db)
    con.execute("DROP TRIGGER events_no_delete")
    con.execute("DELETE FROM events WHERE type = 'run.finished'")
    con.commit()
    con.close()
    before = sorted(p.name for p in tmp_path.iterdir())
    args = [a.replace("DIR", str(tmp_path)) for a in args]
    rc, err = run_cli([*args, "--db", str(db)] if args[0] != "spaces" else args, capsys)
    if args[0] == "spaces":  # an empty data directory is not an error: the table says what is missing
        assert rc == 0
        return
    assert rc == 2, err
    assert err.count("\n") == 1 and err.startswith("error: ") and "Traceback" not in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_a_budget_holds_across_resumes_and_resume_raises_it(tmp_path, tables, capsys):
    from tests.test_search_e2e import valid_answers

    script = tmp_path / "s.json"
    script.write_text(json.dumps([json.dumps(a) for a in valid_answers("nas_macro", 10)]))
    db = str(tmp_path / "l.sqlite")

    def tokens() -> int:
        rc, doc, _ = run_cli_json(["show", "b", "--db", db, "--json"], capsys)
        assert rc == 0
        return int(doc["usage"]["prompt_tokens"] + doc["usage"]["completion_tokens"])

    rc = cli.main(["--space", "nas_macro", "--mode", "paper", "--llm", f"scripted:{script}", "--trials", "1",
                   "--max-tokens", "800", "--run-id", "b", "--db", db])
    capsys.readouterr()
    assert rc == cli.BUDGET_EXIT
    first = tokens()
    import sqlite3

    con = sqlite3.connect(db)
    calls = [json.loads(p)["ok"] for (p,) in con.execute("SELECT payload FROM events WHERE type='effect.completed'")
             if json.loads(p)["kind"] == "llm"]
    con.close()
    per_call = max(c["prompt_tokens"] + c["completion_tokens"] for c in calls)
    for _ in range(3):  # resuming does not reset the budget: no call is made
        assert cli.main(["resume", "b", "--db", db]) == cli.BUDGET_EXIT
        capsys.readouterr()
    assert tokens() == first and first <= 800 + per_call  # the budget plus at most the call that crossed it
    assert cli.main(["resume", "b", "--db", db, "--max-tokens", "100000"]) == 0  # raised: the run finishes
    capsys.readouterr()
    assert tokens() > first


def test_prices_come_from_the_price_database_and_an_unknown_price_refuses_a_cost_budget(tmp_path, tables, capsys,
                                                                                        monkeypatch):
    from agent.engine.config import RunConfig
    from agent.engine.orchestrator import _check_config
    from agent.llm.prices import known_prices
    from agent.llm.spec import parse_llm_spec

    prompt, completion = known_prices(parse_llm_spec("openai:gpt-4o")) or (0.0, 0.0)
    assert 0 < prompt < completion  # per 1,000 tokens, completion dearer
    assert known_prices(parse_llm_spec("embedded")) == (0.0, 0.0)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-used-0000")
    resolved = _check_config(RunConfig(space="nas_macro", llm="openai:gpt-4o"))
    assert (resolved.price_prompt_per_1k, resolved.price_completion_per_1k) == (prompt, completion)
    given = _check_config(RunConfig(space="nas_macro", llm="openai:gpt-4o", price_prompt_per_1k=1.0))
    assert (given.price_prompt_per_1k, given.price_completion_per_1k) == (1.0, completion)
    rc, err = run_cli(["--space", "nas_macro", "--llm", "openai:some-unlisted-model", "--base-url",
                       "http://127.0.0.1:9/v1", "--max-cost", "1", "--db", str(tmp_path / "x" / "l.sqlite")], capsys)
    assert rc == 2 and "--price-prompt" in err and err.count("\n") == 1, err
    assert not (tmp_path / "x").exists()
