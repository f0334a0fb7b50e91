"""PyTorch networks for every search-space family, built from an architecture as the prompts write it.

``build_model(family, arch)`` with ``family`` one of :data:`FAMILIES`:

- ``nas_macro``: 8 op ids in {0 Identity, 1 InvertedResidual k3 e3, 2 InvertedResidual k5 e6}.
- ``channel_resnet`` / ``channel_mobilenet``: 7 channel numbers from the options of Appendix B / PROTOCOL.md.
- ``nb201``: 6 op ids {0 none, 1 skip, 2 conv1x1, 3 conv3x3, 4 avgpool3x3} for the edges
  (1<-0), (2<-0), (2<-1), (3<-0), (3<-1), (3<-2).

The networks are the ones the benchmark tables were measured on: for every architecture of
NAS-Bench-Macro and of both Channel-Bench-Macro tables the built model's parameter count equals the
table's ``params`` and its multiply-accumulates equal the table's ``flops`` (see :mod:`tools.builders.costs`
for the units, and :mod:`tools.builders.channel` for the stem stride the prompt leaves out).
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from tools.builders.channel import (
    MOBILENET_BASE,
    MOBILENET_OPTIONS,
    RESNET_BASE,
    RESNET_OPTIONS,
    ChannelMobileNet,
    ChannelResNet,
)
from tools.builders.costs import arch_costs, count_flops, count_macs, count_params
from tools.builders.macro import MacroNet
from tools.builders.nb201 import NB201Net
from tools.errors import UserError
from tools.evaluation import Arch
from tools.spaces.nas_macro import NasMacroSpace
from tools.spaces.nb201 import NB201Space

FAMILIES: tuple[str, ...] = ("nas_macro", "channel_resnet", "channel_mobilenet", "nb201")

# Allowed values per position, per family: the spaces' own (tools.spaces), not declared a second time.
CHOICES: dict[str, tuple[tuple[int, ...], ...]] = {
    "nas_macro": NasMacroSpace.positions,
    "channel_resnet": RESNET_OPTIONS,
    "channel_mobilenet": MOBILENET_OPTIONS,
    "nb201": NB201Space.positions,
}


class ArchitectureError(UserError):
    """An architecture that the family cannot build; the message lists the allowed values."""


def validate_arch(family: str, arch: Sequence[int]) -> Arch:
    """Return ``arch`` as a tuple of ints, or raise :class:`ArchitectureError` / :class:`UserError`."""
    if family not in CHOICES:
        raise UserError(f"unknown search-space family {family!r}; use one of {', '.join(FAMILIES)}")
    choices = CHOICES[family]
    values = tuple(arch)
    if len(values) != len(choices) or not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        raise ArchitectureError(
            f"{family} needs a list of {len(choices)} integers, got {list(values)!r}; "
            f"allowed per position: {[list(c) for c in choices]}"
        )
    for i, (v, allowed) in enumerate(zip(values, choices, strict=True)):
        if v not in allowed:
            raise ArchitectureError(
                f"{family} position {i} is {v}, which is not allowed; choose one of {list(allowed)}"
            )
    return values


def build_model(family: str, arch: Arch, num_classes: int = 10) -> nn.Module:
    """Build the (untrained, freshly initialised) network of ``arch`` in ``family``."""
    values = validate_arch(family, arch)
    if family == "nas_macro":
        return MacroNet(values, num_classes)
    if family == "channel_resnet":
        return ChannelResNet(values, num_classes)
    if family == "channel_mobilenet":
        return ChannelMobileNet(values, num_classes)
    return NB201Net(values, num_classes)


def table_key(family: str, arch: Arch) -> str:
    """The benchmark table's key of ``arch``: op ids concatenated, or channel_i / base_i digits."""
    values = validate_arch(family, arch)
    if family == "channel_resnet":
        return "".join(str(c // b) for c, b in zip(values, RESNET_BASE, strict=True))
    if family == "channel_mobilenet":
        return "".join(str(c // b) for c, b in zip(values, MOBILENET_BASE, strict=True))
    return "".join(str(v) for v in values)


__all__ = [
    "CHOICES",
    "FAMILIES",
    "ArchitectureError",
    "arch_costs",
    "build_model",
    "count_flops",
    "count_macs",
    "count_params",
    "table_key",
    "validate_arch",
]
