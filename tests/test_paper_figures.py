"""The paper's figures and the benchmark READMEs' random-search baseline, reproduced from the tables."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from tools.spaces import SearchSpace, get_space

DATA_DIR = os.environ.get("GENIUS_DATA_DIR")
if not DATA_DIR or not Path(DATA_DIR, "nas-bench-macro").is_dir():
    pytest.skip("GENIUS_DATA_DIR does not point at the benchmark tables", allow_module_level=True)


def half_up(x: float | np.ndarray, digits: int = 2) -> np.ndarray:
    """Round half-up as the GENIUS code prints accuracies (numpy rounds half to even)."""
    scale = 10.0**digits
    return np.floor(np.asarray(x) * scale + 0.5) / scale


@pytest.mark.parametrize(
    ("name", "key", "acc", "strict_rank", "paper_rank"),
    [
        ("nas_macro", "22212220", 93.13, 1, 1),
        ("nas_macro", "22221222", 93.05, 8, 8),
        ("nas_macro", "21211211", 92.62, 211, 212),
        ("nas_macro", "10100100", 85.70, 6221, 6221),
        ("channel_resnet", "4344424", 93.89, 1, 1),
        ("channel_resnet", "4444412", 93.66, 168, 173),
        ("channel_resnet", "4343424", 93.76, 32, 33),
        ("channel_mobilenet", "4444342", 91.89, 1, 1),
        ("channel_mobilenet", "4432331", 91.35, 1382, 1383),
        ("channel_mobilenet", "4434444", 91.76, 16, 16),
    ],
)
def test_macro_figures(name: str, key: str, acc: float, strict_rank: int, paper_rank: int) -> None:
    space = get_space(name)
    ev = space.lookup(space.parse(key))
    assert half_up(ev.test_accuracy) == acc and ev.accuracy == ev.test_accuracy
    assert ev.rank == strict_rank
    assert ev.paper_rank == paper_rank


@pytest.mark.parametrize(
    ("name", "key", "optimum"),
    [("nas_macro", "22212220", 93.13), ("channel_resnet", "4344424", 93.89), ("channel_mobilenet", "4444342", 91.89)],
)
def test_macro_optimum(name: str, key: str, optimum: float) -> None:
    space = get_space(name)
    _arch, ev = space.optimum()
    assert half_up(ev.accuracy) == optimum and ev.rank == 1
    assert space.lookup(space.parse(key)).accuracy == ev.accuracy  # the paper's optimum ties with ours


def test_nb201_figures() -> None:
    space = get_space("nb201_cifar10")
    ev = space.lookup(space.parse("323123"))
    assert half_up(ev.accuracy) == 91.45  # the paper's best validation accuracy in trial 1
    assert half_up(ev.test_accuracy) == 94.30
    assert ev.rank == 7 and ev.paper_rank == 7
    assert ev.params is None and ev.flops is None
    assert space.lookup(space.parse("233133")).paper_rank == 6  # the arch at exactly 94.30
    for name, test in (("nb201_cifar10", 94.37), ("nb201_cifar100", 73.51), ("nb201_imagenet16", 46.20)):
        _arch, best = get_space(name).optimum()  # best by validation, reported by test
        assert half_up(best.test_accuracy) == test


PAPER = json.loads(Path(DATA_DIR, "genius_paper_results.json").read_text())


def _pairs_matched(space: SearchSpace, pairs: list[tuple[float, int]]) -> list[bool]:
    """For each printed (accuracy, rank): is there an arch with that rounded accuracy and paper rank?"""
    table = space.table()
    assert table.paper_rank is not None
    rounded = half_up(table.test_accuracy)
    return [bool(np.any((np.abs(rounded - acc) < 1e-6) & (table.paper_rank == rank))) for acc, rank in pairs]


def _pairs(block: dict[str, list[float | None]]) -> list[tuple[float, int]]:
    return [(a, int(r)) for a, r in zip(block["acc"], block["rank"], strict=True) if a is not None and r is not None]


def test_paper_tables_2_to_5_match_paper_ranks() -> None:
    """The READMEs' audit: 48/52 NAS-Bench-Macro and 21/22 Channel-Bench-Macro pairs match an arch."""
    macro = PAPER["nas_bench_macro"]
    pairs = [p for temp in ("temperature_1", "temperature_0") for trial in macro[temp].values() for p in _pairs(trial)]
    matched = _pairs_matched(get_space("nas_macro"), pairs)
    assert len(pairs) == 52 and sum(matched) == 48
    misses = {p for p, ok in zip(pairs, matched, strict=True) if not ok}
    assert misses == {(92.49, 442), (92.53, 384), (92.85, 50), (92.56, 331)}  # Table 2 trial 2, see README

    channel = PAPER["channel_bench_macro"]
    res = _pairs_matched(get_space("channel_resnet"), _pairs(channel["resnet_temperature_0"]))
    mob_pairs = _pairs(channel["mobilenet_temperature_0"])
    mob = _pairs_matched(get_space("channel_mobilenet"), mob_pairs)
    assert all(res)
    assert [p for p, ok in zip(mob_pairs, mob, strict=True) if not ok] == [(91.63, 80)]


def test_paper_nb201_final_results() -> None:
    """Tables 6-8: each final (test acc, rank) is the record of an arch with the printed best val."""
    nb = PAPER["nas_bench_201_temperature_0"]
    datasets = {"nb201_cifar10": "cifar10", "nb201_cifar100": "cifar100", "nb201_imagenet16": "imagenet16_120"}
    for name, dataset in datasets.items():
        table = get_space(name).table()
        assert table.paper_rank is not None
        for trial in nb[dataset].values():
            hit = (
                (np.abs(half_up(table.accuracy) - max(trial["val"])) < 1e-6)
                & (np.abs(half_up(table.test_accuracy) - trial["final_test"]) < 1e-6)
                & (table.paper_rank == trial["final_rank"])
            )
            assert hit.any(), (name, trial)


def random_search_baseline(space: SearchSpace, samples: int = 10, repeats: int = 10_000, seed: int = 0) -> float:
    """Mean reported accuracy of the best-by-searched-metric of ``samples`` distinct uniform archs."""
    rng = np.random.default_rng(seed)
    table = space.table()
    draws = rng.integers(0, space.size, size=(repeats, samples))
    while True:  # redraw the (few) repeats that hold a duplicate, so each repeat has distinct archs
        ordered = np.sort(draws, axis=1)
        dup = np.any(ordered[:, 1:] == ordered[:, :-1], axis=1)
        if not dup.any():
            break
        draws[dup] = rng.integers(0, space.size, size=(int(dup.sum()), samples))
    best = draws[np.arange(repeats), np.argmax(table.accuracy[draws], axis=1)]
    return float(table.test_accuracy[best].mean())


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("nas_macro", 92.434),
        ("channel_resnet", 93.523),
        ("channel_mobilenet", 91.379),
        ("nb201_cifar10", 93.026),
        ("nb201_cifar100", 69.761),
        ("nb201_imagenet16", 43.271),
    ],
)
def test_random_search_baseline(name: str, expected: float) -> None:
    got = random_search_baseline(get_space(name))
    assert abs(got - expected) < 0.05, got
