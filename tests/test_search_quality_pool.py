"""benchmarks/search_quality.py pools batches of trials (other seeds, other sizes) into one row: only runs with
the same config, behaviours left to the space compared as resolved, no trial counted twice."""

from __future__ import annotations

from dataclasses import replace
from types import ModuleType

from agent.engine.config import AssistOptions
from agent.engine.orchestrator import start_run
from tests.conftest import benchmark_module
from tests.test_search_e2e import cfg


def _search_quality() -> ModuleType:
    return benchmark_module("search_quality")


async def test_pool_takes_same_config_runs_once_per_trial_seed(tmp_path, tables):
    sq = _search_quality()
    first, second = str(tmp_path / "a.sqlite"), str(tmp_path / "b.sqlite")
    base = cfg(space="nb201_cifar10", mode="assisted", llm="control:random", iterations=3, seed=0)
    auto = await start_run(replace(base, trials=2), db=first, run_id="auto-2")
    # the same seed again: its first two trials are the ones above
    await start_run(replace(base, trials=3), db=second, run_id="auto-3")
    # another batch; and the same behaviour forced on, recorded before the default left it to the space
    await start_run(replace(base, trials=2, seed=1, assist=AssistOptions(results_in_question=True)), db=second,
                    run_id="forced-seed1")
    # not the same config: the table in the intro, a longer budget
    await start_run(replace(base, trials=2, seed=2, assist=AssistOptions(results_in_question=False)), db=second,
                    run_id="in-intro")
    await start_run(replace(base, trials=2, seed=3, iterations=4), db=second, run_id="longer")

    found = await sq.pooled_trials(auto, [first, second])
    assert [(db, run.run_id, sorted(t.trial for t in done)) for db, run, done in found] == [
        (first, "auto-2", [0, 1]), (second, "auto-3", [2]), (second, "forced-seed1", [0, 1])]
    seeds = [t.seed for _, _, done in found for t in done]
    assert len(seeds) == len(set(seeds)) == 5
