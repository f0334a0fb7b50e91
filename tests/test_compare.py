"""Comparison statistics on cases with known answers, and ``compare`` end to end on the baselines."""

from __future__ import annotations

import asyncio
import json
import math
from dataclasses import replace

import numpy as np
import pytest

from agent import cli
from agent.engine.compare import matches, parse_optimizers
from agent.engine.config import RunConfig
from agent.read import stats
from agent.read.comparison import Sample, compare_tables, reference_index, sample_of, summarize, trial_curve
from storage.fold import IterationState, RunState, TrialState
from storage.runs import load_runs
from tools.errors import UserError

# ---- statistics ----------------------------------------------------------------------------------------


def test_bootstrap_ci_of_identical_constant_samples_collapses_to_zero():
    assert stats.bootstrap_mean_diff_ci([5.0] * 7, [5.0] * 9) == (0.0, 0.0)
    assert stats.bootstrap_mean_ci([3.0] * 4) == (3.0, 3.0)


def test_bootstrap_ci_covers_a_known_shift_and_is_seeded():
    y = np.arange(1.0, 21.0)
    x = y + 100.0
    lo, hi = stats.bootstrap_mean_diff_ci(x, y, seed=1)
    assert lo < 100.0 < hi
    assert hi - lo < 10.0  # sd of the difference of means is about 1.9 here
    assert stats.bootstrap_mean_diff_ci(x, y, seed=1) == (lo, hi)
    assert stats.bootstrap_mean_diff_ci(x, y, seed=2) != (lo, hi)
    # swapping the samples mirrors the interval (within resampling noise)
    lo2, hi2 = stats.bootstrap_mean_diff_ci(y, x, seed=1)
    assert lo2 == pytest.approx(-hi, abs=1.0) and hi2 == pytest.approx(-lo, abs=1.0)
    assert stats.bootstrap_mean_diff_ci([], [1.0])[0] != stats.bootstrap_mean_diff_ci([], [1.0])[0]  # NaN


def test_average_ranks_share_ties():
    assert stats.average_ranks([30, 10, 20, 20]).tolist() == [4.0, 1.0, 2.5, 2.5]


def test_mann_whitney_against_hand_computed_examples():
    # x entirely below y: U = 0, mu = 4.5, var = 3*3/12*(6+1) = 5.25, z = (4.5-0.5)/sqrt(5.25)
    u, p = stats.mann_whitney_u([1, 2, 3], [4, 5, 6])
    assert u == 0.0
    assert p == pytest.approx(0.08085, abs=1e-4)  # 2*(1-Phi(1.7457)); scipy asymptotic gives 0.0808556
    # with a tie of three: ranks 1, 3, 3 | 3, 5, 6; U = 7 - 6 = 1; var = 9/12 * (7 - 24/30) = 4.65
    u, p = stats.mann_whitney_u([1, 2, 2], [2, 3, 4])
    assert u == 1.0
    assert p == pytest.approx(math.erfc((4.5 - 1 - 0.5) / math.sqrt(4.65) / math.sqrt(2)))
    assert p == pytest.approx(0.1642, abs=1e-3)


def test_mann_whitney_is_symmetric_and_degenerate_cases():
    rng = np.random.default_rng(0)
    x, y = rng.integers(1, 50, 13), rng.integers(10, 80, 9)
    ux, px = stats.mann_whitney_u(x, y)
    uy, py = stats.mann_whitney_u(y, x)
    assert px == pytest.approx(py)
    assert ux + uy == pytest.approx(len(x) * len(y))
    assert stats.mann_whitney_u([7, 7, 7], [7, 7])[1] == 1.0  # all tied: no evidence at all
    assert stats.mann_whitney_u(x, x)[1] == 1.0
    assert math.isnan(stats.mann_whitney_u([], [1, 2])[1])


