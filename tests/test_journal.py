"""Durable execution (storage/journal.py) over a real event log: live, resume after a crash, replay.

A "trial" here is a small coroutine that asks for effects the way a strategy does; ``Effects`` counts how
often each one is really performed, which is what resume and replay must keep to the recorded minimum.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from storage import (
    DivergenceError,
    EffectFailed,
    Event,
    EventLog,
    Journal,
    MemorySink,
    ReplayMissingEffect,
    StorageError,
    TrialJournal,
)
from tools.errors import GeniusError

RUN = "run-j"


class ModelGaveUp(GeniusError):
    """An expected failure of the outside world: recorded, and raised again on resume and replay."""


class BudgetStop(GeniusError):
    """A stop that must not become a fact of the run."""

    record_in_log = False


class Crash(Exception):
    """Stands in for the process dying at a chosen point."""


class Effects:
    """Performs effects and counts how often each really ran."""

    def __init__(self, *, fail_on: str | None = None, crash_on: str | None = None) -> None:
        self.calls: Counter[str] = Counter()
        self.fail_on = fail_on
        self.crash_on = crash_on

    def __call__(self, name: str, result: Any) -> Callable[[], Awaitable[Any]]:
        async def perform() -> Any:
            self.calls[name] += 1
            if name == self.crash_on:
                raise Crash(name)
            if name == self.fail_on:
                raise ModelGaveUp(f"{name}: rate limited 5 times, giving up")
            return result

        return perform


async def trial_code(tj: TrialJournal, fx: Effects, *, prompt: str = "propose an architecture") -> list[Any]:
    """Three iterations: ask the model, draw a number, evaluate, record the outcome."""
    out: list[Any] = []
    for i in range(3):
        answer = await tj.effect("llm", {"prompt": f"{prompt} #{i}", "temperature": 0.7},
                                 fx(f"llm{i}", {"text": f"[{i}, 1, 2]", "prompt_tokens": 10, "completion_tokens": 3}))
        draw = await tj.effect("random", {"what": "tie-break"}, fx(f"random{i}", 0.25 * i))
        acc = await tj.effect("evaluate", {"arch": [i, 1, 2]}, fx(f"evaluate{i}", {"accuracy": 0.9 + i / 100}))
        await tj.record("iteration.completed", {"iteration": i, "status": "ok", "arch": [i, 1, 2], "attempts": 1,
                                                "evaluation": acc, "draw": draw})
        out.append((answer, draw, acc))
    return out


async def open_journal(log: EventLog, *, replay: bool = False, sink: Any = None) -> Journal:
    return Journal(RUN, sink if sink is not None else log, await log.read(RUN), replay=replay)


@pytest.fixture
async def log(tmp_path: Path) -> Any:
    async with await EventLog.open(tmp_path / "journal.sqlite") as log:
        yield log


EFFECTS = [f"{kind}{i}" for i in range(3) for kind in ("llm", "random", "evaluate")]


async def test_first_execution_performs_and_records(log: EventLog) -> None:
    fx = Effects()
    result = await trial_code((await open_journal(log)).trial(0), fx)
    assert fx.calls == Counter(dict.fromkeys(EFFECTS, 1))
    events = await log.read(RUN)
    assert [e.type for e in events[:3]] == ["effect.requested", "effect.completed", "effect.requested"]
    assert Counter(e.type for e in events) == {"effect.requested": 9, "effect.completed": 9,
                                               "iteration.completed": 3}
    first_req, first_res = events[0], events[1]
    assert first_req.payload == {"kind": "llm", "request": {"prompt": "propose an architecture #0",
                                                            "temperature": 0.7}}
    assert first_req.effect_key == "t0/s1/llm/req" and first_res.effect_key == "t0/s1/llm/res"
    assert first_res.payload["ok"] == result[0][0]
    assert [e.step for e in events if e.type == "iteration.completed"] == [4, 8, 12]
    assert (await log.verify()).ok


async def test_resume_returns_recorded_results_without_performing(log: EventLog) -> None:
    first = await trial_code((await open_journal(log)).trial(0), Effects())
    n_events = len(await log.read())
    fx = Effects()
    again = await trial_code((await open_journal(log)).trial(0), fx)
    assert again == first
    assert sum(fx.calls.values()) == 0
    assert len(await log.read()) == n_events  # nothing appended twice


async def test_resume_continues_for_real_at_first_unrecorded_effect(log: EventLog) -> None:
    crashing = Effects(crash_on="random1")  # dies inside iteration 1's random draw
    with pytest.raises(Crash):
        await trial_code((await open_journal(log)).trial(0), crashing)
    assert crashing.calls == Counter({"llm0": 1, "random0": 1, "evaluate0": 1, "llm1": 1, "random1": 1})
    # random1's request was recorded, its result was not.
    keys = [e.effect_key for e in await log.read()]
    assert "t0/s6/random/req" in keys and "t0/s6/random/res" not in keys

    fx = Effects()
    result = await trial_code((await open_journal(log)).trial(0), fx)
    # The effect that was in flight is performed again exactly once; everything before it comes from the log.
    assert fx.calls == Counter({"random1": 1, "evaluate1": 1, "llm2": 1, "random2": 1, "evaluate2": 1})
    assert result == await trial_code((await open_journal(log)).trial(0), Effects())
    events = await log.read()
    assert Counter(e.effect_key for e in events).most_common(1)[0][1] == 1  # every key stored once
    assert Counter(e.type for e in events) == {"effect.requested": 9, "effect.completed": 9,
                                               "iteration.completed": 3}
    assert (await log.verify()).ok


async def test_replay_never_performs(log: EventLog) -> None:
    first = await trial_code((await open_journal(log)).trial(0), Effects())
    before = await log.read()
    sink = MemorySink()
    fx = Effects()
    replayed = await trial_code((await open_journal(log, replay=True, sink=sink)).trial(0), fx)
    assert replayed == first and sum(fx.calls.values()) == 0
    assert await log.read() == before  # replay writes nothing to the log
    # The sink holds the same events (same keys, payloads), so the replayed run folds like the original.
    assert [(e.type, e.effect_key, e.payload) for e in sink.events] == [
        (e.type, e.effect_key, e.payload) for e in before]


async def test_replay_reports_divergence_with_both_sides(log: EventLog) -> None:
    await trial_code((await open_journal(log)).trial(0), Effects())
    fx = Effects()
    with pytest.raises(DivergenceError) as info:
        await trial_code((await open_journal(log, replay=True, sink=MemorySink())).trial(0), fx,
                         prompt="a changed prompt")
    assert sum(fx.calls.values()) == 0
    err = info.value
    assert err.key == "t0/s1/llm"
    assert err.recorded == {"prompt": "propose an architecture #0", "temperature": 0.7}
    assert err.requested == {"prompt": "a changed prompt #0", "temperature": 0.7}
    assert "propose an architecture #0" in str(err) and "a changed prompt #0" in str(err)


async def test_resume_reports_divergence_too(log: EventLog) -> None:
    await trial_code((await open_journal(log)).trial(0), Effects())
    fx = Effects()
    with pytest.raises(DivergenceError):
        await trial_code((await open_journal(log)).trial(0), fx, prompt="a changed prompt")
    assert sum(fx.calls.values()) == 0


async def test_other_kind_at_a_recorded_step_is_a_divergence(log: EventLog) -> None:
    async def old(tj: TrialJournal) -> None:
        await tj.effect("llm", {"prompt": "p"}, Effects()("llm", "answer"))
        await tj.effect("evaluate", {"arch": [1]}, Effects()("evaluate", 0.9))

    async def new(tj: TrialJournal, fx: Effects) -> None:  # the code now draws a random number first
        await tj.effect("random", {"what": "shuffle"}, fx("random", 3))
        await tj.effect("llm", {"prompt": "p"}, fx("llm", "answer"))

    await old((await open_journal(log)).trial(0))
    for replay in (False, True):
        fx = Effects()
        journal = await open_journal(log, replay=replay, sink=MemorySink() if replay else None)
        with pytest.raises(DivergenceError) as info:
            await new(journal.trial(0), fx)
        assert sum(fx.calls.values()) == 0  # not performed on resume either
        assert info.value.recorded["key"] == "t0/s1/llm/req"
        assert info.value.requested["kind"] == "random"


async def test_replay_of_an_unrecorded_effect(log: EventLog) -> None:
    with pytest.raises(Crash):
        await trial_code((await open_journal(log)).trial(0), Effects(crash_on="evaluate1"))
    fx = Effects()
    with pytest.raises(ReplayMissingEffect, match="t0/s7/evaluate"):
        await trial_code((await open_journal(log, replay=True, sink=MemorySink())).trial(0), fx)
    assert sum(fx.calls.values()) == 0
    # A trial the log has never seen is just as missing.
    with pytest.raises(ReplayMissingEffect):
        await trial_code((await open_journal(log, replay=True, sink=MemorySink())).trial(5), fx)
    assert sum(fx.calls.values()) == 0


async def test_recorded_failure_is_raised_identically_on_resume_and_replay(log: EventLog) -> None:
    fx = Effects(fail_on="llm1")
    with pytest.raises(EffectFailed) as live:
        await trial_code((await open_journal(log)).trial(0), fx)
    assert fx.calls["llm1"] == 1
    completed = [e for e in await log.read() if e.effect_key == "t0/s5/llm/res"]
    assert completed[0].payload == {"kind": "llm", "error": {"type": "ModelGaveUp",
                                                             "message": "llm1: rate limited 5 times, giving up"}}

    raised = [live.value]
    for journal in (await open_journal(log), await open_journal(log, replay=True, sink=MemorySink())):
        fx = Effects()
        with pytest.raises(EffectFailed) as again:
            await trial_code(journal.trial(0), fx)
        assert sum(fx.calls.values()) == 0
        raised.append(again.value)
    assert {(e.kind, e.error_type, e.message, str(e)) for e in raised} == {
        ("llm", "ModelGaveUp", "llm1: rate limited 5 times, giving up",
         "llm failed: ModelGaveUp: llm1: rate limited 5 times, giving up")}


@pytest.mark.parametrize("error", [BudgetStop("budget spent"), RuntimeError("a bug"), KeyboardInterrupt(),
                                   StorageError("disk full")])
async def test_unrecorded_errors_propagate_and_leave_the_effect_open(log: EventLog, error: BaseException) -> None:
    tj = (await open_journal(log)).trial(0)

    async def perform() -> Any:
        raise error

    with pytest.raises(type(error)):
        await tj.effect("llm", {"prompt": "p"}, perform)
    assert [e.type for e in await log.read()] == ["effect.requested"]  # no result recorded
    # So a resume performs it again, once.
    fx = Effects()
    assert await (await open_journal(log)).trial(0).effect("llm", {"prompt": "p"}, fx("llm", "ok")) == "ok"
    assert fx.calls == Counter({"llm": 1})
    assert [e.type for e in await log.read()] == ["effect.requested", "effect.completed"]


async def test_results_come_back_as_stored(log: EventLog) -> None:
    """First execution and resume see the same value: tuples as lists, secrets masked."""
    tj = (await open_journal(log)).trial(0)
    live = await tj.effect("llm", {"prompt": "p"}, Effects()("llm", {"arch": (1, 2), "api_key": "sk-123456789abc"}))
    resumed = await (await open_journal(log)).trial(0).effect("llm", {"prompt": "p"}, Effects()("llm", None))
    assert live == resumed == {"arch": [1, 2], "api_key": "[REDACTED]"}


async def test_facts_are_idempotent_and_a_changed_fact_diverges(log: EventLog) -> None:
    async def facts(tj: TrialJournal, accuracy: float) -> None:
        await tj.record("trial.started", {"seed": 1, "temperature": 0.7})
        await tj.record("iteration.completed", {"iteration": 0, "status": "ok", "arch": [0], "attempts": 1,
                                                "evaluation": {"accuracy": accuracy}})

    await facts((await open_journal(log)).trial(2), 0.91)
    await facts((await open_journal(log)).trial(2), 0.91)  # re-execution records nothing new
    assert [e.type for e in await log.read()] == ["trial.started", "iteration.completed"]
    with pytest.raises(DivergenceError) as info:
        await facts((await open_journal(log)).trial(2), 0.95)
    assert info.value.key == "t2/s2/iteration.completed"
    assert info.value.recorded["evaluation"] == {"accuracy": 0.91}
    assert info.value.requested["evaluation"] == {"accuracy": 0.95}
    # On replay the same facts are re-emitted to the sink.
    sink = MemorySink()
    await facts((await open_journal(log, replay=True, sink=sink)).trial(2), 0.91)
    assert [e.type for e in sink.events] == ["trial.started", "iteration.completed"]
    assert len(await log.read()) == 2


async def test_trials_have_independent_steps(log: EventLog) -> None:
    journal = await open_journal(log)
    fx = Effects()
    await journal.trial(0).effect("llm", {"prompt": "a"}, fx("a", 1))
    await journal.trial(1).effect("llm", {"prompt": "b"}, fx("b", 2))
    resumed = await open_journal(log)
    assert await resumed.trial(1).effect("llm", {"prompt": "b"}, fx("b", 0)) == 2
    assert await resumed.trial(0).effect("llm", {"prompt": "a"}, fx("a", 0)) == 1
    assert fx.calls == Counter({"a": 1, "b": 1})


async def test_emit_run_level_events(log: EventLog) -> None:
    created = Event(type="run.created", run_id=RUN, payload={"config": {"space": "nb201"}}, effect_key="created")
    await (await open_journal(log)).emit(created)
    await (await open_journal(log)).emit(created)  # already recorded: not appended again
    started = Event(type="run.started", run_id=RUN, payload={"pid": 1, "host": "h", "mode": "live"})
    await (await open_journal(log)).emit(started)
    assert [e.type for e in await log.read()] == ["run.created", "run.started"]
    sink = MemorySink()
    await (await open_journal(log, replay=True, sink=sink)).emit(created)
    assert [e.type for e in sink.events] == ["run.created"]
