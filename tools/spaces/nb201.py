"""NAS-Bench-201 cell space (Dong & Yang, ICLR 2020) on CIFAR-10, CIFAR-100 and ImageNet16-120.

Six edges, five operations each. The table key is NAS-Bench-201's arch string
``|op0~0|+|op1~0|op2~1|+|op3~0|op4~1|op5~2|``; GENIUS's 6-digit code (``323123``) is accepted too.
Search uses the 200-epoch validation accuracy; the paper reports the test accuracy and its rank.
"""

from __future__ import annotations

from tools.evaluation import Arch
from tools.spaces.base import BenchmarkTable, SearchSpace

OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
_OP_ID = {name: i for i, name in enumerate(OPS)}
# Input node of each edge: s1 = op0(s0); s2 = op1(s0) + op2(s1); s3 = op3(s0) + op4(s1) + op5(s2).
_EDGE_INPUT = (0, 0, 1, 0, 1, 2)
_TEMPLATE = "|{0}~0|+|{1}~0|{2}~1|+|{3}~0|{4}~1|{5}~2|"


class NB201Space(SearchSpace):
    """Op ids for op0..op5 of the cell; searched ``val_acc_200``, reported ``test_acc_200``."""

    family = "nb201"
    positions = ((0, 1, 2, 3, 4),) * 6
    position_names = tuple(f"op{i}" for i in range(6))
    value_names = dict(enumerate(OPS))  # noqa: RUF012 - class-level constant, never mutated
    searched_metric = "validation accuracy"
    reported_metric = "test accuracy"
    conversation = "growing"
    builder = "nb201"
    paper_system_template = "paper/nb201_system"
    paper_user_template = "paper/nb201_user"
    compact_template = "assisted/compact_nb201"
    option_names = {0: "none", 1: "skip", 2: "conv1x1", 3: "conv3x3", 4: "avgpool"}  # noqa: RUF012
    named_compact_template = "assisted/compact_nb201_named"

    def key(self, arch: Arch) -> str:
        return _TEMPLATE.format(*(OPS[o] for o in self._options(arch)))

    def code(self, arch: Arch) -> str:
        """GENIUS's 6-digit code of ``arch`` (what its NB201 prompt has the model answer)."""
        return "".join(str(o) for o in self._options(arch))

    def _parse_key(self, text: str) -> Arch | None:
        if len(text) == 6 and text.isascii() and text.isdigit():
            arch = tuple(int(c) for c in text)
            return arch if all(v < len(OPS) for v in arch) else None
        if not text.startswith("|"):
            return None
        edges = [t for t in text.split("|") if t not in ("", "+")]
        ops = []
        for edge, source in zip(edges, _EDGE_INPUT, strict=False):
            name, _, node = edge.partition("~")
            if name not in _OP_ID or node != str(source):
                return None
            ops.append(_OP_ID[name])
        # Rebuild and compare so only the canonical string (edge order, separators) is accepted.
        if len(ops) != len(_EDGE_INPUT) or _TEMPLATE.format(*(OPS[o] for o in ops)) != text:
            return None
        return tuple(ops)

    def all_keys(self) -> list[str]:
        return [_TEMPLATE.format(*(OPS[o] for o in row)) for row in self.option_codes().tolist()]

    def _load_table(self) -> BenchmarkTable:
        import numpy as np  # lazily, as in tools/spaces/base.py

        source, data = self._read_json()
        rows = list(data.values())
        idx = self._indices_of(list(data), source)
        return self._make_table(
            self._column(idx, rows, "val_acc_200", np.float64, source),
            self._column(idx, rows, "test_acc_200", np.float64, source),
            # The JSON's "rank" is the paper's "Ranking": test rank with ties broken arbitrarily.
            paper_rank=self._column(idx, rows, "rank", np.int64, source),
        )


class NB201Cifar10Space(NB201Space):
    """CIFAR-10: validation = cifar10-valid x-valid, test = cifar10 (full train) ori-test."""

    name = "nb201_cifar10"
    benchmark = "NAS-Bench-201 (CIFAR-10)"
    table_file = "nas-bench-201/nasbench201_cifar10.json"


class NB201Cifar100Space(NB201Space):
    """CIFAR-100: validation = x-valid, test = x-test."""

    name = "nb201_cifar100"
    benchmark = "NAS-Bench-201 (CIFAR-100)"
    table_file = "nas-bench-201/nasbench201_cifar100.json"


class NB201ImageNet16Space(NB201Space):
    """ImageNet16-120: validation = x-valid, test = x-test."""

    name = "nb201_imagenet16"
    benchmark = "NAS-Bench-201 (ImageNet16-120)"
    table_file = "nas-bench-201/nasbench201_imagenet.json"
