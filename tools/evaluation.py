"""What an evaluation of one architecture returns, whoever computed it (table lookup or training)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

# An architecture as the prompts ask the model to write it: op ids (nas_macro, nb201) or channel
# numbers (channel_*), one per searchable position.
Arch = tuple[int, ...]


# Fields added after the first version; omitted from the JSON when unset.
ADDED_LATER = ("device", "epochs", "dataset")


@dataclass(frozen=True)
class Evaluation:
    """The outcome of evaluating one architecture.

    ``accuracy`` is the metric the search optimises (NAS-Bench-201: validation accuracy);
    ``test_accuracy`` the metric reported (NAS-Bench-201: test accuracy; Macro/Channel: the same mean
    accuracy). ``rank`` is the strict rank of ``test_accuracy`` among all architectures of the space
    (1 + number strictly better) when a table knows it; ``paper_rank`` is the rank the GENIUS code
    would print (ties ordered as in the paper), where the table carries it.
    """

    accuracy: float
    test_accuracy: float
    rank: int | None = None
    paper_rank: int | None = None
    params: int | None = None
    flops: int | None = None
    wall_s: float | None = None
    source: str = "table"  # "table" | "train"
    # How a training measured it (None for a table lookup): the device, epochs run and dataset.
    device: str | None = None
    epochs: int | None = None
    dataset: str | None = None

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        for name in ADDED_LATER:  # absent rather than null, so what earlier versions recorded still replays
            if out[name] is None:
                del out[name]
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Evaluation:
        known = {f: data[f] for f in cls.__dataclass_fields__ if f in data}
        return cls(**known)