def test_top_thresholds_and_shares():
    assert stats.top_threshold(6561, 0.01) == 66 and stats.top_threshold(6561, 0.001) == 7
    assert stats.top_threshold(15625, 0.01) == 157 and stats.top_threshold(15625, 0.001) == 16
    assert stats.top_threshold(300, 0.01) == 3  # 0.01 * 300 is 3.0000000000000004 in floats
    assert stats.top_threshold(100, 0.001) == 1  # never below rank 1
    ranks = [1, 66, 67, 7, 8]
    assert stats.top_share(ranks, 6561, 0.01) == pytest.approx(4 / 5)
    assert stats.top_share(ranks, 6561, 0.001) == pytest.approx(2 / 5)
    with pytest.raises(ValueError):
        stats.top_threshold(100, 0.0)


def test_best_so_far_follows_searched_accuracy_and_reports_its_rank():
    its = [(0, 90.0, 50), (1, None, None), (2, 95.0, 10), (3, 95.0, 5), (4, 80.0, 200)]
    # the tie at T=3 keeps the first (as TrialState.best); T=5 carries on with nothing new
    assert stats.best_so_far_ranks(its, 6) == [50, 50, 10, 10, 10, 10]
    # searched accuracy decides, not rank: a higher-accuracy iteration with a worse reported rank wins
    assert stats.best_so_far_ranks([(0, 90.0, 5), (1, 91.0, 40)], 2) == [5, 40]
    curve = stats.best_so_far_ranks([(0, None, None), (1, 70.0, 9)], 2)
    assert math.isnan(curve[0]) and curve[1] == 9
    mean, median = stats.column_mean_median([[10, 4, 4], [30, 30, 2], [math.nan, 20, 20]])
    assert mean == [20.0, 18.0, pytest.approx(26 / 3)]
    assert median == [20.0, 20.0, 4.0]


# ---- from folded runs ----------------------------------------------------------------------------------


def _it(i: int, acc: float | None, rank: int | None, *, status: str = "ok", repeat: bool = False) -> IterationState:
    return IterationState(iteration=i, status=status, arch=[i], accuracy=acc,
                          test_accuracy=None if acc is None else acc - 0.5, rank=rank, repeat=repeat)


def _state(run_id: str, optimizer: str, trials: list[list[IterationState]]) -> RunState:
    s = RunState(run_id=run_id, config={"space": "nas_macro", "optimizer": optimizer, "iterations": 4,
                                        "llm": "x", "mode": "paper"}, status="finished")
    for n, its in enumerate(trials):
        s.trials[n] = TrialState(trial=n, status="finished", iterations=its)
    return s


def test_anytime_curve_and_summary_of_a_hand_built_run():
    a = _state("a", "random", [
        [_it(0, 80.0, 300), _it(1, 85.0, 100), _it(2, 84.0, 120), _it(3, 90.0, 2)],
        [_it(0, None, None, status="failed"), _it(1, 70.0, 900), _it(2, 70.0, 900, repeat=True), _it(3, 75.0, 60)],
        [_it(0, None, None, status="failed")],  # nothing evaluated: left out, counted
    ])
    sa = sample_of(a)
    assert sa.best_rank == [2, 60] and sa.best_accuracy == [89.5, 74.5]
    assert sa.trials_without_result == 1
    assert trial_curve(a.trials[0], 4) == [300, 100, 100, 2]
    assert sa.curves[1][0] != sa.curves[1][0] and sa.curves[1][1:] == [900, 900, 60]
    b = sample_of(_state("b", "evolution", [[_it(0, 88.0, 10)], [_it(0, 87.0, 20)], [_it(0, 86.0, 30)]]))
    doc = summarize([sa, b], space="nas_macro", size=6561, iterations=4, resamples=500)
    json.dumps(doc, allow_nan=False)  # NaN became null: the document is valid JSON
    ra, rb = doc["optimizers"]
    assert doc["reference"] == "random" and ra["vs_reference"] is None
    assert ra["anytime"]["mean"] == [300, 500, 500, 31] and ra["anytime"]["median"] == [300, 500, 500, 31]
    assert rb["anytime"]["mean"][0] == 20 and rb["anytime"]["mean"][3] == 20  # one-iteration trials carry on
    assert ra["best_accuracy"] == {"mean": 82.0, "std": pytest.approx(math.sqrt(112.5))}
    assert ra["best_rank"] == {"mean": 31.0, "median": 31.0}
    assert ra["top_1pct"] == 1.0 and ra["top_0_1pct"] == 0.5  # thresholds 66 and 7
    assert doc["thresholds"] == {"top_1pct": 66, "top_0_1pct": 7}
    vs = rb["vs_reference"]
    assert vs["reference"] == "random"
    assert vs["rank_diff"]["mean"] == pytest.approx(20 - 31)
    assert vs["accuracy_diff"]["mean"] == pytest.approx(86.5 - 82.0)
    lo, hi = vs["rank_diff"]["ci95"]
    assert lo <= -11 <= hi


