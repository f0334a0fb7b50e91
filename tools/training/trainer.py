"""Train one architecture and measure it: the ``source="train"`` evaluator.

Fast on a GPU in the manner of airbench: the whole dataset lives on the device as uint8 (padded once for
the random crop), each batch is cropped, flipped and normalised there by one gather, the forward pass
runs under bf16 autocast in channels_last layout (``torch.compile`` only when asked for: it did not pay
off on an H200), the optimizer is SGD with Nesterov momentum under a linear warm-up / linear decay
("one-cycle") schedule, metrics are accumulated on the device and read back once per epoch, and the
training time is measured with CUDA events. On a CPU the same loop runs in fp32 (slow; for tests).
"""

from __future__ import annotations

import itertools
import math
import os
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from tools.builders import build_model, count_macs, count_params, validate_arch
from tools.errors import UserError
from tools.evaluation import Arch, Evaluation
from tools.stopping import check_stop
from tools.training.data import Dataset, load_dataset

# Validation images are drawn with this fixed seed, whatever the training seed: every architecture and
# every seed of a search is then compared on the same held-out images.
SPLIT_SEED = 0
# compile="auto" does not compile. Measured on an H200 (torch 2.11, bf16 autocast, channels_last, batch
# 512; benchmarks/train_throughput.py --device cuda --quick): compiled steady state was *slower* than
# eager for every family (nas_macro 30.4k vs 43.1k img/s, channel_resnet 69.8k vs 79.7k, channel_mobilenet
# 53.6k vs 65.8k, nb201 10.5k vs 13.6k) and compiling cost 10-70 s. compile=True still forces it.
COMPILE_AUTO = False
DEFAULT_DATA_DIR = "~/.cache/genius-agent/data"


@dataclass(frozen=True)
class TrainConfig:
    """How to train an architecture.

    - ``dataset``: "cifar10", "cifar100", or a path to a .npz with ``x_train, y_train, x_test, y_test``
      (uint8 NHWC images, integer labels); CIFAR is read from (or downloaded into) ``data_dir``.
    - ``epochs``, ``batch_size``, ``lr`` (peak), ``momentum``, ``weight_decay`` (on conv/linear weights
      only, not on BatchNorm or biases), ``label_smoothing``: SGD with Nesterov momentum; the learning
      rate rises linearly from 0 over the first ``warmup_fraction`` of the steps, then falls linearly
      to 0.
    - ``val_fraction``: share of the training set held out (with the fixed :data:`SPLIT_SEED`) to give
      the validation accuracy that the search optimises; 0 makes the search metric the test accuracy.
    - ``seed``: initial weights, data order and augmentation.
    - ``device``: "auto" (CUDA when available), "cpu", "cuda" or "cuda:N".
    - ``compile``: True, False, or "auto" (= :data:`COMPILE_AUTO`: off, since compiling did not pay off
      on an H200, see its comment). A failing ``torch.compile`` falls back to eager with a warning.
    - ``deterministic``: run with ``torch.use_deterministic_algorithms(True, warn_only=True)``,
      ``cudnn.deterministic = True`` and ``cudnn.benchmark = False`` (and ``CUBLAS_WORKSPACE_CONFIG``
      set, when not already, to ``:4096:8``, which only takes effect if CUDA had not yet been used in
      the process); the previous settings are restored afterwards. Without it CUDA runs use
      ``cudnn.benchmark = True`` and may differ in the last digits from run to run. CPU runs with the
      same seed, thread count and software give the same result either way.
    - ``download``: fetch CIFAR when it is not in ``data_dir``.
    """

    dataset: str = "cifar10"
    data_dir: str = DEFAULT_DATA_DIR
    epochs: int = 10
    batch_size: int = 512
    lr: float = 0.2
    momentum: float = 0.9
    weight_decay: float = 5e-4
    label_smoothing: float = 0.1
    warmup_fraction: float = 0.2
    seed: int = 0
    device: str = "auto"
    compile: str | bool = "auto"
    val_fraction: float = 0.1
    deterministic: bool = False
    download: bool = True
    crop_padding: int = 4
    eval_batch_size: int = 1024

    def __post_init__(self) -> None:
        problems = []
        if self.epochs < 1:
            problems.append("epochs must be >= 1")
        if self.batch_size < 1 or self.eval_batch_size < 1:
            problems.append("batch_size and eval_batch_size must be >= 1")
        if not 0.0 <= self.val_fraction < 1.0:
            problems.append("val_fraction must be in [0, 1)")
        if not 0.0 <= self.warmup_fraction <= 1.0:
            problems.append("warmup_fraction must be in [0, 1]")
        if self.lr <= 0 or self.weight_decay < 0 or not 0.0 <= self.label_smoothing < 1.0:
            problems.append("lr must be > 0, weight_decay >= 0, label_smoothing in [0, 1)")
        if self.crop_padding < 0:
            problems.append("crop_padding must be >= 0")
        if not (self.device in ("auto", "cpu", "cuda") or self.device.startswith("cuda:")):
            problems.append("device must be 'auto', 'cpu', 'cuda' or 'cuda:N'")
        if self.compile not in ("auto", True, False):
            problems.append("compile must be 'auto', true or false")
        if problems:
            raise UserError("invalid training configuration: " + "; ".join(problems))

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TrainConfig:
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


