"""Channel-Bench-Macro (CIFAR-10): channel numbers of 7 positions, ResNet or MobileNet skeleton.

The model answers channel numbers; the table key is digit_i = channels_i / base_i (1..4), the mapping the
GENIUS code used (see shared/benchmarks/channel-bench-macro/README.md).
"""

from __future__ import annotations

import json

from prompts import render
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
    answer_name = "channel list"

    def paper_user_prompt(self) -> str:
        options = "\n".join(f"{name}: {json.dumps(list(opts))}," for name, opts in
                            zip(self.position_names, self.positions, strict=True))
        first, last = self.positions[0], self.positions[-1]
        example = f"{first[0]}, {self.positions[1][2]}, ..., {last[1]}"
        return render(self.paper_user_template, channel_options=options, example=example)

    def compact_prompt(self, *, named: bool = False) -> str:
        # channel widths have no names: ``named`` changes nothing here
        options = "\n".join(f"{name}: {', '.join(map(str, opts))}" for name, opts in
                            zip(self.position_names, self.positions, strict=True))
        example = ", ".join(str(opts[1]) for opts in self.positions)
        return render(self.compact_template, options=options, example=example)


class ChannelResNetSpace(ChannelSpace):
    """ResNet skeleton: channels[0..2] in {64..256}, channels[3..6] in {128..512} (paper Appendix B)."""

    name = "channel_resnet"
    benchmark = "Channel-Bench-Macro ResNet (CIFAR-10)"
    base = (64, 64, 64, 128, 128, 128, 128)
    positions = _options(base)
    table_file = "channel-bench-macro/Results_ResNet.json"
    ranks_file = "channel-bench-macro/ranks_ResNet.csv"
    builder = "channel_resnet"
    paper_user_template = "paper/channel_resnet_user"
    compact_template = "assisted/compact_channel_resnet"


class ChannelMobileNetSpace(ChannelSpace):
    """MobileNet skeleton (not in the paper's appendix; see shared/seed/PROTOCOL.md)."""

    name = "channel_mobilenet"
    benchmark = "Channel-Bench-Macro MobileNet (CIFAR-10)"
    base = (32, 192, 192, 192, 64, 384, 256)
    positions = _options(base)
    table_file = "channel-bench-macro/Results_MobileNet.json"
    ranks_file = "channel-bench-macro/ranks_MobileNet.csv"
    builder = "channel_mobilenet"
    paper_user_template = "paper/channel_mobilenet_user"
    compact_template = "assisted/compact_channel_mobilenet"