def test_optimizer_list_and_reference():
    assert parse_optimizers("random, evolution") == ("random", "evolution")
    for bad in ("random,bogus", "", "random,random"):
        with pytest.raises(UserError):
            parse_optimizers(bad)
    assert reference_index(["random", "genius", "local"]) == 1
    assert reference_index(["local", "random"]) == 0
    assert Sample(label="x", optimizer="random", run_id="r").best_rank == []


# ---- end to end through the CLI ------------------------------------------------------------------------


def _compare(capsys, db: str, tables: str, *extra: str) -> dict:
    rc = cli.main(["compare", "--space", "nas_macro", "--optimizers", "random,evolution", "--iterations", "6",
                   "--seed", "5", "--db", db, "--data-dir", tables, "--json", *extra])
    out = capsys.readouterr().out
    assert rc == 0
    return json.loads(out)


def _run_ids(db: str) -> list[str]:
    return [s.run_id for s in asyncio.run(load_runs(db=db))]


def test_compare_baselines_json_and_reuse(tmp_path, tables, capsys):
    db = str(tmp_path / "log.sqlite")
    doc = _compare(capsys, db, tables, "--trials", "5")
    assert [r["optimizer"] for r in doc["optimizers"]] == ["random", "evolution"]
    assert doc["space"] == "nas_macro" and doc["size"] == 6561 and doc["reference"] == "random"
    states = {s.run_id: s for s in asyncio.run(load_runs(db=db))}
    assert len(states) == 2
    for r in doc["optimizers"]:
        state = states[r["run_id"]]
        assert state.config["optimizer"] == r["optimizer"] and not r["reused"]
        bests = [t.best() for t in state.trials.values()]
        assert r["per_trial"]["best_rank"] == [b.rank for b in bests]  # the numbers come from the fold
        assert r["best_rank"]["median"] == float(np.median([b.rank for b in bests]))
        assert len(r["anytime"]["mean"]) == 6
        assert r["anytime"]["mean"][-1] == pytest.approx(r["best_rank"]["mean"])  # curve ends at the best
        assert all(a >= b for a, b in zip(r["anytime"]["mean"], r["anytime"]["mean"][1:], strict=False))
    vs = doc["optimizers"][1]["vs_reference"]
    assert 0.0 <= vs["mann_whitney"]["p"] <= 1.0
    assert vs["rank_diff"]["ci95"][0] <= vs["rank_diff"]["mean"] <= vs["rank_diff"]["ci95"][1]

    # --reuse with fewer trials takes the same runs (first trials only) and creates none
    again = _compare(capsys, db, tables, "--trials", "3", "--reuse")
    assert len(_run_ids(db)) == 2
    assert [r["run_id"] for r in again["optimizers"]] == [r["run_id"] for r in doc["optimizers"]]
    assert all(r["reused"] and r["trials"] == 3 for r in again["optimizers"])
    assert again["optimizers"][0]["per_trial"]["best_rank"] == doc["optimizers"][0]["per_trial"]["best_rank"][:3]
    # more trials than any logged run has, or another budget: new runs
    _compare(capsys, db, tables, "--trials", "7", "--reuse")
    assert len(_run_ids(db)) == 4