@dataclass(frozen=True)
class TrainResult:
    """An :class:`Evaluation` plus how the training went (for benchmarks and diagnostics)."""

    evaluation: Evaluation
    device: str
    compiled: bool
    steps: int
    train_images: int
    train_s: float  # the training loop only (CUDA events on GPU), compile time included
    epoch_s: list[float] = field(default_factory=list)  # per epoch, same clock
    epoch_loss: list[float] = field(default_factory=list)
    epoch_train_accuracy: list[float] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def images_per_s(self) -> float:
        return self.train_images / self.train_s if self.train_s > 0 else float("nan")


def resolve_device(name: str) -> torch.device:
    """The torch device for a config's ``device``; a UserError when CUDA is asked for but absent."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"device {name!r} requested but CUDA is not available; use device='cpu' or 'auto'")
    return torch.device(name)


# --- the dataset on the device ---------------------------------------------------------------------


@dataclass(frozen=True)
class DeviceData:
    """Split, padded and normalising constants, all resident on one device."""

    train_padded: torch.Tensor  # uint8 [n, h + 2p, w + 2p, 3], reflect-padded
    y_train: torch.Tensor
    x_val: torch.Tensor  # uint8 [n, h, w, 3]
    y_val: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    mean: torch.Tensor  # [1, 3, 1, 1] float32, on the 0..255 scale
    std: torch.Tensor
    num_classes: int
    height: int
    width: int
    padding: int


_DEVICE_CACHE: dict[tuple[Any, ...], DeviceData] = {}
_DEVICE_LOCK = threading.Lock()


def _split(data: Dataset, val_fraction: float) -> tuple[np.ndarray, np.ndarray]:
    n = len(data.x_train)
    n_val = round(n * val_fraction)
    if val_fraction > 0 and not 1 <= n_val < n:
        raise UserError(f"val_fraction {val_fraction} leaves no validation or no training image of {n}")
    order = np.random.default_rng(SPLIT_SEED).permutation(n)
    return np.sort(order[n_val:]), np.sort(order[:n_val])


def device_data(config: TrainConfig, device: torch.device) -> DeviceData:
    """The config's dataset on ``device``; the last one is kept, as a search reuses it every evaluation."""
    key = (config.dataset, str(config.data_dir), str(device), config.val_fraction, config.crop_padding)
    with _DEVICE_LOCK:
        if key in _DEVICE_CACHE:
            return _DEVICE_CACHE[key]
        _DEVICE_CACHE.clear()
        data = load_dataset(config.dataset, config.data_dir, config.download)
        train_idx, val_idx = _split(data, config.val_fraction)
        x_train = data.x_train[train_idx]
        p = config.crop_padding
        # Pad once on the host: reflect padding for uint8 is not implemented by every torch backend.
        padded = np.pad(x_train, ((0, 0), (p, p), (p, p), (0, 0)), mode="reflect") if p else x_train
        stats = x_train.reshape(-1, 3).astype(np.float64)
        mean = torch.tensor(stats.mean(0), dtype=torch.float32).view(1, 3, 1, 1)
        std = torch.tensor(stats.std(0) + 1e-6, dtype=torch.float32).view(1, 3, 1, 1)

        def put(array: np.ndarray) -> torch.Tensor:
            return torch.tensor(array, device=device)  # a copy: the loaded arrays are read-only

        loaded = DeviceData(
            train_padded=put(padded),
            y_train=put(data.y_train[train_idx]),
            x_val=put(data.x_train[val_idx]),
            y_val=put(data.y_train[val_idx]),
            x_test=put(data.x_test),
            y_test=put(data.y_test),
            mean=mean.to(device),
            std=std.to(device),
            num_classes=data.num_classes,
            height=data.x_train.shape[1],
            width=data.x_train.shape[2],
            padding=p,
        )
        _DEVICE_CACHE[key] = loaded
        return loaded


