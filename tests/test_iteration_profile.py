"""benchmarks/iteration_profile.py measures each proposal against the best so far by searched accuracy (the
architecture the agent's questions name), not by rank, and reads trials from a real log."""

from __future__ import annotations

from types import ModuleType

from agent.engine.config import RunConfig
from agent.engine.orchestrator import start_run
from tests.conftest import benchmark_module


def _module() -> ModuleType:
    return benchmark_module("iteration_profile")


def _it(i: int, arch: list[int], accuracy: float, rank: int) -> dict:
    return {"iteration": i, "arch": arch, "evaluation": {"accuracy": accuracy, "rank": rank}}


def test_changes_count_against_the_best_by_searched_accuracy():
    profile = _module().profile
    # the second architecture has the better rank but the lower searched accuracy: the best stays the first
    trial = [_it(0, [0, 0, 0], 90.0, 50), _it(1, [1, 1, 0], 89.0, 10), _it(2, [0, 1, 1], 91.0, 30),
             _it(3, [0, 1, 1], 80.0, 900)]
    changed, ranks = profile([trial, [_it(0, [2, 2, 2], 70.0, 4000), _it(1, [2, 2, 0], 60.0, 5000)]])
    assert changed == {1: [2, 1], 2: [2], 3: [0]}
    assert ranks == {0: [50, 4000], 1: [10, 5000], 2: [30], 3: [900]}


async def test_trials_are_read_from_the_log_in_order(tmp_path, tables):
    module = _module()
    db = str(tmp_path / "l.sqlite")
    state = await start_run(RunConfig(space="nas_macro", optimizer="random", trials=2, iterations=3, seed=5), db=db)
    trials = module.trials_of(db, state.run_id)
    assert [[p["iteration"] for p in t] for t in trials] == [[0, 1, 2], [0, 1, 2]]
    assert [[p["arch"] for p in t] for t in trials] == [[i.arch for i in state.trials[n].iterations] for n in (0, 1)]
