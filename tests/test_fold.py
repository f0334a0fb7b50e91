"""The run state is a pure fold over events (storage/fold.py); and the committed v1 golden log still folds."""

from __future__ import annotations

import copy
import shutil
from itertools import count
from pathlib import Path
from typing import Any

import pytest

from storage import EventLog, RunState, StoredEvent, fold_all, fold_run

RUN = "run-f"
GOLDEN = Path(__file__).parent / "golden" / "eventlog_v1.sqlite"


class Events:
    """Builds a sequence of stored events with increasing seq and ts."""

    def __init__(self) -> None:
        self.events: list[StoredEvent] = []
        self._seq = count(1)

    def add(self, type_: str, payload: dict[str, Any], *, trial: int | None = None, run: str = RUN) -> StoredEvent:
        seq = next(self._seq)
        e = StoredEvent(seq=seq, type=type_, run_id=run, payload=payload, trial=trial, step=None, effect_key=None,
                        schema_version=1, ts=1000.0 + seq, hash="")
        self.events.append(e)
        return e

    def llm(self, trial: int, prompt: int, completion: int, *, cost: float = 0.0, retries: int = 0,
            run: str = RUN) -> None:
        self.add("effect.completed", {"kind": "llm", "ok": {"content": "[1]", "prompt_tokens": prompt,
                                                            "completion_tokens": completion, "cost": cost,
                                                            "attempts": [{"status": 429}] * retries}},
                 trial=trial, run=run)

    def iteration(self, trial: int, i: int, accuracy: float | None, *, repeat: bool = False,
                  status: str = "ok", run: str = RUN) -> None:
        payload: dict[str, Any] = {"iteration": i, "status": status, "arch": [i, trial], "key": f"a{i}",
                                   "repeat": repeat, "attempts": 1}
        if accuracy is not None:
            payload["evaluation"] = {"accuracy": accuracy, "test_accuracy": accuracy - 1, "rank": 10 + i}
        self.add("iteration.completed", payload, trial=trial, run=run)


def scenario() -> tuple[Events, dict[str, int]]:
    """A run that is interrupted and resumed; returns the events and the index after each phase."""
    ev = Events()
    marks: dict[str, int] = {}
    ev.add("run.created", {"config": {"space": "nb201", "iterations": 3}})
    marks["created"] = len(ev.events)
    ev.add("run.started", {"pid": 100, "host": "h"})
    ev.add("trial.started", {"seed": 11, "temperature": 0.7}, trial=0)
    ev.add("trial.started", {"seed": 22, "temperature": 1.0}, trial=1)
    ev.llm(0, 800, 30, cost=0.01, retries=2)
    ev.add("attempt.rejected", {"kind": "invalid", "answer": "[9]"}, trial=0)
    ev.add("attempt.rejected", {"kind": "repeat", "answer": "[1]"}, trial=0)
    ev.add("effect.completed", {"kind": "evaluate", "ok": {"accuracy": 90.0}}, trial=0)
    ev.iteration(0, 0, 90.0)
    ev.llm(1, 700, 20, cost=0.02)
    ev.add("effect.completed", {"kind": "llm", "error": {"type": "ModelGaveUp", "message": "429"}}, trial=1)
    ev.add("attempt.rejected", {"kind": "invalid", "answer": "?"}, trial=1)
    ev.iteration(1, 0, 95.0)
    marks["running"] = len(ev.events)
    ev.add("run.interrupted", {"reason": "Ctrl-C"})
    marks["interrupted"] = len(ev.events)
    ev.add("run.started", {"pid": 200, "host": "h"})
    marks["resumed"] = len(ev.events)
    ev.iteration(0, 1, 93.0)
    ev.iteration(0, 2, 93.0, repeat=True)  # ties the best: the first one stays best
    ev.add("effect.completed", {"kind": "evaluate", "error": {"type": "TrainingFailed", "message": "oom"}}, trial=1)
    ev.iteration(1, 1, None, status="failed")
    ev.add("trial.finished", {"status": "finished"}, trial=0)
    ev.add("trial.finished", {"status": "stopped", "reason": "budget"}, trial=1)
    ev.add("run.finished", {"status": "finished"})
    return ev, marks


def test_status_transitions() -> None:
    ev, marks = scenario()
    states = {name: fold_run(RUN, ev.events[:n]) for name, n in marks.items()}
    assert fold_run(RUN, []).status == "created"
    assert states["created"].status == "created" and states["created"].config == {"space": "nb201", "iterations": 3}
    assert states["created"].created_ts == 1001.0
    assert states["running"].status == "running" and states["running"].executions == 1
    assert {t.status for t in states["running"].trials.values()} == {"running"}
    assert states["interrupted"].status == "interrupted"
    assert states["interrupted"].interrupt_reason == "Ctrl-C"
    assert {t.status for t in states["interrupted"].trials.values()} == {"interrupted"}
    assert states["resumed"].status == "running" and states["resumed"].executions == 2
    assert states["resumed"].last_pid == 200
    assert {t.status for t in states["resumed"].trials.values()} == {"running"}
    final = fold_run(RUN, ev.events)
    assert final.status == "finished" and final.finished_ts == ev.events[-1].ts
    assert (final.trials[0].status, final.trials[1].status) == ("finished", "stopped")
    assert final.trials[1].reason == "budget"


