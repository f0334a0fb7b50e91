"""Parameter and FLOP counts: measured on a built model, and in closed form for whole tables at once.

Units, as the benchmark tables use them (checked against every row, see ``tests/test_builders.py``):

- ``params``: the raw number of parameters, BatchNorm weight and bias included (running statistics are
  buffers, not parameters) and the classifier's bias included.
- ``flops``: multiply-accumulates (MACs) of the convolutions and the linear layer for one 32x32 image,
  without biases; BatchNorm, activations, pooling and residual additions count nothing.
  ``torch.utils.flop_counter.FlopCounterMode`` counts 2 FLOPs per MAC for exactly those layers, so the
  table's figure is its total divided by two: :func:`count_macs`.

The closed forms (:func:`arch_costs`) take an integer array with one architecture per row (op ids for
``nas_macro``/``nb201``, channel numbers for ``channel_*``) and return numpy arrays, so a 16384-row table
is checked in milliseconds without building 16384 models.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from tools.builders.channel import STEM_STRIDE
from tools.builders.macro import MACRO_HEAD, MACRO_IR_OPS, MACRO_LAYERS, MACRO_STEM
from tools.builders.nb201 import NB201_C, NB201_CELLS_PER_STAGE

RESOLUTION = 32  # CIFAR images; every table was measured at this size

Ints = Any  # an int or an integer numpy array; the formulas below broadcast over both


def count_params(model: nn.Module) -> int:
    """Number of parameters (weights and biases, BN affine included; buffers excluded)."""
    return sum(p.numel() for p in model.parameters())


def count_flops(model: nn.Module, resolution: int = RESOLUTION) -> int:
    """FLOPs of one forward pass on a ``3 x resolution x resolution`` image, as FlopCounterMode counts
    them (2 per multiply-accumulate of conv/linear layers). Runs the model once on CPU in eval mode."""
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(torch.zeros(1, 3, resolution, resolution, device=device))
    finally:
        model.train(was_training)
    return int(counter.get_total_flops())


def count_macs(model: nn.Module, resolution: int = RESOLUTION) -> int:
    """Multiply-accumulates per image: the unit of the benchmark tables' ``flops`` field."""
    return count_flops(model, resolution) // 2


# --- closed forms -------------------------------------------------------------------------------------


def _conv(c_in: Ints, c_out: Ints, kernel: int, h_out: int, groups_equal_in: bool = False) -> tuple[Ints, Ints]:
    """(params, MACs) of a bias-free conv; depthwise when ``groups_equal_in``."""
    weights = c_out * kernel * kernel if groups_equal_in else c_in * c_out * kernel * kernel
    return weights, weights * h_out * h_out


def _bn(c: Ints) -> Ints:
    return 2 * c


def _linear(c_in: Ints, num_classes: int) -> tuple[Ints, Ints]:
    return c_in * num_classes + num_classes, c_in * num_classes


def _inverted_residual(c_in: Ints, hidden: Ints, c_out: Ints, kernel: int, h_in: int, h_out: int) -> tuple[Ints, Ints]:
    p1, m1 = _conv(c_in, hidden, 1, h_in)
    p2, m2 = _conv(hidden, hidden, kernel, h_out, groups_equal_in=True)
    p3, m3 = _conv(hidden, c_out, 1, h_out)
    return p1 + p2 + p3 + 2 * _bn(hidden) + _bn(c_out), m1 + m2 + m3


def _bottleneck(c_in: Ints, mid: Ints, c_out: Ints, h_out: int) -> tuple[Ints, Ints]:
    p1, m1 = _conv(c_in, mid, 3, h_out)
    p2, m2 = _conv(mid, c_out, 3, h_out)
    return p1 + p2 + _bn(mid) + _bn(c_out), m1 + m2


def macro_layer_costs(num_classes: int = 10) -> tuple[np.ndarray, np.ndarray, int, int]:
    """NAS-Bench-Macro per-(layer, op) costs: ``params[8, 3]``, ``macs[8, 3]`` plus the fixed part's
    (params, MACs) (stem, head, classifier); an architecture costs fixed + sum of its 8 entries."""
    params = np.zeros((len(MACRO_LAYERS), 3), dtype=np.int64)
    macs = np.zeros_like(params)
    h = RESOLUTION
    for i, (c_in, c_out, stride) in enumerate(MACRO_LAYERS):
        h_out = h // stride
        if stride != 1 or c_in != c_out:
            p, m = _conv(c_in, c_out, 1, h_out)
            params[i, 0], macs[i, 0] = p + _bn(c_out), m
        for op, (expansion, kernel) in MACRO_IR_OPS.items():
            params[i, op], macs[i, op] = _inverted_residual(c_in, c_in * expansion, c_out, kernel, h, h_out)
        h = h_out
    stem_p, stem_m = _conv(3, MACRO_STEM, 3, RESOLUTION)
    head_p, head_m = _conv(MACRO_LAYERS[-1][1], MACRO_HEAD, 1, h)
    fc_p, fc_m = _linear(MACRO_HEAD, num_classes)
    fixed_p = stem_p + _bn(MACRO_STEM) + head_p + _bn(MACRO_HEAD) + fc_p
    return params, macs, fixed_p, stem_m + head_m + fc_m


