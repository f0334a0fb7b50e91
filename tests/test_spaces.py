"""Search spaces: encoding round trips over every table key, validation messages, lookup, caching.

Reads the real tables from ``GENIUS_DATA_DIR`` (the test runner points it at shared/benchmarks).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tools.errors import UserError
from tools.spaces import (
    SPACE_NAMES,
    InvalidArchitecture,
    SearchSpace,
    UnknownSpaceError,
    get_space,
    list_spaces,
)

DATA_DIR = os.environ.get("GENIUS_DATA_DIR")
if not DATA_DIR or not Path(DATA_DIR, "nas-bench-macro").is_dir():
    pytest.skip("GENIUS_DATA_DIR does not point at the benchmark tables", allow_module_level=True)

# JSON field of the searched / reported metric per space family
FIELDS = {"nas_macro": ("mean_acc", "mean_acc"), "channel": ("mean", "mean"), "nb201": ("val_acc_200", "test_acc_200")}

_raw_cache: dict[str, dict[str, dict[str, Any]]] = {}


def raw_table(space: SearchSpace) -> dict[str, dict[str, Any]]:
    """The table JSON as stored, read independently of the space's loader."""
    if space.name not in _raw_cache:
        _raw_cache[space.name] = json.loads(Path(DATA_DIR, space.table_file).read_text())  # type: ignore[arg-type]
    return _raw_cache[space.name]


@pytest.fixture(params=SPACE_NAMES)
def space(request: pytest.FixtureRequest) -> SearchSpace:
    return get_space(request.param)


def test_names_and_families() -> None:
    assert SPACE_NAMES == (
        "nas_macro",
        "channel_resnet",
        "channel_mobilenet",
        "nb201_cifar10",
        "nb201_cifar100",
        "nb201_imagenet16",
    )
    assert [get_space(n).family for n in SPACE_NAMES] == ["nas_macro", "channel", "channel", *["nb201"] * 3]


def test_size_matches_table(space: SearchSpace) -> None:
    assert space.size == int(np.prod([len(p) for p in space.positions]))
    assert space.size == len(raw_table(space))
    table = space.table()
    for array in (table.accuracy, table.test_accuracy, table.strict_rank):
        assert array.shape == (space.size,)
    assert table.accuracy.dtype == np.float64


def test_every_key_round_trips_and_maps_to_its_record(space: SearchSpace) -> None:
    raw = raw_table(space)
    searched, reported = FIELDS[space.family]
    table = space.table()
    seen = np.zeros(space.size, dtype=bool)
    acc = np.empty(space.size)
    test = np.empty(space.size)
    for key, record in raw.items():
        arch = space.parse(key)
        assert space.key(arch) == key
        i = space.index(arch)
        assert space.from_index(i) == arch
        seen[i] = True
        acc[i] = record[searched]
        test[i] = record[reported]
    assert seen.all()
    np.testing.assert_array_equal(table.accuracy, acc)
    np.testing.assert_array_equal(table.test_accuracy, test)
    assert sorted(space.all_keys()) == sorted(raw)


def test_index_round_trip(space: SearchSpace) -> None:
    archs = [space.from_index(i) for i in range(space.size)]
    assert [space.index(a) for a in archs] == list(range(space.size))
    assert len(set(archs)) == space.size
    # position 0 is the most significant digit
    assert space.from_index(0) == tuple(p[0] for p in space.positions)
    assert space.from_index(space.size - 1) == tuple(p[-1] for p in space.positions)
    assert space.from_index(1) == (*(p[0] for p in space.positions[:-1]), space.positions[-1][1])
    for bad in (-1, space.size, 1.0, True):
        with pytest.raises(ValueError):
            space.from_index(bad)  # type: ignore[arg-type]


def test_nb201_accepts_six_digit_code_for_every_arch() -> None:
    space = get_space("nb201_cifar10")
    for i in range(space.size):
        arch = space.from_index(i)
        code = "".join(map(str, arch))
        assert space.parse(code) == arch == space.parse(space.key(arch))
        assert space.code(arch) == code  # type: ignore[attr-defined]
    assert space.key((3, 2, 3, 1, 2, 3)) == (
        "|nor_conv_3x3~0|+|nor_conv_1x1~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_1x1~1|nor_conv_3x3~2|"
    )


