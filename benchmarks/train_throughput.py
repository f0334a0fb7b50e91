"""Print training throughput (images/s) of our trainer against a plain eager PyTorch loop.

Usage: ``python benchmarks/train_throughput.py [--device cpu|cuda|auto] [--quick] [--no-compile]
[--families nas_macro,nb201]`` (not a test: figures are printed, not asserted).

For one typical architecture of each family, on the same synthetic CIFAR-shaped data (random uint8
32x32x3 images, so no dataset is needed) and the same batch size and number of steps:

- ``plain``: fp32, NCHW, eager; the data stays on the host, each batch is gathered and augmented there
  (the same crop+flip gather as ours) and copied to the device; the loss is read back every step, as a
  logging loop does.
- ``ours``: :func:`tools.training.train`: the dataset resident on the device, augmentation batched
  there, bf16 autocast and channels_last on CUDA, one host sync per epoch; ``ours+compile`` adds
  ``torch.compile`` (CUDA only; a compile failure falls back to eager and is reported).

The first epoch of every run is a warm-up (cuDNN autotuning, compilation) and is excluded; its duration
is printed separately. images/s is that of the fastest later epoch, which is the figure least disturbed
by other work on the machine. Expected run time: about 1-2 minutes on a 2-core CPU
(``--quick`` about half), about 3-4 minutes on one recent GPU with compilation (``--quick`` about 2).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import torch
import torch.nn.functional as F

from tools.builders import arch_costs, build_model
from tools.errors import UserError
from tools.training import TrainConfig, resolve_device, train
from tools.training.trainer import augmented_batch, device_data, to_input

TYPICAL: dict[str, tuple[int, ...]] = {
    "nas_macro": (1, 2, 1, 2, 1, 2, 1, 2),
    "channel_resnet": (128, 128, 128, 256, 256, 256, 256),
    "channel_mobilenet": (64, 384, 384, 384, 128, 768, 512),
    "nb201": (3, 3, 3, 1, 3, 3),
}


def write_synthetic(folder: Path, n_train: int, n_test: int) -> Path:
    rng = np.random.default_rng(0)
    path = folder / "synthetic.npz"
    np.savez(
        path,
        x_train=rng.integers(0, 256, (n_train, 32, 32, 3), dtype=np.uint8),
        y_train=rng.integers(0, 10, n_train),
        x_test=rng.integers(0, 256, (n_test, 32, 32, 3), dtype=np.uint8),
        y_test=rng.integers(0, 10, n_test),
    )
    return path


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def plain_loop(family: str, arch: tuple[int, ...], config: TrainConfig, device: torch.device) -> tuple[float, float]:
    """(warm-up epoch seconds, steady images/s) of the plain eager fp32 loop with host-side data."""
    host = device_data(config, torch.device("cpu"))
    torch.manual_seed(config.seed)
    model = build_model(family, arch).to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True, weight_decay=5e-4)
    generator = torch.Generator().manual_seed(config.seed)
    n, batch = len(host.y_train), config.batch_size
    steps = n // batch
    epoch_s = []
    for _epoch in range(config.epochs):
        sync(device)
        start = time.perf_counter()
        order = torch.randperm(n, generator=generator)
        for step in range(steps):
            idx = order[step * batch : (step + 1) * batch]
            x = to_input(augmented_batch(host, idx, generator), host, channels_last=False).to(device)
            y = host.y_train[idx].to(device)
            loss = F.cross_entropy(model(x), y, label_smoothing=config.label_smoothing)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            loss.item()  # a logging loop reads the loss every step: a host sync
        sync(device)
        epoch_s.append(time.perf_counter() - start)
    return epoch_s[0], steps * batch / min(epoch_s[1:])


def ours(family: str, arch: tuple[int, ...], config: TrainConfig) -> tuple[float, float, str]:
    result = train(family, arch, config)
    per_epoch = result.train_images / len(result.epoch_s)
    note = "; ".join(result.notes) if result.notes else ("compiled" if result.compiled else "")
    return result.epoch_s[0], per_epoch / min(result.epoch_s[1:]), note


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="auto", help="cpu, cuda or auto (default)")
    parser.add_argument("--quick", action="store_true", help="fewer images per epoch")
    parser.add_argument("--no-compile", action="store_true", help="skip the torch.compile variant on CUDA")
    parser.add_argument("--families", default=",".join(TYPICAL), help="comma-separated subset")
    args = parser.parse_args()
    try:
        device = resolve_device(args.device)
    except UserError as exc:
        sys.exit(str(exc))
    cuda = device.type == "cuda"
    if cuda:
        n_train, batch, epochs = (10240, 512, 2) if args.quick else (25600, 512, 3)
    else:
        n_train, batch, epochs = (96, 32, 2) if args.quick else (192, 32, 3)
    families = [f for f in args.families.split(",") if f]
    name = torch.cuda.get_device_name(device) if cuda else f"CPU, {torch.get_num_threads()} threads"
    print(f"torch {torch.__version__} on {name}; {n_train} images/epoch, batch {batch}, {epochs} epochs "
          f"(first = warm-up; img/s = best later epoch)")  # fmt: skip
    header = (
        f"{'family':18} {'params':>9} {'MMACs':>7} {'variant':13} {'warm-up s':>9} {'img/s':>9} {'x plain':>7}  note"
    )
    print(header)
    print("-" * len(header))
    with tempfile.TemporaryDirectory() as tmp:
        data = write_synthetic(Path(tmp), n_train, 1000)
        base = TrainConfig(
            dataset=str(data), epochs=epochs, batch_size=batch, lr=0.05, val_fraction=0.0, device=str(device),
            compile=False, download=False, eval_batch_size=500,
        )  # fmt: skip
        variants = [("ours", False)] + ([("ours+compile", True)] if cuda and not args.no_compile else [])
        for family in families:
            arch = TYPICAL[family]
            params, macs = (int(v[0]) for v in arch_costs(family, [arch]))
            prefix = f"{family:18} {params:>9,} {macs / 1e6:>7.1f}"
            try:
                warm, plain_rate = plain_loop(family, arch, base, device)
                print(f"{prefix} {'plain fp32':13} {warm:>9.2f} {plain_rate:>9.0f} {1.0:>7.2f}", flush=True)
            except Exception as exc:  # a benchmark reports what it could measure
                plain_rate = float("nan")
                print(f"{prefix} {'plain fp32':13} failed: {type(exc).__name__}: {exc}", flush=True)
            for label, compiled in variants:
                try:
                    warm, rate, note = ours(family, arch, TrainConfig(**{**base.to_json(), "compile": compiled}))
                    print(
                        f"{prefix} {label:13} {warm:>9.2f} {rate:>9.0f} {rate / plain_rate:>7.2f}  {note}", flush=True
                    )
                except Exception as exc:
                    print(f"{prefix} {label:13} failed: {type(exc).__name__}: {exc}", flush=True)
    if cuda:
        print("ours = device-resident uint8 data, on-device crop+flip, bf16 autocast, channels_last, 1 sync/epoch")
    else:
        print("ours on CPU = fp32, the same loop without per-step syncs; the GPU-specific gains do not apply")


if __name__ == "__main__":
    main()
