"""Building blocks shared by the search-space networks.

Every convolution is bias-free and followed by a BatchNorm with affine parameters (weight + bias), as in
the benchmarks' own training code; so a BatchNorm over ``c`` channels adds ``2 * c`` parameters and a
convolution ``c_in * c_out * k * k / groups``. ReLUs are never in-place: in the NAS-Bench-201 cell one
node's output feeds several edges, and in-place activations gain nothing once ``torch.compile`` fuses them.
"""

from __future__ import annotations

import torch
from torch import nn


def conv_bn(c_in: int, c_out: int, kernel: int, stride: int = 1, groups: int = 1) -> list[nn.Module]:
    """Conv (kernel ``kernel``, "same" padding, no bias) followed by BatchNorm."""
    return [
        nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=kernel // 2, groups=groups, bias=False),
        nn.BatchNorm2d(c_out),
    ]


def conv_bn_relu(c_in: int, c_out: int, kernel: int, stride: int = 1, groups: int = 1) -> nn.Sequential:
    """Conv-BN-ReLU, the stem and head of the macro networks."""
    return nn.Sequential(*conv_bn(c_in, c_out, kernel, stride, groups), nn.ReLU())


class IdentityOp(nn.Module):
    """NAS-Bench-Macro op 0: identity, or a 1x1 conv (given stride, no bias) + BN when the shape changes.

    The paper's OCR lost this block; PROTOCOL.md restores it from the authors' code.
    """

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.proj: nn.Module = (
            nn.Sequential(*conv_bn(c_in, c_out, 1, stride)) if stride != 1 or c_in != c_out else nn.Identity()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x)


class InvertedResidual(nn.Module):
    """MobileNetV2 block: 1x1 expand, BN, ReLU, kxk depthwise (stride), BN, ReLU, 1x1 project, BN.

    ``hidden`` is the expanded width: ``c_in * expansion`` in NAS-Bench-Macro (Appendix A), a searched
    channel number in Channel-Bench-Macro's MobileNet. The input is added back when the shape is kept.
    """

    def __init__(self, c_in: int, hidden: int, c_out: int, stride: int, kernel: int) -> None:
        super().__init__()
        self.conv = nn.Sequential(
            *conv_bn(c_in, hidden, 1),
            nn.ReLU(),
            *conv_bn(hidden, hidden, kernel, stride, groups=hidden),
            nn.ReLU(),
            *conv_bn(hidden, c_out, 1),
        )
        self.use_shortcut = c_in == c_out and stride == 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv(x)
        return out + x if self.use_shortcut else out


class BottleneckResidualBlock(nn.Module):
    """Channel-Bench-Macro ResNet block (Appendix B): conv3x3(stride)-BN-ReLU-conv3x3-BN, then ReLU.

    The input is added before the final ReLU only when ``stride == 1`` (the paper's block has no
    projection shortcut, so a strided block is plain).
    """

    def __init__(self, c_in: int, bottleneck: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.stride = stride
        self.block = nn.Sequential(*conv_bn(c_in, bottleneck, 3, stride), nn.ReLU(), *conv_bn(bottleneck, c_out, 3))
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.block(x)
        return self.relu(x + out) if self.stride == 1 else self.relu(out)


class Classifier(nn.Module):
    """Global average pool, then linear.

    The pool is a ``mean`` over the spatial dimensions rather than ``nn.AdaptiveAvgPool2d(1)``: the
    same numbers, but its CUDA backward is deterministic, so ``deterministic=True`` training needs no
    exception for it.
    """

    def __init__(self, c_in: int, num_classes: int) -> None:
        super().__init__()
        self.fc = nn.Linear(c_in, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x.mean(dim=(2, 3)))
