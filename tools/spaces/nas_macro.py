"""NAS-Bench-Macro (CIFAR-10): 8 searchable layers, 3 operations each (Su et al., CVPR 2021)."""

from __future__ import annotations

from tools.spaces.digits import DigitKeySpace


class NasMacroSpace(DigitKeySpace):
    """Op ids for layer2..layer9; key = the ids concatenated (``22212220``); metric ``mean_acc``.

    The benchmark has no validation split: the search and the report both use the mean test accuracy
    of three trainings, as the paper does.
    """

    name = "nas_macro"
    family = "nas_macro"
    benchmark = "NAS-Bench-Macro (CIFAR-10)"
    positions = ((0, 1, 2),) * 8
    position_names = tuple(f"layer{i}" for i in range(2, 10))
    value_names = {  # noqa: RUF012 - class-level constant, never mutated
        0: "Identity",
        1: "InvertedResidual(expansion=3, kernel_size=3)",
        2: "InvertedResidual(expansion=6, kernel_size=5)",
    }
    searched_metric = "test accuracy"
    reported_metric = "test accuracy"
    table_file = "nas-bench-macro/nas-bench-macro_cifar10.json"
    ranks_file = "nas-bench-macro/ranks.csv"
    accuracy_column = "mean_acc"
    builder = "nas_macro"
    paper_user_template = "paper/nas_macro_user"
    compact_template = "assisted/compact_nas_macro"
    option_names = {0: "identity", 1: "ir_k3_e3", 2: "ir_k5_e6"}  # noqa: RUF012 - class-level constant
    named_compact_template = "assisted/compact_nas_macro_named"