def augmented_batch(data: DeviceData, idx: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Random crop (of the padded images) + random horizontal flip of images ``idx``, in one gather.

    Returns uint8 ``[b, h, w, 3]``; each row/column index is shifted by the crop offset and, for
    flipped images, mirrored, so no intermediate copy of the batch is made.
    """
    b, h, w, p = idx.numel(), data.height, data.width, data.padding
    dev = idx.device
    dy = torch.randint(0, 2 * p + 1, (b, 1), generator=generator, device=dev)
    dx = torch.randint(0, 2 * p + 1, (b, 1), generator=generator, device=dev)
    flip = torch.randint(0, 2, (b, 1), generator=generator, device=dev).bool()
    cols = torch.arange(w, device=dev).expand(b, w)
    cols = torch.where(flip, (w - 1) - cols, cols) + dx
    rows = torch.arange(h, device=dev).expand(b, h) + dy
    return data.train_padded[idx[:, None, None], rows[:, :, None], cols[:, None, :]]


def to_input(x: torch.Tensor, data: DeviceData, channels_last: bool) -> torch.Tensor:
    """uint8 NHWC -> normalised float32 NCHW (channels_last strides when asked: no copy then)."""
    x = x.permute(0, 3, 1, 2).float()
    x = (x - data.mean) / data.std
    return x if channels_last else x.contiguous()


# --- the loop --------------------------------------------------------------------------------------


@contextmanager
def _backend_flags(deterministic: bool, cuda: bool) -> Iterator[None]:
    """Set determinism / cudnn flags for one training and restore the process's settings after it."""
    saved = (
        torch.are_deterministic_algorithms_enabled(),
        torch.is_deterministic_algorithms_warn_only_enabled(),
        torch.backends.cudnn.deterministic,
        torch.backends.cudnn.benchmark,
    )
    try:
        if deterministic:
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
            torch.use_deterministic_algorithms(True, warn_only=True)
            torch.backends.cudnn.deterministic = True
            torch.backends.cudnn.benchmark = False
        elif cuda:
            torch.backends.cudnn.benchmark = True
        yield
    finally:
        torch.use_deterministic_algorithms(saved[0], warn_only=saved[1])
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = saved[2], saved[3]


class _Clock:
    """Elapsed time of device work: CUDA events on a GPU (read without extra syncs), perf_counter else."""

    def __init__(self, device: torch.device) -> None:
        self.cuda = device.type == "cuda"

    def mark(self) -> Any:
        if self.cuda:
            event = torch.cuda.Event(enable_timing=True)
            event.record()
            return event
        return time.perf_counter()

    def seconds(self, start: Any, end: Any) -> float:
        """Seconds between two marks; call after a sync that covers ``end``."""
        return float(start.elapsed_time(end)) / 1000.0 if self.cuda else float(end - start)


_INIT_LOCK = threading.Lock()


def _init_model(family: str, arch: Arch, num_classes: int, seed: int) -> nn.Module:
    # The initial weights come from the global CPU generator; fork it and hold a lock so concurrent
    # trainings in threads (LocalExecutor) neither disturb each other nor the caller's random state.
    with _INIT_LOCK, torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build_model(family, arch, num_classes)


def _optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.SGD:
    decay = [p for p in model.parameters() if p.ndim > 1]
    no_decay = [p for p in model.parameters() if p.ndim <= 1]
    groups = [
        {"params": decay, "weight_decay": config.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    return torch.optim.SGD(groups, lr=config.lr, momentum=config.momentum, nesterov=True)


def _lr_factor(total_steps: int, warmup_fraction: float) -> Callable[[int], float]:
    warmup = max(1, round(total_steps * warmup_fraction))

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup))

    return factor


def _should_compile(config: TrainConfig, device: torch.device) -> bool:
    if config.compile == "auto":
        return COMPILE_AUTO and device.type == "cuda"
    return bool(config.compile)


@torch.no_grad()
def _correct(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    data: DeviceData,
    config: TrainConfig,
    autocast: Callable[[], AbstractContextManager[Any]],
    channels_last: bool,
) -> torch.Tensor:
    """Number of correctly classified images, as a device tensor (no host sync)."""
    total = torch.zeros((), dtype=torch.int64, device=x.device)
    for start in range(0, len(x), config.eval_batch_size):
        batch = to_input(x[start : start + config.eval_batch_size], data, channels_last)
        with autocast():
            logits = model(batch)
        total += (logits.argmax(1) == y[start : start + config.eval_batch_size]).sum()
    return total


def train(family: str, arch: Arch, config: TrainConfig | None = None) -> TrainResult:
    """Train ``arch`` of ``family`` under ``config`` and return the evaluation with training details."""
    config = config or TrainConfig()
    arch = validate_arch(family, arch)
    wall_start = time.perf_counter()
    device = resolve_device(config.device)
    cuda = device.type == "cuda"
    data = device_data(config, device)
    notes: list[str] = []

    model = _init_model(family, arch, data.num_classes, config.seed)
    params = count_params(model)
    macs = count_macs(model, resolution=data.height) if data.height == data.width else None
    # channels_last is what cuDNN's bf16 tensor-core kernels want; on CPU its effect was mixed (faster for
    # some networks, slower for others on a 2-core box), so CPU keeps the default layout.
    channels_last = cuda
    model = model.to(device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]  # stub lacks it

    def autocast() -> AbstractContextManager[Any]:
        return torch.autocast("cuda", dtype=torch.bfloat16) if cuda else nullcontext()

    n_train = len(data.y_train)
    batch_size = min(config.batch_size, n_train)
    steps_per_epoch = n_train // batch_size  # drop the last partial batch: static shapes for compile
    total_steps = steps_per_epoch * config.epochs
    optimizer = _optimizer(model, config)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _lr_factor(total_steps, config.warmup_fraction))
    generator = torch.Generator(device=device)
    generator.manual_seed(config.seed)

    compiled = _should_compile(config, device)
    forward: Callable[[torch.Tensor], torch.Tensor] = model
    if compiled:
        try:
            forward = torch.compile(model)
        except Exception as exc:  # the compiler is optional machinery: never lose a run to it
            compiled, forward = False, model
            notes.append(f"torch.compile unavailable ({type(exc).__name__}: {exc}); ran eagerly")
            warnings.warn(notes[-1], RuntimeWarning, stacklevel=2)

    clock = _Clock(device)
    epoch_marks = []
    history: list[tuple[float, float]] = []
    with _backend_flags(config.deterministic, cuda):
        start_mark = clock.mark()
        model.train()
        for _epoch in range(config.epochs):
            order = torch.randperm(n_train, device=device, generator=generator)
            loss_sum = torch.zeros((), device=device)
            correct = torch.zeros((), dtype=torch.int64, device=device)
            for step in range(steps_per_epoch):
                check_stop()  # Ctrl-C / SIGTERM: stop within a step
                idx = order[step * batch_size : (step + 1) * batch_size]
                x = to_input(augmented_batch(data, idx, generator), data, channels_last)
                y = data.y_train[idx]
                while True:
                    try:
                        with autocast():
                            logits = forward(x)
                            loss = F.cross_entropy(logits, y, label_smoothing=config.label_smoothing)
                        optimizer.zero_grad(set_to_none=True)
                        loss.backward()
                        break
                    except Exception as exc:
                        if not compiled or forward is model:
                            raise
                        # A compiler failure surfaces at the first call: continue eagerly.
                        forward, compiled = model, False
                        notes.append(f"torch.compile failed ({type(exc).__name__}: {exc}); fell back to eager")
                        warnings.warn(notes[-1], RuntimeWarning, stacklevel=2)
                optimizer.step()
                scheduler.step()
                loss_sum += loss.detach().float() * len(idx)
                correct += (logits.detach().argmax(1) == y).sum()
            epoch_marks.append(clock.mark())
            # The one host sync of the epoch: read the epoch's metrics.
            loss_value, correct_value = torch.stack([loss_sum, correct.float()]).tolist()
            seen = steps_per_epoch * batch_size
            history.append((loss_value / seen, 100.0 * correct_value / seen))
            if not math.isfinite(loss_value):
                notes.append(f"training diverged (loss {loss_value}) in epoch {len(history)}; stopped there")
                break
        model.eval()
        counts = [
            _correct(model, data.x_val, data.y_val, data, config, autocast, channels_last),
            _correct(model, data.x_test, data.y_test, data, config, autocast, channels_last),
        ]
        val_correct, test_correct = torch.stack(counts).tolist()
    marks = [start_mark, *epoch_marks]
    epoch_s = [clock.seconds(a, b) for a, b in itertools.pairwise(marks)]

    test_accuracy = 100.0 * test_correct / len(data.y_test)
    accuracy = 100.0 * val_correct / len(data.y_val) if len(data.y_val) else test_accuracy
    evaluation = Evaluation(
        accuracy=accuracy,
        test_accuracy=test_accuracy,
        params=params,
        flops=macs,
        wall_s=time.perf_counter() - wall_start,
        source="train",
        device=str(device),
        epochs=len(history),
        dataset=config.dataset,
    )
    return TrainResult(
        evaluation=evaluation,
        device=str(device),
        compiled=compiled,
        steps=len(history) * steps_per_epoch,
        train_images=len(history) * steps_per_epoch * batch_size,
        train_s=sum(epoch_s),
        epoch_s=epoch_s,
        epoch_loss=[h[0] for h in history],
        epoch_train_accuracy=[h[1] for h in history],
        notes=notes,
    )


def train_and_evaluate(family: str, arch: Arch, config: TrainConfig | None = None) -> Evaluation:
    """Train ``arch`` and return its :class:`Evaluation` (``source="train"``, ``rank=None``).

    ``accuracy`` is the validation accuracy (%) on the held-out ``val_fraction`` of the training set
    (the test accuracy when ``val_fraction`` is 0), ``test_accuracy`` the test-set accuracy (%),
    ``params`` the parameter count, ``flops`` the multiply-accumulates per image (the benchmark tables'
    unit), ``wall_s`` the whole call's wall-clock time including data loading and compiling.
    """
    return train(family, arch, config).evaluation
