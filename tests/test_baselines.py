"""Baselines on every space: budget, validity, reproducibility by seed, resume and exact replay."""

from __future__ import annotations

import asyncio

import pytest

from agent.engine.config import RunConfig
from agent.engine.orchestrator import replay_run, resume_run, start_run
from agent.read.report import run_document
from storage import EventLog
from storage.runs import load_run
from tests.test_search_e2e import committed_events
from tools.spaces import SPACE_NAMES, get_space


@pytest.mark.parametrize("space", SPACE_NAMES)
@pytest.mark.parametrize("optimizer", ["random", "evolution", "local"])
async def test_baseline_budget_validity_and_replay(tmp_path, tables, space, optimizer):
    db = str(tmp_path / "log.sqlite")
    config = RunConfig(space=space, optimizer=optimizer, trials=3, iterations=10, seed=7, parallel=3)
    state = await start_run(config, db=db)
    s = get_space(space)
    assert state.status == "finished"
    assert len(state.trials) == 3
    for trial in state.trials.values():
        assert trial.status == "finished"
        assert len(trial.iterations) == 10  # exactly the budget
        archs = [tuple(it.arch) for it in trial.iterations if it.arch]
        assert len(archs) == 10
        for arch in archs:
            assert s.validate(arch) == arch
            assert s.lookup(arch).accuracy == pytest.approx(
                next(it.accuracy for it in trial.iterations if tuple(it.arch) == arch))
        if optimizer == "random":
            assert len(set(archs)) == 10  # without repeats
    replayed = await replay_run(state.run_id, db=db)
    assert run_document(replayed)["trials"] == run_document(state)["trials"]


@pytest.mark.parametrize("optimizer", ["random", "evolution", "local"])
async def test_baseline_reproducible_by_seed(tmp_path, tables, optimizer):
    docs = []
    for i in range(2):
        config = RunConfig(space="channel_resnet", optimizer=optimizer, trials=2, iterations=10, seed=11)
        docs.append(run_document(await start_run(config, db=str(tmp_path / f"{i}.sqlite"))))
    assert docs[0]["trials"] == docs[1]["trials"]
    other = run_document(await start_run(RunConfig(space="channel_resnet", optimizer=optimizer, trials=2,
                                                   iterations=10, seed=12), db=str(tmp_path / "x.sqlite")))
    assert other["trials"] != docs[0]["trials"]


async def test_interrupted_baseline_resumes_to_the_same_result(tmp_path, tables):
    db = str(tmp_path / "log.sqlite")
    config = RunConfig(space="nas_macro", optimizer="evolution", trials=4, iterations=10, seed=3, parallel=2)
    full = run_document(await start_run(config, db=str(tmp_path / "full.sqlite")))

    # Interrupt the run as Ctrl-C would: cancel it after some events are committed. The events are counted
    # through a plain read-only connection: a second writer here could take the log's writer lock first
    # and make the run itself fail, leaving this loop waiting forever.
    task = asyncio.create_task(start_run(config, db=db, run_id="r1"))
    while not task.done() and committed_events(db, "r1") < 40:
        await asyncio.sleep(0.002)
    assert not task.done(), "the run ended before it could be interrupted"
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    interrupted = await load_run("r1", db=db)
    assert interrupted.status == "interrupted"
    resumed = await resume_run("r1", db=db)
    assert resumed.status == "finished"
    assert run_document(resumed)["trials"] == full["trials"]
    # every evaluation was performed once: one completed evaluate effect per evaluated (non-repeat) iteration
    log = await EventLog.open(db)
    try:
        events = await log.read("r1")
    finally:
        await log.close()
    evaluations = [e for e in events if e.type == "effect.completed" and e.payload["kind"] == "evaluate"]
    assert len(evaluations) == sum(1 for t in resumed.trials.values() for it in t.iterations if not it.repeat)


@pytest.mark.parametrize("init", [1, 10])
async def test_local_search_starts_from_the_best_of_its_random_init_then_walks_neighbours(tmp_path, tables, init):
    """NASLib's local search: ``init`` random architectures, then the neighbours of the best of them (one position
    changed). Runs recorded before ``local_init`` existed started from one, and are read back so."""
    config = RunConfig(space="channel_resnet", optimizer="local", trials=3, iterations=30, seed=5, local_init=init)
    db = str(tmp_path / "l.sqlite")
    state = await start_run(config, db=db)
    for trial in state.trials.values():
        its = trial.iterations
        assert len(its) == 30 and len({tuple(it.arch) for it in its}) == 30  # no architecture twice
        start = max(its[:init], key=lambda it: it.accuracy)
        for it in its[init:init + 5]:  # the first steps: neighbours of the best start (21 on this space)
            assert sum(a != b for a, b in zip(it.arch, start.arch, strict=True)) == 1
    replayed = await replay_run(state.run_id, db=db)
    assert run_document(replayed)["trials"] == run_document(state)["trials"]
    assert RunConfig.from_json({k: v for k, v in config.to_json().items() if k != "local_init"}).local_init == 1
