"""The quick commands load only what they use: no structlog, numpy, langchain or openai for reading the log.

Their start-up time is measured by benchmarks/startup.py (tests never assert on time); what keeps it low is
which heavy modules a command imports, and that is asserted here: each command runs in a new interpreter
through the real command line, which then reports the heavy modules it found loaded.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import ROOT

HEAVY = ("structlog", "numpy", "langchain", "langchain_core", "openai", "torch", "xllamacpp")

PROBE = """
import json, sys
sys.path.insert(0, {root!r})
sys.argv = ["run_agent.py", *{argv!r}]
from agent.cli import main
code = main()
print(json.dumps({{"code": code, "heavy": sorted(m for m in {heavy!r} if m in sys.modules)}}), file=sys.stderr)
"""


def loaded_by(argv: list[str]) -> dict[str, object]:
    script = PROBE.format(root=str(ROOT), argv=argv, heavy=HEAVY)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=ROOT)
    return json.loads(done.stderr.strip().splitlines()[-1])


@pytest.fixture
def log_with_a_run(tmp_path, tables):
    from agent.api import search

    db = str(tmp_path / "g.sqlite")
    run = search(space="nas_macro", optimizer="random", trials=1, iterations=2, seed=0, db=db)
    return db, run.run_id


def test_reading_commands_import_no_heavy_module(log_with_a_run):
    db, run_id = log_with_a_run
    for argv in (["runs", "--db", db], ["show", run_id, "--db", db], ["spaces"], ["verify", "--db", db]):
        found = loaded_by(argv)
        assert found == {"code": 0, "heavy": []}, (argv, found)


def test_a_reading_command_refused_stays_quick(log_with_a_run):
    # An unknown run is a one-line user error (exit 2): no logging is set up for it, nothing heavy is loaded.
    db, _ = log_with_a_run
    found = loaded_by(["show", "no-such-run", "--db", db])
    assert found == {"code": 2, "heavy": []}, found


def test_a_search_sets_its_logging_up(tmp_path, tables):
    # The other side: a command that runs something configures structlog before it starts (warnings reach the user
    # and genius.log), as it did when agent/__init__ did it for every command.
    db = str(tmp_path / "s.sqlite")
    found = loaded_by(["--space", "nas_macro", "--optimizer", "random", "--trials", "1", "--iterations", "1",
                       "--db", db])
    assert found["code"] == 0
    assert "structlog" in found["heavy"]
