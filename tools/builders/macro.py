"""NAS-Bench-Macro network (``nas_macro``): 8 searchable layers between a fixed stem and head.

Reproduces the network that produced the table (upstream ``xiusu/NAS-Bench-Macro``): the prompt's
``layer1`` conv3x3 3->32 and ``layer10`` conv1x1 256->1280 are each followed by BatchNorm + ReLU there,
which the prompt does not show; with them every one of the 6561 architectures has exactly the table's
parameter count (see ``tools/builders/costs.py``).
"""

from __future__ import annotations

import torch
from torch import nn

from tools.builders.blocks import Classifier, IdentityOp, InvertedResidual, conv_bn_relu

# (in_channels, out_channels, stride) of layer2..layer9, as the Appendix A.2 prompt defines them.
MACRO_LAYERS: tuple[tuple[int, int, int], ...] = (
    (32, 64, 2),
    (64, 64, 1),
    (64, 128, 2),
    (128, 128, 1),
    (128, 128, 1),
    (128, 256, 2),
    (256, 256, 1),
    (256, 256, 1),
)
# op id -> (expansion, kernel) of the InvertedResidual; op 0 is the Identity block.
MACRO_IR_OPS: dict[int, tuple[int, int]] = {1: (3, 3), 2: (6, 5)}
MACRO_STEM = 32
MACRO_HEAD = 1280


def macro_op(op: int, c_in: int, c_out: int, stride: int) -> nn.Module:
    """The block for op id ``op`` (0 Identity, 1 IR k3 e3, 2 IR k5 e6) at one layer."""
    if op == 0:
        return IdentityOp(c_in, c_out, stride)
    expansion, kernel = MACRO_IR_OPS[op]
    return InvertedResidual(c_in, c_in * expansion, c_out, stride, kernel)


class MacroNet(nn.Module):
    """stem conv3x3-BN-ReLU | 8 searched layers | conv1x1 256->1280-BN-ReLU | pool | linear."""

    def __init__(self, arch: tuple[int, ...], num_classes: int = 10) -> None:
        super().__init__()
        self.stem = conv_bn_relu(3, MACRO_STEM, 3)
        self.features = nn.Sequential(
            *(macro_op(op, c_in, c_out, s) for op, (c_in, c_out, s) in zip(arch, MACRO_LAYERS, strict=True))
        )
        self.head = conv_bn_relu(MACRO_LAYERS[-1][1], MACRO_HEAD, 1)
        self.classifier = Classifier(MACRO_HEAD, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.head(self.features(self.stem(x))))
