"""Crash safety through the real CLI: a search killed with SIGKILL at random points, resumed again and again,
ends equal to an uninterrupted run, with no evaluation or completed LLM call recorded twice. Ctrl-C leaves a
resumable run and exit status 130."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter

import pytest

from tests.conftest import ROOT
from tests.test_search_e2e import committed_events, valid_answers

pytestmark = pytest.mark.slow


def cli(*args: str) -> list[str]:
    return [sys.executable, str(ROOT / "run_agent.py"), *args]


def env() -> dict[str, str]:
    e = dict(os.environ)
    e["PYTHONUNBUFFERED"] = "1"
    return e


def search_args(script: str, db: str, run_id: str) -> list[str]:
    # A low rate limit stretches the run over a couple of seconds, so random kills land inside it.
    return ["--space", "nas_macro", "--mode", "paper", "--llm", f"scripted:{script}", "--trials", "4",
            "--iterations", "10",
            "--parallel", "4", "--rate-limit", "8", "--seed", "4", "--db", db, "--run-id", run_id, "--json"]


def status_of(db: str, run_id: str) -> str:
    out = subprocess.run(cli("show", run_id, "--db", db, "--json"), capture_output=True, text=True, env=env())
    return str(json.loads(out.stdout)["status"]) if out.returncode == 0 else "absent"


def kill_and_resume_until_done(command: list[str], db: str, run_id: str, rng: random.Random,
                               max_events: int) -> int:
    """Start ``command``, SIGKILL it at a random point of the run's progress (a random number of newly logged
    events, 1..``max_events``: on a loaded machine the interpreter alone can take seconds to start, so wall
    time would say little), resume, and again, until the run finishes; then resume once more if it has not.
    Returns the kills that landed inside the run (after it was created, before it finished)."""
    kills = 0
    status = "absent"
    for _ in range(12):
        target = committed_events(db, run_id) + rng.randint(1, max_events)
        proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env())
        while proc.poll() is None and committed_events(db, run_id) < target:
            time.sleep(0.02)
        killed = proc.poll() is None
        if killed:
            proc.send_signal(signal.SIGKILL)
        proc.wait()
        status = status_of(db, run_id)
        assert status in ("absent", "interrupted", "finished")  # a killed run is never shown as running
        kills += killed and status == "interrupted"
        if status == "finished":
            break
        if status != "absent":  # killed before the run was even created: start it again
            command = cli("resume", run_id, "--db", db, "--json")
    if status != "finished":
        final = subprocess.run(cli("resume", run_id, "--db", db, "--json") if status != "absent" else command,
                               capture_output=True, text=True, env=env(), timeout=120)
        assert final.returncode == 0, final.stderr
    return kills


def shown(db: str, run_id: str) -> dict:
    out = subprocess.run(cli("show", run_id, "--db", db, "--json"), capture_output=True, text=True, env=env())
    assert out.returncode == 0, out.stderr
    return dict(json.loads(out.stdout))


def test_sigkill_at_random_points_then_resume_equals_uninterrupted_run(tmp_path, tables):
    answers = valid_answers("nas_macro", 8)
    replies = [json.dumps(a) for a in answers] + [json.dumps(answers[2]), json.dumps(answers[5])]
    script = tmp_path / "script.json"
    script.write_text(json.dumps(replies))

    ref = subprocess.run(cli(*search_args(str(script), str(tmp_path / "ref.sqlite"), "ref")), capture_output=True,
                         text=True, env=env(), timeout=120)
    assert ref.returncode == 0, ref.stderr
    reference = json.loads(ref.stdout)

    db = str(tmp_path / "crash.sqlite")
    kills = kill_and_resume_until_done(cli(*search_args(str(script), db, "r")), db, "r", random.Random(1234), 30)
    resumed = shown(db, "r")
    assert kills >= 3, "the kills should land inside the run"
    assert resumed["status"] == "finished"
    assert resumed["trials"] == reference["trials"]
    assert resumed["usage"]["calls"] == reference["usage"]["calls"]

    con = sqlite3.connect(db)
    rows = con.execute("SELECT type, effect_key, payload FROM events WHERE run_id='r'").fetchall()
    completed = Counter(key.rsplit("/", 1)[0] for type_, key, _ in rows if type_ == "effect.completed")
    assert completed and max(completed.values()) == 1  # no effect completed twice
    evaluations = sum(1 for t, _, p in rows if t == "effect.completed" and json.loads(p)["kind"] == "evaluate")
    assert evaluations == sum(1 for t in reference["trials"] for it in t["iterations"] if not it["repeat"])
    verify = subprocess.run(cli("verify", "--db", db), capture_output=True, text=True, env=env())
    assert verify.returncode == 0 and "hash chain intact" in verify.stdout


def test_agent_killed_at_random_points_resumes_to_the_uninterrupted_result(tmp_path, tables):
    # The LangChain agent against an OpenAI-compatible server that returns real tool_calls: each reply is a
    # function of the conversation (how many tool results it holds), so any re-execution gets the same one.
    from tests.fake_openai_server import FakeOpenAIServer, reply

    answers = valid_answers("nas_macro", 8)

    def next_call(body: dict) -> list[dict]:
        done = sum(1 for m in body["messages"] if m.get("role") == "tool")
        if done % 4 == 3:
            return [{"name": "query_history", "args": {}}]
        return [{"name": "lookup_benchmark", "args": {"architecture": answers[done % len(answers)]}}]

    with FakeOpenAIServer(default=reply("", tool_calls=next_call)) as server:
        def agent_args(db: str, run_id: str) -> list[str]:
            return ["--space", "nas_macro", "--mode", "agent", "--llm", "openai:fake", "--base-url",
                    server.base_url, "--trials", "3", "--iterations", "6", "--parallel", "3", "--rate-limit", "10",
                    "--seed", "2", "--db", db, "--run-id", run_id, "--json"]

        ref = subprocess.run(cli(*agent_args(str(tmp_path / "ref.sqlite"), "ref")), capture_output=True,
                             text=True, env=env(), timeout=120)
        assert ref.returncode == 0, ref.stderr
        reference = json.loads(ref.stdout)
        reference_calls = len(server.completions)
        assert reference["usage"]["calls"] == reference_calls

        db = str(tmp_path / "crash.sqlite")
        kills = kill_and_resume_until_done(cli(*agent_args(db, "a")), db, "a", random.Random(99), 40)
        resumed = shown(db, "a")
        assert kills >= 3, "the kills should land inside the run"
        assert resumed["status"] == "finished"
        assert resumed["trials"] == reference["trials"]
        assert resumed["usage"]["calls"] == reference["usage"]["calls"]
        # The server saw every completed call once: only a call in flight when a kill landed was sent again.
        bodies = Counter(json.dumps(r.body, sort_keys=True) for r in server.completions[reference_calls:])
        resent = sum(n - 1 for n in bodies.values())
        assert len(bodies) == reference_calls
        assert resent <= 3 * kills

    con = sqlite3.connect(db)
    rows = con.execute("SELECT type, effect_key FROM events WHERE run_id='a'").fetchall()
    completed = Counter(key.rsplit("/", 1)[0] for type_, key in rows if type_ == "effect.completed")
    assert completed and max(completed.values()) == 1
    replay = subprocess.run(cli("replay", "a", "--db", db), capture_output=True, text=True, env=env(), timeout=120)
    assert replay.returncode == 0 and "replay matches" in replay.stdout, replay.stdout + replay.stderr


def test_ctrl_c_leaves_a_resumable_run(tmp_path, tables):
    answers = valid_answers("channel_resnet", 10)
    script = tmp_path / "script.json"
    script.write_text(json.dumps([json.dumps(a) for a in answers]))
    db = str(tmp_path / "log.sqlite")
    args = ["--space", "channel_resnet", "--mode", "paper", "--llm", f"scripted:{script}", "--trials", "2",
            "--iterations", "10",
            "--rate-limit", "4", "--db", db, "--run-id", "c"]
    proc = subprocess.Popen(cli(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env())
    assert proc.stdout is not None
    first = proc.stdout.readline()
    assert first.strip() == "run c"  # the run id comes at once
    time.sleep(1.5)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert "resume with: python run_agent.py resume c" in err
    assert status_of(db, "c") == "interrupted"
    done = subprocess.run(cli("resume", "c", "--db", db, "--json"), capture_output=True, text=True, env=env(),
                          timeout=120)
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert doc["status"] == "finished"
    assert [len(t["iterations"]) for t in doc["trials"]] == [10, 10]


def test_bad_input_exits_2_with_one_line(tmp_path, tables):
    db = str(tmp_path / "x.sqlite")
    made = subprocess.run(cli("--space", "nas_macro", "--optimizer", "random", "--trials", "1", "--db", db),
                          capture_output=True, text=True, env=env(), timeout=60)
    assert made.returncode == 0, made.stderr
    cases = [
        (["--space", "nope"], "nas_macro"),
        (["--space", "nas_macro", "--trials", "0"], "at least 1"),
        (["resume", "missing", "--db", db], "python run_agent.py runs"),
        (["replay", "missing", "--db", db], "python run_agent.py runs"),
        (["show", "missing", "--db", str(tmp_path / "absent.sqlite")], "no event log"),
        (["--space", "nas_macro", "--llm", "bogus:thing", "--db", str(tmp_path / "y.sqlite")], "embedded"),
    ]
    for args, expected in cases:
        out = subprocess.run(cli(*args), capture_output=True, text=True, env=env(), timeout=60)
        assert out.returncode == 2, (args, out.stderr)
        assert expected in out.stderr, (args, out.stderr)
        assert out.stderr.count("\n") == 1, out.stderr


def test_missing_data_file_is_exit_2(tmp_path):
    e = env()
    e["GENIUS_DATA_DIR"] = str(tmp_path / "empty")
    e["XDG_CACHE_HOME"] = str(tmp_path / "cache")
    e["GENIUS_DATA_URL"] = "http://127.0.0.1:9"  # nothing listens there: the download fails at once
    out = subprocess.run(cli("--space", "nas_macro", "--optimizer", "random", "--db", str(tmp_path / "l.sqlite")),
                         capture_output=True, text=True, env=e, timeout=60)
    assert out.returncode == 2, out.stderr
    assert "GENIUS_DATA_DIR" in out.stderr


def test_verify_names_the_first_tampered_event(tmp_path, tables):
    db = str(tmp_path / "log.sqlite")
    made = subprocess.run(cli("--space", "nas_macro", "--optimizer", "random", "--trials", "2", "--db", db),
                          capture_output=True, text=True, env=env(), timeout=60)
    assert made.returncode == 0, made.stderr
    ok = subprocess.run(cli("verify", "--db", db), capture_output=True, text=True, env=env())
    assert ok.returncode == 0 and "hash chain intact" in ok.stdout
    con = sqlite3.connect(db)
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        con.execute("UPDATE events SET payload = '{}' WHERE seq = 7")
    con.execute("DROP TRIGGER events_no_update")
    con.execute("""UPDATE events SET payload = '{"tampered": true}' WHERE seq = 9""")
    con.commit()
    con.close()
    bad = subprocess.run(cli("verify", "--db", db), capture_output=True, text=True, env=env())
    assert bad.returncode == 1 and "first bad seq 9" in bad.stdout


def test_a_cost_budget_holds_over_sigkill_and_resume_cycles(tmp_path, tables):
    """The budget belongs to the run, not to a process: killed at random points and resumed again and again, a
    run spends no more than its --max-cost plus the one call that crossed it (trials one at a time; with parallel
    trials, one call per trial in flight: tests/test_budget.py)."""
    answers = valid_answers("nas_macro", 10)
    script = tmp_path / "script.json"
    script.write_text(json.dumps([json.dumps(a) for a in answers]))
    base = ["--space", "nas_macro", "--mode", "paper", "--llm", f"scripted:{script}", "--trials", "2",
            "--iterations", "10", "--parallel", "1", "--rate-limit", "8", "--seed", "4",
            "--price-prompt", "1", "--price-completion", "1", "--json"]
    ref = subprocess.run(cli(*base, "--db", str(tmp_path / "ref.sqlite"), "--run-id", "ref"), capture_output=True,
                         text=True, env=env(), timeout=120)
    assert ref.returncode == 0, ref.stderr
    full_cost = float(json.loads(ref.stdout)["usage"]["cost"])
    budget = round(full_cost / 2, 4)

    db = str(tmp_path / "b.sqlite")
    command = cli(*base, "--max-cost", str(budget), "--db", db, "--run-id", "b")
    rng = random.Random(7)
    kills = 0
    for _ in range(6):
        target = committed_events(db, "b") + rng.randint(1, 12)
        proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env())
        while proc.poll() is None and committed_events(db, "b") < target:
            time.sleep(0.02)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait()
        if status_of(db, "b") != "absent":
            command = cli("resume", "b", "--db", db, "--json")
    final = subprocess.run(command, capture_output=True, text=True, env=env(), timeout=120)
    assert final.returncode == 3, final.stderr  # stopped at the budget: a normal end with its own status
    assert kills >= 2, "the kills should land inside the run"
    con = sqlite3.connect(db)
    calls = [json.loads(p)["ok"] for (p,) in con.execute(
        "SELECT payload FROM events WHERE run_id='b' AND type='effect.completed'") if json.loads(p)["kind"] == "llm"]
    con.close()
    spent = sum(c["cost"] for c in calls)
    per_call = max(c["cost"] for c in calls)
    assert budget <= spent <= budget + per_call
    assert float(shown(db, "b")["usage"]["cost"]) == pytest.approx(spent, abs=1e-6)
