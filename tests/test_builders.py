"""The builders build the benchmarks' networks: parameter and FLOP counts equal the tables' for every row."""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from tools.builders import (
    CHOICES,
    FAMILIES,
    ArchitectureError,
    arch_costs,
    build_model,
    count_macs,
    count_params,
    table_key,
)
from tools.builders.channel import MOBILENET_BASE, RESNET_BASE
from tools.builders.costs import macro_layer_costs
from tools.builders.macro import MACRO_LAYERS, macro_op
from tools.errors import UserError

# (family, table path under GENIUS_DATA_DIR, base per position: key digit -> arch value)
TABLES = [
    ("nas_macro", "nas-bench-macro/nas-bench-macro_cifar10.json", None),
    ("channel_resnet", "channel-bench-macro/Results_ResNet.json", RESNET_BASE),
    ("channel_mobilenet", "channel-bench-macro/Results_MobileNet.json", MOBILENET_BASE),
]


def _load_table(rel: str) -> dict[str, dict]:
    root = os.environ.get("GENIUS_DATA_DIR")
    if not root or not (Path(root) / rel).is_file():
        pytest.skip(f"benchmark table {rel} not found; set GENIUS_DATA_DIR to the benchmarks folder")
    return json.loads((Path(root) / rel).read_text())


def _key_to_arch(key: str, base: tuple[int, ...] | None) -> tuple[int, ...]:
    digits = tuple(int(c) for c in key)
    return digits if base is None else tuple(d * b for d, b in zip(digits, base, strict=True))


@pytest.mark.parametrize(("family", "rel", "base"), TABLES)
def test_closed_form_matches_every_table_row(family: str, rel: str, base: tuple[int, ...] | None) -> None:
    table = _load_table(rel)
    keys = sorted(table)
    archs = np.array([_key_to_arch(k, base) for k in keys])
    params, macs = arch_costs(family, archs)
    want_params = np.array([table[k]["params"] for k in keys])
    want_flops = np.array([table[k]["flops"] for k in keys])
    assert len(keys) == {"nas_macro": 3**8}.get(family, 4**7)
    mismatched = [k for k, p, w in zip(keys, params, want_params, strict=True) if p != w]
    assert not mismatched, f"{len(mismatched)} params mismatches, e.g. {mismatched[:3]}"
    mismatched = [k for k, m, w in zip(keys, macs, want_flops, strict=True) if m != w]
    assert not mismatched, f"{len(mismatched)} flops mismatches, e.g. {mismatched[:3]}"


@pytest.mark.parametrize(("family", "rel", "base"), TABLES)
def test_built_models_match_table_and_closed_form(family: str, rel: str, base: tuple[int, ...] | None) -> None:
    """Real models (the extremes plus a random sample) against the table and the closed form."""
    table = _load_table(rel)
    keys = sorted(table)
    sample = [keys[0], keys[-1], *random.Random(7).sample(keys, 4)]
    for key in sample:
        arch = _key_to_arch(key, base)
        assert table_key(family, arch) == key
        model = build_model(family, arch)
        params, macs = count_params(model), count_macs(model)
        assert (params, macs) == (table[key]["params"], table[key]["flops"]), key
        formula = arch_costs(family, [arch])
        assert (int(formula[0][0]), int(formula[1][0])) == (params, macs)


def test_macro_per_block_table_matches_built_blocks() -> None:
    """Each (layer, op) entry of the NAS-Bench-Macro cost table, measured on the block alone."""
    params_t, macs_t, _, _ = macro_layer_costs()
    h = 32
    for i, (c_in, c_out, stride) in enumerate(MACRO_LAYERS):
        for op in range(3):
            block = macro_op(op, c_in, c_out, stride).eval()
            with torch.no_grad(), FlopCounterMode(display=False) as counter:
                out = block(torch.zeros(1, c_in, h, h))
            assert out.shape == (1, c_out, h // stride, h // stride)
            assert sum(p.numel() for p in block.parameters()) == params_t[i, op]
            assert counter.get_total_flops() == 2 * macs_t[i, op]
        h //= stride


def test_nb201_closed_form_and_published_sizes() -> None:
    """NAS-Bench-201 has no params field here; its paper gives 0.073306 M (no conv edge) to 1.531546 M
    (all conv3x3) parameters on CIFAR-10."""
    assert count_params(build_model("nb201", (3,) * 6)) == 1_531_546
    assert count_params(build_model("nb201", (0, 1, 4, 1, 0, 4))) == 73_306
    for arch in [(2, 0, 3, 1, 4, 2), (0, 0, 0, 0, 0, 0), (3, 2, 0, 0, 3, 1)]:
        model = build_model("nb201", arch, num_classes=100)
        params, macs = arch_costs("nb201", [arch], num_classes=100)
        assert (count_params(model), count_macs(model)) == (int(params[0]), int(macs[0]))


@pytest.mark.parametrize("family", FAMILIES)
def test_forward_backward_shapes(family: str) -> None:
    arch = tuple(min(c) for c in CHOICES[family])
    model = build_model(family, arch, num_classes=7)
    out = model(torch.randn(2, 3, 32, 32))
    assert out.shape == (2, 7)
    out.sum().backward()
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)


def test_nb201_all_none_cell_gives_input_independent_logits() -> None:
    """With every edge "none" the cell outputs zeros, so the logits no longer depend on the image."""
    model = build_model("nb201", (0,) * 6).eval()
    with torch.no_grad():
        out = model(torch.randn(2, 3, 32, 32))
    assert torch.isfinite(out).all()
    assert torch.allclose(out[0], out[1])


@pytest.mark.parametrize(
    ("family", "arch", "fragment"),
    [
        ("nas_macro", (0, 1, 2), "8 integers"),
        ("nas_macro", (0, 1, 2, 3, 0, 0, 0, 0), "position 3"),
        ("channel_resnet", (64, 64, 64, 128, 128, 128, 100), "choose one of [128, 256, 384, 512]"),
        ("nb201", (1.0, 1, 1, 1, 1, 1), "6 integers"),
        ("resnet50", (1,), "unknown search-space family"),
    ],
)
def test_invalid_architectures_name_the_remedy(family: str, arch: tuple, fragment: str) -> None:
    with pytest.raises(UserError) as info:
        build_model(family, arch)
    assert fragment in str(info.value)
    if family != "resnet50":
        assert isinstance(info.value, ArchitectureError)
