"""The per-value table behind every statistic assisted mode shows the model."""

from __future__ import annotations

from agent.engine.context import TrialContext


def value_results(ctx: TrialContext) -> list[list[tuple[str, list[float]]]]:
    """Per model-facing position, each option's label and the accuracies of the evaluated (distinct)
    architectures that use it: what every statistic shown to the model is computed from."""
    view = ctx.view
    evaluated = {tuple(it.arch): float(it.accuracy or 0) for it in ctx.evaluated() if it.arch}
    out = []
    for j in range(len(view.position_names)):
        real = view.real_position(j)
        out.append([(label, [acc for arch, acc in evaluated.items() if arch[real] == value])
                    for label, value in view.options(j)])
    return out


def short(label: str) -> str:
    """An option's label without its description ("3 (nor_conv_3x3)" -> "3"): the task prompt defines the
    values, and repeating the names at every position would double the prompt."""
    return label.split(" (", 1)[0]

