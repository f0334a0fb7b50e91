"""The obfuscated view round-trips on every space; size limits refuse proposals at no evaluation cost."""

from __future__ import annotations

import json

import numpy as np
import pytest

from agent.engine.orchestrator import start_run
from agent.engine.views import ObfuscatedView
from tests.test_search_e2e import cfg, llm_requests, write_script
from tools.errors import UserError
from tools.spaces import SPACE_NAMES, get_space


@pytest.mark.parametrize("space_name", SPACE_NAMES)
def test_obfuscation_round_trips_every_architecture(tables, space_name):
    space = get_space(space_name)
    view = ObfuscatedView(space, seed=5)
    for index in range(0, space.size, 7):
        arch = space.from_index(index)
        shown = view.show(arch)
        assert all(isinstance(x, str) and len(x) == 1 for x in json.loads(shown))
        assert view.parse(shown).arch == arch
    prompt = view.space_prompt() + view.system_prompt()
    for word in ("CIFAR", "ImageNet", "Residual", "Identity", "conv", "NAS-Bench", "channel", "pool", "skip"):
        assert word.lower() not in prompt.lower()
    assert view.order != list(range(len(space.positions))) or space_name == "nas_macro"
    assert ObfuscatedView(space, seed=6).order != view.order or ObfuscatedView(space, seed=6).values != view.values


def test_obfuscated_answers_are_validated(tables):
    view = ObfuscatedView(get_space("nb201_cifar10"), seed=1)
    assert "expected a list of 6 letters" in (view.parse('["A", "B"]').error or "")
    assert "must be one of A, B, C, D, E" in (view.parse('["A","B","C","D","E","Z"]').error or "")


async def test_obfuscated_run_maps_answers_back(tmp_path, tables):
    space = get_space("channel_mobilenet")
    view = ObfuscatedView(space, seed=9)
    target = space.from_index(1234)
    db = str(tmp_path / "log.sqlite")
    state = await start_run(cfg(space="channel_mobilenet", obfuscate=True, obfuscation_seed=9, trials=1,
                                      iterations=1, llm=write_script(tmp_path / "s.json", [view.show(target)])),
                            db=db)
    assert tuple(state.trials[0].iterations[0].arch) == target
    prompt = (await llm_requests(db, state.run_id))[0]["messages"][1]["content"]
    assert "MobileNet" not in prompt and "CIFAR" not in prompt and "P7" in prompt


async def test_constraint_refuses_large_models_and_costs_no_evaluation(tmp_path, tables):
    space = get_space("nas_macro")
    t = space.table()
    limit = int(np.median(t.params))
    big = space.from_index(int(np.argmax(t.params)))
    small = space.from_index(int(np.argmin(t.params)))
    db = str(tmp_path / "log.sqlite")
    state = await start_run(cfg(space="nas_macro", max_params=limit, trials=1, iterations=1,
                                      llm=write_script(tmp_path / "s.json", [json.dumps(big), json.dumps(small)])),
                            db=db)
    trial = state.trials[0]
    assert [it.arch for it in trial.iterations] == [list(small)]
    assert trial.rejections == {"constraint": 1} and state.evaluations == 1
    requests = await llm_requests(db, state.run_id)
    assert f"at most {limit:,} parameters" in requests[0]["messages"][1]["content"]
    assert f"over the limit of {limit:,}" in requests[1]["messages"][-1]["content"]
    feasible = t.params <= limit
    rec = space.lookup(small)
    assert trial.iterations[0].feasible_rank == 1 + int(((t.test_accuracy > rec.test_accuracy) & feasible).sum())


@pytest.mark.parametrize("optimizer", ["random", "evolution", "local"])
async def test_baselines_respect_constraints(tmp_path, tables, optimizer):
    space = get_space("channel_resnet")
    limit = int(np.percentile(space.table().flops, 30))
    state = await start_run(cfg(space="channel_resnet", optimizer=optimizer, max_flops=limit, trials=3,
                                      iterations=10, seed=2), db=str(tmp_path / "log.sqlite"))
    for trial in state.trials.values():
        assert len(trial.iterations) == 10
        assert all(space.lookup(tuple(it.arch)).flops <= limit for it in trial.iterations)


async def test_impossible_constraint_is_a_user_error(tmp_path, tables):
    with pytest.raises(UserError, match="raise the limit"):
        await start_run(cfg(space="nas_macro", optimizer="random", max_params=1), db=str(tmp_path / "l.sqlite"))
    with pytest.raises(UserError, match="params and FLOPs"):
        await start_run(cfg(space="nb201_cifar10", optimizer="random", max_params=10**6),
                        db=str(tmp_path / "l.sqlite"))
