"""Many processes, one log: runs of several processes append at once with one intact chain and no "database is
locked"; a run is owned by one process at a time, whatever path reaches the log."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.slow


def cli(*args: str) -> list[str]:
    return [sys.executable, str(ROOT / "run_agent.py"), *args]


def test_eight_processes_with_eight_trials_each_append_to_one_log(tmp_path, tables):
    db = str(tmp_path / "shared.sqlite")
    procs = [subprocess.Popen(cli("--space", "nas_macro", "--mode", "paper", "--llm", "control:random", "--trials", "8",
                                  "--parallel", "8", "--seed", str(n), "--run-id", f"p{n}", "--db", db, "--json"),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for n in range(8)]
    outs = [p.communicate(timeout=300) for p in procs]
    for p, (_, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, err
        assert "locked" not in err.lower()
    runs = json.loads(subprocess.run(cli("runs", "--db", db, "--json"), capture_output=True, text=True).stdout)
    assert sorted(r["run_id"] for r in runs) == [f"p{n}" for n in range(8)]
    assert all(r["status"] == "finished" for r in runs)
    for n in range(8):
        doc = json.loads(subprocess.run(cli("show", f"p{n}", "--db", db, "--json"), capture_output=True,
                                        text=True).stdout)
        assert [len(t["iterations"]) for t in doc["trials"]] == [10] * 8
    verify = subprocess.run(cli("verify", "--db", db), capture_output=True, text=True)
    assert verify.returncode == 0 and "hash chain intact" in verify.stdout, verify.stdout


@pytest.mark.parametrize("second_path", ["same", "symlink", "hardlink"])
def test_a_second_resume_of_a_run_is_refused_before_it_reads_or_calls_anything(tmp_path, tables, second_path):
    from tests.fake_openai_server import FakeOpenAIServer, error, hang, reply

    db = tmp_path / "log.sqlite"
    answer = "[0, 1, 2, 0, 1, 2, 0, 1]"
    with FakeOpenAIServer(default=reply(answer)) as server:
        # the endpoint goes down at the second call: the run is interrupted there, resumable
        server.enqueue(reply(answer), *[error(503)] * 5)
        made = subprocess.run(cli("--space", "nas_macro", "--mode", "paper", "--llm", "openai:m", "--base-url",
                                  server.base_url, "--trials", "1", "--iterations", "3", "--run-id", "r", "--db",
                                  str(db)), capture_output=True, text=True, timeout=120)
        assert made.returncode == 1 and "resume" in made.stderr, made.stderr
        # the first resume waits on a slow endpoint ...
        server.set_default(hang(20.0))
        made_calls = len(server.completions)
        first = subprocess.Popen(cli("resume", "r", "--db", str(db)),
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 60  # until the first resume's call has reached the server (slow cores)
        while len(server.completions) == made_calls and time.monotonic() < deadline:
            time.sleep(0.05)
        calls_before = len(server.completions)
        assert calls_before == made_calls + 1
        other = {"same": db, "symlink": tmp_path / "link.sqlite", "hardlink": tmp_path / "hard.sqlite"}[second_path]
        if second_path == "symlink":
            os.symlink(db, other)
        elif second_path == "hardlink":
            os.link(db, other)
        second = subprocess.run(cli("resume", "r", "--db", str(other)), capture_output=True, text=True, timeout=60)
        first.kill()
        first.communicate()
    assert second.returncode == 2, second.stderr
    assert "is being run by process" in second.stderr and second.stderr.count("\n") == 1, second.stderr
    assert len(server.completions) == calls_before  # the second made no call