def test_usage_best_repeats_rejections() -> None:
    ev, _ = scenario()
    s = fold_run(RUN, ev.events)
    assert s.usage() == {"calls": 2, "prompt_tokens": 1500, "completion_tokens": 50, "failed_calls": 1,
                         "retries": 2, "cost": 0.03}
    assert s.errors == ["trial 1: ModelGaveUp: 429"]
    assert s.evaluations == 1  # a failed evaluation is not counted
    t0, t1 = s.trials[0], s.trials[1]
    assert (t0.seed, t0.temperature, t1.seed, t1.temperature) == (11, 0.7, 22, 1.0)
    assert (t0.llm_calls, t0.prompt_tokens, t0.completion_tokens) == (1, 800, 30)
    assert (t1.llm_calls, t1.prompt_tokens, t1.completion_tokens) == (1, 700, 20)
    assert [it.iteration for it in t0.iterations] == [0, 1, 2]
    best0 = t0.best()
    assert best0 is not None and (best0.iteration, best0.accuracy, best0.rank) == (1, 93.0, 11)
    assert t0.repeat_fraction() == pytest.approx(1 / 3)
    assert [it.status for it in t1.iterations] == ["ok", "failed"]
    assert len(t1.evaluated()) == 1 and t1.repeat_fraction() == 0.0
    best = s.best()
    assert best is not None and best.accuracy == 95.0 and best.arch == [0, 1]
    assert (t0.rejected, t0.rejections) == (2, {"invalid": 1, "repeat": 1})
    assert (t1.rejected, t1.rejections) == (1, {"invalid": 1})


def test_fold_is_pure() -> None:
    ev, _ = scenario()
    before = copy.deepcopy(ev.events)
    first, second = fold_run(RUN, ev.events), fold_run(RUN, iter(ev.events))
    assert first == second
    assert ev.events == before


def test_fold_ignores_other_runs_and_unknown_types() -> None:
    ev, _ = scenario()
    noise = Events()
    noise.add("iteration.completed", {"iteration": 0, "evaluation": {"accuracy": 99.9}}, trial=0, run="other")
    noise.add("run.finished", {"status": "failed"}, run="other")
    noise.add("some.future_type", {"anything": [1, 2]}, trial=0)  # a type written by a newer version
    mixed = [x for e in ev.events for x in (e, *noise.events)]
    assert fold_run(RUN, mixed) == fold_run(RUN, ev.events)  # dataclass equality: every field


def test_fold_all_several_runs() -> None:
    ev = Events()
    for run in ("b", "a", "c"):
        ev.add("run.created", {"config": {"name": run}}, run=run)
    ev.add("run.started", {"pid": 1}, run="a")
    ev.add("run.started", {"pid": 2}, run="b")
    ev.iteration(0, 0, 80.0, run="a")
    ev.iteration(0, 0, 85.0, run="b")
    ev.llm(0, 10, 1, run="b")
    ev.add("run.finished", {"status": "finished"}, run="b")
    ev.add("run.interrupted", {"reason": "budget"}, run="a")
    states = fold_all(ev.events)
    assert list(states) == ["b", "a", "c"]  # creation order
    assert {k: s.status for k, s in states.items()} == {"b": "finished", "a": "interrupted", "c": "created"}
    assert all(isinstance(s, RunState) for s in states.values())
    for run, state in states.items():
        assert state == fold_run(run, ev.events)
    assert states["b"].calls == 1 and states["a"].calls == 0
    assert [s.best().accuracy if s.best() else None for s in states.values()] == [85.0, 80.0, None]


# ------------------------------------------------------------------------------------------ the golden log
async def test_golden_v1_log(tmp_path: Path) -> None:
    """The v1 log committed in tests/golden must open, verify and fold the same in every later version."""
    path = tmp_path / GOLDEN.name
    shutil.copyfile(GOLDEN, path)  # opening makes -wal/-shm files; keep them out of the repository
    async with await EventLog.open(path, writable=False, create=False) as log:
        report = await log.verify()
        events = await log.read()
        assert await log.run_ids() == ["golden-run-1", "golden-run-2"]
    assert report.ok and report.events == 25
    assert {e.type for e in events} == {
        "run.created", "run.started", "run.interrupted", "run.finished", "trial.started", "effect.requested",
        "effect.completed", "attempt.rejected", "iteration.completed", "trial.finished"}
    states = fold_all(events)
    s = states["golden-run-1"]
    assert s.config["space"] == "nb201" and s.config["model"]["api_key"] == "[REDACTED]"
    assert (s.status, s.executions, s.last_pid, s.interrupt_reason) == (
        "finished", 2, 4343, "interrupted by the user (Ctrl-C)")
    assert s.usage() == {"calls": 1, "prompt_tokens": 812, "completion_tokens": 37, "failed_calls": 1,
                         "retries": 1, "cost": 0.0004}
    assert s.evaluations == 1
    assert s.errors == ["trial 1: ModelGaveUp: 429 five times"]
    t0, t1 = s.trials[0], s.trials[1]
    assert (t0.status, t0.seed, t0.temperature, t0.rejected, t0.rejections) == (
        "finished", 123, 0.7, 1, {"invalid": 1})
    assert (t1.status, t1.reason, t1.seed) == ("failed", "model gave up", 456)
    assert [(it.iteration, it.status, it.accuracy, it.repeat) for it in t0.iterations] == [
        (0, "ok", 91.2, False), (1, "ok", 91.2, True), (2, "ok", 93.5, False)]
    assert t0.repeat_fraction() == pytest.approx(1 / 3)
    best = s.best()
    assert best is not None and (best.arch, best.accuracy, best.rank) == ([0, 0, 0, 0, 0, 0], 93.5, 3)
    other = states["golden-run-2"]
    assert (other.status, other.executions, other.interrupt_reason) == ("interrupted", 1, "budget exhausted")
    assert other.config == {"space": "nas_macro", "strategy": "random", "seed": 1}
