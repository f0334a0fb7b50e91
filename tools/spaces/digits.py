"""Spaces whose table key is one digit per position (NAS-Bench-Macro, Channel-Bench-Macro).

Both macro benchmarks also share their table format: ``{key: {<accuracy column>, "params", "flops"}}``,
one mean test accuracy that is both searched and reported.
"""

from __future__ import annotations

from tools.evaluation import Arch
from tools.spaces.base import BenchmarkTable, SearchSpace


class DigitKeySpace(SearchSpace):
    """Key digit i = option index of position i + ``digit_offset`` (0 for op ids, 1 for channel widths)."""

    digit_offset: int = 0
    accuracy_column: str  # the table's mean accuracy field ("mean_acc", "mean")

    def _load_table(self) -> BenchmarkTable:
        import numpy as np  # lazily, as in tools/spaces/base.py

        source, data = self._read_json()
        rows = list(data.values())
        idx = self._indices_of(list(data), source)
        acc = self._column(idx, rows, self.accuracy_column, np.float64, source)
        return self._make_table(
            acc,
            acc,
            params=self._column(idx, rows, "params", np.int64, source),
            flops=self._column(idx, rows, "flops", np.int64, source),
            paper_rank=self._read_paper_ranks(),
        )

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
        import numpy as np  # lazily, as in tools/spaces/base.py

        # Vectorised: the digits of every key as one ASCII byte block, cut into n-byte strings.
        codes = (self.option_codes() + (ord("0") + self.digit_offset)).astype(np.uint8)
        block = codes.tobytes().decode("ascii")
        n = len(self.positions)
        return [block[i : i + n] for i in range(0, len(block), n)]
