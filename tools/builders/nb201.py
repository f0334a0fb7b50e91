"""NAS-Bench-201 network (``nb201``): the standard cell-based "tiny network".

stem conv3x3 3->16 + BN | 5 cells (C=16) | residual reduction 16->32 | 5 cells (C=32) | reduction
32->64 | 5 cells (C=64) | BN-ReLU | pool | linear. Every cell has the same 6 searched edge ops.
"""

from __future__ import annotations

import torch
from torch import nn

from tools.builders.blocks import Classifier

# Edge (to, from) of each position in the 6-id list, i.e. |op0~0|+|op1~0|op2~1|+|op3~0|op4~1|op5~2|.
NB201_EDGES: tuple[tuple[int, int], ...] = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))
NB201_OPS: tuple[str, ...] = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
NB201_C = 16
NB201_CELLS_PER_STAGE = 5


class ReLUConvBN(nn.Sequential):
    """ReLU, conv (stride, "same" padding, no bias), BN: NAS-Bench-201's ``nor_conv_kxk``."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int = 1) -> None:
        super().__init__(
            nn.ReLU(),
            nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=kernel // 2, bias=False),
            nn.BatchNorm2d(c_out),
        )


def nb201_op(op: int, channels: int) -> nn.Module | None:
    """The module of edge op ``op``; ``None`` for op 0 ("none"), whose output is all zeros."""
    if op == 0:
        return None
    if op == 1:
        return nn.Identity()
    if op in (2, 3):
        return ReLUConvBN(channels, channels, 1 if op == 2 else 3)
    # NAS-Bench-201 averages over the valid pixels only at the border.
    return nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)


class NB201Cell(nn.Module):
    """One searched cell: node_j = sum over i < j of op_(j,i)(node_i); the output is node 3.

    A "none" edge contributes zeros, so it is left out of the sum; a node whose every input is "none"
    is a zero tensor (``x * 0``, as NAS-Bench-201's Zero op computes it), and edges leaving it are still
    computed, so the cell computes what the benchmark's cell computes.
    """

    def __init__(self, arch: tuple[int, ...], channels: int) -> None:
        super().__init__()
        self.edges = nn.ModuleList()
        self.wiring: list[tuple[int, int]] = []  # (to, from) of each module in self.edges
        for (to, frm), op in zip(NB201_EDGES, arch, strict=True):
            module = nb201_op(op, channels)
            if module is not None:
                self.edges.append(module)
                self.wiring.append((to, frm))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nodes = [x]
        for node in (1, 2, 3):
            total: torch.Tensor | None = None
            for edge, (to, frm) in zip(self.edges, self.wiring, strict=True):
                if to == node:
                    out = edge(nodes[frm])
                    total = out if total is None else total + out
            nodes.append(x * 0.0 if total is None else total)
        return nodes[3]


class ResNetBasicBlock(nn.Module):
    """NAS-Bench-201's reduction: ReLU-Conv3x3(s2)-BN, ReLU-Conv3x3-BN, plus AvgPool2d(2)+Conv1x1 shortcut."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv_a = ReLUConvBN(c_in, c_out, 3, stride=2)
        self.conv_b = ReLUConvBN(c_out, c_out, 3)
        self.downsample = nn.Sequential(nn.AvgPool2d(2, stride=2), nn.Conv2d(c_in, c_out, 1, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.downsample(x) + self.conv_b(self.conv_a(x))


class NB201Net(nn.Module):
    """The NAS-Bench-201 network for one cell ``arch`` (6 op ids)."""

    def __init__(self, arch: tuple[int, ...], num_classes: int = 10) -> None:
        super().__init__()
        c = NB201_C
        self.stem = nn.Sequential(nn.Conv2d(3, c, 3, padding=1, bias=False), nn.BatchNorm2d(c))
        layers: list[nn.Module] = []
        for stage in range(3):
            if stage:
                layers.append(ResNetBasicBlock(c, 2 * c))
                c *= 2
            layers.extend(NB201Cell(arch, c) for _ in range(NB201_CELLS_PER_STAGE))
        self.cells = nn.Sequential(*layers)
        self.lastact = nn.Sequential(nn.BatchNorm2d(c), nn.ReLU())
        self.classifier = Classifier(c, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.lastact(self.cells(self.stem(x))))