def test_channel_key_is_channels_over_base() -> None:
    resnet = get_space("channel_resnet")
    assert resnet.key((256, 192, 256, 512, 512, 256, 512)) == "4344424"
    assert resnet.parse("4344424") == (256, 192, 256, 512, 512, 256, 512)
    mobile = get_space("channel_mobilenet")
    assert mobile.parse("4444342") == (128, 768, 768, 768, 192, 1536, 512)
    assert mobile.key((32, 192, 192, 192, 64, 384, 256)) == "1111111"


def test_accepted_forms(space: SearchSpace) -> None:
    arch = space.from_index(space.size // 3)
    assert space.parse(list(arch)) == arch
    assert space.parse(arch) == arch
    assert space.parse(json.dumps(list(arch))) == arch
    assert space.parse("  " + json.dumps(list(arch)) + "\n") == arch
    assert space.parse(space.key(arch)) == arch
    assert space.parse(np.array(arch, dtype=np.int64)) == arch
    assert space.parse([float(v) for v in arch]) == arch  # integral floats, as some JSON writers emit
    assert all(type(v) is int for v in space.parse(np.array(arch)))


def _bad(space: SearchSpace, value: object) -> str:
    with pytest.raises(InvalidArchitecture) as info:
        space.parse(value)
    assert isinstance(info.value, UserError)
    return str(info.value)


def test_validation_messages(space: SearchSpace) -> None:
    n = len(space.positions)
    good = list(space.from_index(0))
    first_allowed = ", ".join(map(str, space.positions[0]))
    last_allowed = ", ".join(map(str, space.positions[-1]))

    msg = _bad(space, good[:-1])
    assert f"expected a list of {n}" in msg and f"got {n - 1} values" in msg and first_allowed in msg
    msg = _bad(space, [*good, good[0]])
    assert f"got {n + 1} values" in msg
    msg = _bad(space, [])
    assert "got 0 values" in msg

    out_of_range = max(space.positions[-1]) + 1
    msg = _bad(space, [*good[:-1], out_of_range])
    assert msg == f"position {n} ({space.position_names[-1]}) must be one of {last_allowed}; got {out_of_range}"
    msg = _bad(space, [-1, *good[1:]])
    assert f"position 1 ({space.position_names[0]}) must be one of {first_allowed}; got -1" in msg

    for bad_item, shown in ((1.5, "1.5"), (True, "True"), ("2", "'2'"), (None, "None"), ([1], "[1]")):
        msg = _bad(space, [*good[:-1], bad_item])
        assert f"position {n} ({space.position_names[-1]}) must be an integer" in msg, msg
        assert last_allowed in msg and msg.endswith(f"got {shown}")

    # every bad position is named, so the model can fix all of them at once
    msg = _bad(space, [out_of_range] * n)
    assert all(f"position {i + 1} (" in msg for i in range(n))

    for garbage in ("hello", "", "[1, 2", "{}", "1 2 3", "9" * n):
        msg = _bad(space, garbage)
        assert f"expected a list of {n}" in msg and first_allowed in msg, msg
    for not_a_list in (None, 3, {"a": 1}, b"\xff"):
        assert f"expected a list of {n}" in _bad(space, not_a_list)
    assert "expected a list" in _bad(space, '{"ops": [1]}')
    assert "..." in _bad(space, "x" * 500)  # long answers are cut in the message


def test_channel_number_not_offered_at_that_position() -> None:
    space = get_space("channel_resnet")
    # 64 is a valid width for channels[0..2] but not for channels[3]
    msg = _bad(space, [64, 64, 64, 64, 128, 128, 128])
    assert msg == "position 4 (channels[3]) must be one of 128, 256, 384, 512; got 64"
    # digits instead of channel numbers: told the channel numbers
    msg = _bad(space, [4, 3, 4, 4, 4, 2, 4])
    assert "position 1 (channels[0]) must be one of 64, 128, 192, 256; got 4" in msg
    mobile = get_space("channel_mobilenet")
    msg = _bad(mobile, [32, 192, 192, 192, 32, 384, 256])
    assert msg == "position 5 (channels[4]) must be one of 64, 128, 192, 256; got 32"
    short = _bad(mobile, [32])
    assert "channels[1]..channels[3] one of 192, 384, 576, 768" in short and "got 1 value:" in short


def test_neighbours(space: SearchSpace) -> None:
    arch = space.from_index(space.size // 2 + 7)
    found = space.neighbours(arch)
    assert len(found) == sum(len(p) - 1 for p in space.positions)
    assert len(set(found)) == len(found) and arch not in found
    for other in found:
        assert space.validate(other) == other
        assert sum(a != b for a, b in zip(arch, other, strict=True)) == 1
    with pytest.raises(InvalidArchitecture):
        space.neighbours((99,) * len(space.positions))


def test_lookup_and_ranks(space: SearchSpace) -> None:
    table = space.table()
    rng = np.random.default_rng(1)
    for i in rng.integers(0, space.size, 50):
        arch = space.from_index(int(i))
        ev = space.lookup(arch)
        assert ev.source == "table"
        assert ev.accuracy == table.accuracy[i] and ev.test_accuracy == table.test_accuracy[i]
        # strict rank by brute force
        assert ev.rank == 1 + int(np.sum(table.test_accuracy > table.test_accuracy[i]))
        assert ev.paper_rank is not None and ev.paper_rank >= ev.rank
        has_cost = space.family != "nb201"
        assert (ev.params is not None) == has_cost and (ev.flops is not None) == has_cost
    assert table.strict_rank.min() == 1
    with pytest.raises(ValueError):
        table.accuracy[0] = 0.0  # shared arrays are read-only


def test_optimum(space: SearchSpace) -> None:
    arch, ev = space.optimum()
    table = space.table()
    assert ev.accuracy == table.accuracy.max()
    ties = np.flatnonzero(table.accuracy == table.accuracy.max())
    assert space.index(arch) == ties.min()


def test_answer_schema(space: SearchSpace) -> None:
    schema = space.answer_schema()
    n = len(space.positions)
    assert schema["type"] == "array" and schema["minItems"] == n == schema["maxItems"]
    assert [item["enum"] for item in schema["prefixItems"]] == [list(p) for p in space.positions]
    assert all(item["type"] == "integer" for item in schema["prefixItems"])
    json.dumps(schema)  # serialisable


def test_describe_and_list_spaces(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in SPACE_NAMES:
        text = get_space(name).describe()
        space = get_space(name)
        assert name in text and str(space.size) in text
        assert all(p in text for p in space.position_names)
    rows = list_spaces()
    assert [r["name"] for r in rows] == list(SPACE_NAMES)
    assert all(r["data_present"] for r in rows)
    assert rows[0]["positions"] == [[0, 1, 2]] * 8 and rows[0]["size"] == 6561
    monkeypatch.delenv("GENIUS_DATA_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    rows = list_spaces(tmp_path / "empty")
    assert not any(r["data_present"] for r in rows)
    assert not (tmp_path / "cache").exists()  # listing never downloads


def test_get_space_cache_and_unknown_name(tmp_path: Path) -> None:
    assert get_space("nas_macro") is get_space("nas_macro")
    assert get_space("nas_macro", DATA_DIR) is get_space("nas_macro", Path(DATA_DIR) / "." / "")  # type: ignore[arg-type]
    assert get_space("nas_macro", tmp_path) is not get_space("nas_macro")
    with pytest.raises(UnknownSpaceError) as info:
        get_space("nas_macr")
    msg = str(info.value)
    assert isinstance(info.value, UserError)
    assert all(name in msg for name in SPACE_NAMES) and "did you mean nas_macro" in msg


def test_paper_rank_absent_without_ranks_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    space_file = get_space("nas_macro").table_file
    (tmp_path / space_file).parent.mkdir(parents=True)
    shutil.copy(Path(DATA_DIR, space_file), tmp_path / space_file)  # type: ignore[arg-type]
    monkeypatch.delenv("GENIUS_DATA_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    space = get_space("nas_macro", tmp_path)
    ev = space.lookup(space.parse("22221222"))
    assert ev.paper_rank is None and ev.rank == 8
    assert space.table().paper_rank is None


def test_corrupt_table_is_a_data_file_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tools.errors import DataFileError

    monkeypatch.delenv("GENIUS_DATA_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    table_file = get_space("channel_resnet").table_file
    target = tmp_path / table_file
    target.parent.mkdir(parents=True)
    raw = dict(raw_table(get_space("channel_resnet")))
    raw.pop("4344424")
    target.write_text(json.dumps(raw))
    with pytest.raises(DataFileError, match="16383 architectures, expected 16384"):
        get_space("channel_resnet", tmp_path).table()
    raw["9999999"] = raw["1111111"]
    target.write_text(json.dumps(raw))
    with pytest.raises(DataFileError, match="unexpected key '9999999'"):
        get_space("channel_resnet", tmp_path).table()  # a failed load is retried, not cached
