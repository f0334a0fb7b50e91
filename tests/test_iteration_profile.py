"""benchmarks/iteration_profile.py measures each proposal against the best so far by searched accuracy (the
fold's best, the architecture the agent's questions name), not by rank, over the trials of a real log."""

from __future__ import annotations

from types import ModuleType

from agent.engine.config import RunConfig
from agent.engine.orchestrator import start_run
from storage.fold import IterationState, TrialState
from storage.runs import load_run
from tests.conftest import benchmark_module


def _iteration_profile() -> ModuleType:
    return benchmark_module("iteration_profile")


def _it(i: int, arch: list[int], accuracy: float, rank: int) -> IterationState:
    return IterationState(iteration=i, status="ok", arch=arch, accuracy=accuracy, rank=rank)


def test_changes_count_against_the_best_by_searched_accuracy():
    profile = _iteration_profile().profile
    # the second architecture has the better rank but the lower searched accuracy: the best stays the first
    first = TrialState(trial=0, iterations=[_it(0, [0, 0, 0], 90.0, 50), _it(1, [1, 1, 0], 89.0, 10),
                                            _it(2, [0, 1, 1], 91.0, 30), _it(3, [0, 1, 1], 80.0, 900)])
    second = TrialState(trial=1, iterations=[_it(0, [2, 2, 2], 70.0, 4000), _it(1, [2, 2, 0], 60.0, 5000)])
    changed, ranks = profile([first, second])
    assert changed == {1: [2, 1], 2: [2], 3: [0]}
    assert ranks == {0: [50, 4000], 1: [10, 5000], 2: [30], 3: [900]}


async def test_a_recorded_run_profiles_every_iteration_of_every_trial(tmp_path, tables):
    db = str(tmp_path / "l.sqlite")
    started = await start_run(RunConfig(space="nas_macro", optimizer="random", trials=2, iterations=3, seed=5),
                              db=db)
    run = await load_run(started.run_id, db=db)
    changed, ranks = _iteration_profile().profile(list(run.trials.values()))
    assert sorted(ranks) == [0, 1, 2] and all(len(r) == 2 for r in ranks.values())
    assert sorted(changed) == [1, 2] and all(0 <= c <= 8 for cs in changed.values() for c in cs)
    assert ranks[0] == [run.trials[n].iterations[0].rank for n in (0, 1)]
