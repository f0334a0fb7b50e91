"""Channel-Bench-Macro networks (``channel_resnet``, ``channel_mobilenet``): 7 searched widths.

The stem is a conv3x3 with **stride 2** (+ BN + ReLU), as in the benchmark's own training code
(upstream ``xiusu/Channel-Bench-Macro`` ``model.py``). The GENIUS prompt (Appendix B) prints the stem
without a stride, i.e. stride 1; the table's ``flops`` field settles it: with stride 2 every one of the
2 x 16384 architectures matches the table exactly, with stride 1 each would have about 4x the FLOPs.
The parameter count does not depend on the stride. The stem's BN + ReLU, and the BN + ReLU after the
MobileNet's conv1x1 head, are likewise not in the prompt but are in the trained networks (the
``params`` field needs them).
"""

from __future__ import annotations

import torch
from torch import nn

from tools.builders.blocks import BottleneckResidualBlock, Classifier, InvertedResidual, conv_bn_relu
from tools.spaces.channel import ChannelMobileNetSpace, ChannelResNetSpace

# The spaces own their channel options and the table's base widths; the builders take them from there.
RESNET_OPTIONS: tuple[tuple[int, ...], ...] = ChannelResNetSpace.positions
RESNET_BASE: tuple[int, ...] = ChannelResNetSpace.base
MOBILENET_OPTIONS: tuple[tuple[int, ...], ...] = ChannelMobileNetSpace.positions
MOBILENET_BASE: tuple[int, ...] = ChannelMobileNetSpace.base

STEM_STRIDE = 2


class ChannelResNet(nn.Module):
    """conv3x3(3->c0, s2)-BN-ReLU | Bottleneck (c0,c1,c0,1) (c0,c2,c0,1) (c0,c3,c4,2) (c4,c5,c4,1)
    (c4,c6,c4,1) | pool | linear(c4)."""

    def __init__(self, channels: tuple[int, ...], num_classes: int = 10) -> None:
        super().__init__()
        c0, c1, c2, c3, c4, c5, c6 = channels
        self.stem = conv_bn_relu(3, c0, 3, STEM_STRIDE)
        self.features = nn.Sequential(
            BottleneckResidualBlock(c0, c1, c0, 1),
            BottleneckResidualBlock(c0, c2, c0, 1),
            BottleneckResidualBlock(c0, c3, c4, 2),
            BottleneckResidualBlock(c4, c5, c4, 1),
            BottleneckResidualBlock(c4, c6, c4, 1),
        )
        self.classifier = Classifier(c4, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(self.stem(x)))


class ChannelMobileNet(nn.Module):
    """conv3x3(3->c0, s2)-BN-ReLU | InvertedResidual k3 (c0,c1,c0,1) (c0,c2,c0,1) (c0,c3,c4,2)
    (c4,c5,c4,1) | conv1x1(c4->c6)-BN-ReLU | pool | linear(c6)."""

    def __init__(self, channels: tuple[int, ...], num_classes: int = 10) -> None:
        super().__init__()
        c0, c1, c2, c3, c4, c5, c6 = channels
        self.stem = conv_bn_relu(3, c0, 3, STEM_STRIDE)
        self.features = nn.Sequential(
            InvertedResidual(c0, c1, c0, 1, 3),
            InvertedResidual(c0, c2, c0, 1, 3),
            InvertedResidual(c0, c3, c4, 2, 3),
            InvertedResidual(c4, c5, c4, 1, 3),
        )
        self.head = conv_bn_relu(c4, c6, 1)
        self.classifier = Classifier(c6, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.head(self.features(self.stem(x))))
