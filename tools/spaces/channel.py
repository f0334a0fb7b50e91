"""Channel-Bench-Macro (CIFAR-10): channel numbers of 7 positions, ResNet or MobileNet skeleton.

The model answers channel numbers; the table key is digit_i = channels_i / base_i (1..4), the mapping the
GENIUS code used (see shared/benchmarks/channel-bench-macro/README.md).
"""

from __future__ import annotations

from tools.spaces.digits import DigitKeySpace


def _options(base: tuple[int, ...]) -> tuple[tuple[int, ...], ...]:
    return tuple(tuple(b * d for d in (1, 2, 3, 4)) for b in base)


class ChannelSpace(DigitKeySpace):
    """Channel numbers for channels[0]..channels[6]; metric ``mean`` (mean test accuracy of 3 runs)."""

    family = "channel"
    base: tuple[int, ...]
    position_names = tuple(f"channels[{i}]" for i in range(7))
    value_names: dict[int, str] = {}  # noqa: RUF012 - never mutated
    value_kind = "channel numbers"
    searched_metric = "test accuracy"
    reported_metric = "test accuracy"
    digit_offset = 1
    accuracy_column = "mean"


class ChannelResNetSpace(ChannelSpace):
    """ResNet skeleton: channels[0..2] in {64..256}, channels[3..6] in {128..512} (paper Appendix B)."""

    name = "channel_resnet"
    benchmark = "Channel-Bench-Macro ResNet (CIFAR-10)"
    base = (64, 64, 64, 128, 128, 128, 128)
    positions = _options(base)
    table_file = "channel-bench-macro/Results_ResNet.json"
    ranks_file = "channel-bench-macro/ranks_ResNet.csv"


class ChannelMobileNetSpace(ChannelSpace):
    """MobileNet skeleton (not in the paper's appendix; see shared/seed/PROTOCOL.md)."""

    name = "channel_mobilenet"
    benchmark = "Channel-Bench-Macro MobileNet (CIFAR-10)"
    base = (32, 192, 192, 192, 64, 384, 256)
    positions = _options(base)
    table_file = "channel-bench-macro/Results_MobileNet.json"
    ranks_file = "channel-bench-macro/ranks_MobileNet.csv"