def _channel_resnet(c: np.ndarray, num_classes: int) -> tuple[Ints, Ints]:
    c0, c1, c2, c3, c4, c5, c6 = (c[:, i] for i in range(7))
    h = RESOLUTION // STEM_STRIDE
    parts = [
        _conv(3, c0, 3, h),
        (_bn(c0), 0),
        _bottleneck(c0, c1, c0, h),
        _bottleneck(c0, c2, c0, h),
        _bottleneck(c0, c3, c4, h // 2),
        _bottleneck(c4, c5, c4, h // 2),
        _bottleneck(c4, c6, c4, h // 2),
        _linear(c4, num_classes),
    ]
    return sum(p for p, _ in parts), sum(m for _, m in parts)


def _channel_mobilenet(c: np.ndarray, num_classes: int) -> tuple[Ints, Ints]:
    c0, c1, c2, c3, c4, c5, c6 = (c[:, i] for i in range(7))
    h = RESOLUTION // STEM_STRIDE
    head = _conv(c4, c6, 1, h // 2)
    parts = [
        _conv(3, c0, 3, h),
        (_bn(c0), 0),
        _inverted_residual(c0, c1, c0, 3, h, h),
        _inverted_residual(c0, c2, c0, 3, h, h),
        _inverted_residual(c0, c3, c4, 3, h, h // 2),
        _inverted_residual(c4, c5, c4, 3, h // 2, h // 2),
        (head[0] + _bn(c6), head[1]),
        _linear(c6, num_classes),
    ]
    return sum(p for p, _ in parts), sum(m for _, m in parts)


def _nb201(ops: np.ndarray, num_classes: int) -> tuple[Ints, Ints]:
    n1 = (ops == 2).sum(axis=1)  # conv1x1 edges per cell
    n3 = (ops == 3).sum(axis=1)  # conv3x3 edges per cell
    params: Ints = 0
    macs: Ints = 0
    c, h = NB201_C, RESOLUTION
    stem_p, stem_m = _conv(3, c, 3, h)
    params, macs = stem_p + _bn(c), stem_m
    for stage in range(3):
        if stage:
            a_p, a_m = _conv(c, 2 * c, 3, h // 2)
            b_p, b_m = _conv(2 * c, 2 * c, 3, h // 2)
            d_p, d_m = _conv(c, 2 * c, 1, h // 2)
            params = params + a_p + b_p + d_p + 2 * _bn(2 * c)
            macs = macs + a_m + b_m + d_m
            c, h = 2 * c, h // 2
        cell_p = n1 * (c * c + _bn(c)) + n3 * (9 * c * c + _bn(c))
        cell_m = (n1 * c * c + n3 * 9 * c * c) * h * h
        params = params + NB201_CELLS_PER_STAGE * cell_p
        macs = macs + NB201_CELLS_PER_STAGE * cell_m
    fc_p, fc_m = _linear(c, num_classes)
    return params + _bn(c) + fc_p, macs + fc_m


def arch_costs(
    family: str, archs: np.ndarray | list[tuple[int, ...]], num_classes: int = 10
) -> tuple[np.ndarray, np.ndarray]:
    """Closed-form (params, MACs) of every row of ``archs`` (shape ``[n, positions]``), in table units."""
    a = np.asarray(archs, dtype=np.int64)
    if a.ndim == 1:
        a = a[None, :]
    if family == "nas_macro":
        params_t, macs_t, fixed_p, fixed_m = macro_layer_costs(num_classes)
        rows = np.arange(a.shape[1])
        return fixed_p + params_t[rows, a].sum(axis=1), fixed_m + macs_t[rows, a].sum(axis=1)
    if family == "channel_resnet":
        p, m = _channel_resnet(a, num_classes)
    elif family == "channel_mobilenet":
        p, m = _channel_mobilenet(a, num_classes)
    elif family == "nb201":
        p, m = _nb201(a, num_classes)
    else:
        raise ValueError(f"unknown family {family!r}")
    return np.asarray(p, dtype=np.int64), np.asarray(m, dtype=np.int64)
