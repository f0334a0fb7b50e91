"""Spaces whose table key is one digit per position (NAS-Bench-Macro, Channel-Bench-Macro)."""

from __future__ import annotations

import numpy as np

from tools.evaluation import Arch
from tools.spaces.base import SearchSpace


class DigitKeySpace(SearchSpace):
    """Key digit i = option index of position i + ``digit_offset`` (0 for op ids, 1 for channel widths)."""

    digit_offset: int = 0

    def key(self, arch: Arch) -> str:
        return "".join(str(o + self.digit_offset) for o in self._options(arch))

    def _parse_key(self, text: str) -> Arch | None:
        n = len(self.positions)
        if len(text) != n or not text.isascii() or not text.isdigit():
            return None
        options = [int(c) - self.digit_offset for c in text]
        if not all(0 <= o < len(p) for o, p in zip(options, self.positions, strict=True)):
            return None
        return tuple(p[o] for o, p in zip(options, self.positions, strict=True))

    def all_keys(self) -> list[str]:
        # Vectorised: the digits of every key as one ASCII byte block, cut into n-byte strings.
        codes = (self.option_codes() + (ord("0") + self.digit_offset)).astype(np.uint8)
        block = codes.tobytes().decode("ascii")
        n = len(self.positions)
        return [block[i : i + n] for i in range(0, len(block), n)]
