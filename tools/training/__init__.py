"""Train an architecture of any search-space family and evaluate it (``source="train"``)."""

from __future__ import annotations

from tools.training.data import Dataset, DatasetMissingError, load_dataset, write_cifar
from tools.training.trainer import TrainConfig, TrainResult, resolve_device, train, train_and_evaluate

__all__ = [
    "Dataset",
    "DatasetMissingError",
    "TrainConfig",
    "TrainResult",
    "load_dataset",
    "resolve_device",
    "train",
    "train_and_evaluate",
    "write_cifar",
]