def test_compare_table_output_and_bad_input(tmp_path, tables, capsys):
    db = str(tmp_path / "log.sqlite")
    rc = cli.main(["compare", "--space", "nas_macro", "--optimizers", "random,local", "--trials", "3",
                   "--iterations", "4", "--db", db, "--data-dir", tables])
    out = capsys.readouterr().out
    assert rc == 0
    for text in ("random", "local", "MWU p", "top 1% (<= 66)", "T=3", "anytime"):
        assert text in out
    rc = cli.main(["compare", "--space", "nas_macro", "--optimizers", "random,annealing", "--db", db])
    assert rc == 2
    assert "--optimizers" in capsys.readouterr().err


def test_summary_of_a_run_with_no_results_is_null_not_a_crash():
    empty = sample_of(_state("e", "genius", [[_it(0, None, None, status="failed")]]))
    other = sample_of(_state("o", "random", [[_it(0, 88.0, 10)], [_it(0, 87.0, 20)]]))
    doc = summarize([empty, other], space="nas_macro", size=6561, iterations=4, resamples=100)
    json.dumps(doc, allow_nan=False)
    r_empty, r_other = doc["optimizers"]
    assert r_empty["trials"] == 0 and r_empty["trials_without_result"] == 1
    assert r_empty["best_accuracy"] == {"mean": None, "std": None} and r_empty["top_1pct"] is None
    assert r_other["vs_reference"]["mann_whitney"]["p"] is None
    assert r_other["vs_reference"]["rank_diff"]["ci95"] == [None, None]
    assert len(compare_tables(doc)) == 2  # renders with dashes


def test_reuse_matches_only_the_same_protocol():
    want = RunConfig(space="nas_macro", optimizer="genius", llm="openai:m", mode="paper", trials=2, iterations=4)
    state = _state("g", "genius", [[_it(0, 90.0, 5)], [_it(0, 91.0, 3)]])
    state.config = {**want.to_json(), "seed": 99, "trials": 2}
    assert matches(state, want)  # the seed does not matter
    for change in ({"llm": "openai:other"}, {"mode": "assisted"}, {"iterations": 5}, {"max_params": 10**6},
                   {"temperature": 0.7}, {"space": "channel_resnet"}):
        state.config = {**want.to_json(), **change}
        assert not matches(state, want), change
    state.config = want.to_json()
    assert not matches(state, replace(want, trials=3))  # not enough trials
    state.status = "interrupted"
    assert not matches(state, want)
    # baselines ignore model and mode
    base = RunConfig(space="nas_macro", optimizer="random", llm="embedded", trials=1, iterations=4)
    state = _state("r", "random", [[_it(0, 90.0, 5)]])
    state.config = {**base.to_json(), "llm": "openai:whatever", "mode": "agent"}
    assert matches(state, base)
    old = {k: v for k, v in base.to_json().items() if k not in ("max_flops", "obfuscate")}  # an older log
    state.config = old
    assert matches(state, base)


def test_compare_takes_every_search_flag_to_the_runs_it_starts(tmp_path, tables, capsys):
    """compare shares the search command's flags, so none is dropped: temperature, the assisted behaviours,
    the budgets and the evolution settings reach the runs' recorded configs."""
    from tests.test_search_e2e import valid_answers, write_script

    script = write_script(tmp_path / "s.json", [json.dumps(a) for a in valid_answers("nas_macro", 4)])
    db = str(tmp_path / "log.sqlite")
    doc = _compare(capsys, db, tables, "--trials", "2", "--optimizers", "genius,evolution", "--llm", script,
                   "--mode", "assisted", "--temperature", "0.3", "--assist", "none", "--max-tokens", "900000",
                   "--population", "4", "--iterations", "4")
    configs = {s.config["optimizer"]: s.config for s in asyncio.run(load_runs(db=db))}
    assert [r["optimizer"] for r in doc["optimizers"]] == ["genius", "evolution"]
    genius = configs["genius"]
    assert genius["temperature"] == 0.3 and genius["mode"] == "assisted" and genius["max_tokens"] == 900000
    assert not genius["assist"]["position_questions"]
    assert configs["evolution"]["population"] == 4
