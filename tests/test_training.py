"""Training on CPU with a small, learnable synthetic dataset in CIFAR's on-disk format."""

from __future__ import annotations

import hashlib
import http.server
import pickle
import tarfile
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from tools.builders import arch_costs
from tools.errors import UserError
from tools.training import (
    DatasetMissingError,
    TrainConfig,
    TrainResult,
    load_dataset,
    resolve_device,
    train,
    train_and_evaluate,
    write_cifar,
)
from tools.training import data as data_module
from tools.training.trainer import augmented_batch, device_data

ALL_IDENTITY = (0,) * 8  # the smallest NAS-Bench-Macro network: 0.39 M params, 7.7 M MACs


def synthetic_images(n: int, seed: int, num_classes: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """32x32x3 uint8 images whose class shows in a colour and a stripe pattern, under heavy noise."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, num_classes, n)
    colours = np.random.default_rng(123).integers(40, 216, (num_classes, 3))
    yy, xx = np.mgrid[0:32, 0:32]
    images = np.empty((n, 32, 32, 3))
    for i, c in enumerate(labels):
        coord = yy if c >= num_classes // 2 else xx  # horizontal or vertical stripes ...
        stripes = np.sin(coord * (1 + c % 5) * 2 * np.pi / 32)[..., None] * 40  # ... of 5 frequencies
        images[i] = colours[c] + stripes + rng.normal(0, 30, (32, 32, 3))
    return np.clip(images, 0, 255).astype(np.uint8), labels


@pytest.fixture(scope="module")
def cifar_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("data")
    x_train, y_train = synthetic_images(800, seed=1)
    x_test, y_test = synthetic_images(300, seed=2)
    write_cifar(root, "cifar10", x_train, y_train, x_test, y_test)
    return root


def _config(data_dir: Path, **changes: object) -> TrainConfig:
    base = TrainConfig(
        dataset="cifar10", data_dir=str(data_dir), epochs=3, batch_size=64, lr=0.1, device="cpu",
        download=False, val_fraction=0.2, seed=0,
    )  # fmt: skip
    return replace(base, **changes)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def trained(cifar_dir: Path) -> TrainResult:
    return train("nas_macro", ALL_IDENTITY, _config(cifar_dir))


def test_short_cpu_training_beats_chance_on_held_out_data(trained: TrainResult) -> None:
    ev = trained.evaluation
    assert ev.source == "train" and ev.rank is None
    # Chance is 10 %: both the validation split (160 images) and the test set (300) are far above it.
    assert ev.accuracy > 40.0, ev
    assert ev.test_accuracy > 40.0, ev
    params, macs = arch_costs("nas_macro", [ALL_IDENTITY])
    assert (ev.params, ev.flops) == (int(params[0]), int(macs[0]))
    assert ev.wall_s is not None and ev.wall_s > 0
    assert trained.steps == 3 * (640 // 64) and trained.train_images == trained.steps * 64
    assert len(trained.epoch_loss) == 3 and trained.epoch_loss[-1] < trained.epoch_loss[0]
    assert not trained.compiled  # compile="auto" never compiles on CPU


def test_same_seed_gives_the_same_result(cifar_dir: Path, trained: TrainResult) -> None:
    again = train("nas_macro", ALL_IDENTITY, _config(cifar_dir, deterministic=True))
    assert (again.evaluation.accuracy, again.evaluation.test_accuracy) == (
        trained.evaluation.accuracy,
        trained.evaluation.test_accuracy,
    )
    assert again.epoch_loss == trained.epoch_loss
    assert not torch.are_deterministic_algorithms_enabled()  # the flag was restored


def test_train_and_evaluate_other_families_run(cifar_dir: Path) -> None:
    ev = train_and_evaluate("nb201", (1, 0, 4, 1, 0, 4), _config(cifar_dir, epochs=1, val_fraction=0.0))
    assert ev.accuracy == ev.test_accuracy  # without a validation split the search metric is the test one
    assert ev.params == 73_306


def test_augmentation_is_a_crop_or_mirrored_crop(cifar_dir: Path) -> None:
    data = device_data(_config(cifar_dir), torch.device("cpu"))
    gen = torch.Generator().manual_seed(3)
    idx = torch.arange(16)
    out = augmented_batch(data, idx, gen)
    assert out.shape == (16, 32, 32, 3) and out.dtype == torch.uint8
    p = data.padding
    for i in range(16):
        padded = data.train_padded[i]
        windows = [padded[dy : dy + 32, dx : dx + 32] for dy in range(2 * p + 1) for dx in range(2 * p + 1)]
        assert any(torch.equal(out[i], w) or torch.equal(out[i], w.flip(1)) for w in windows)
    # the centre window of the padded data is the original image
    original = load_dataset("cifar10", cifar_dir).x_train
    assert any(np.array_equal(data.train_padded[0, p:-p, p:-p].numpy(), img) for img in original)


def test_torchvision_pickle_layout_round_trip(tmp_path: Path) -> None:
    """A batch written by hand in torchvision's layout (rows = R plane, G plane, B plane) reads back as
    NHWC, for CIFAR-10 (``labels``) and CIFAR-100 (``fine_labels``)."""
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (6, 32, 32, 3), dtype=np.uint8)
    labels = [3, 1, 4, 1, 5, 9]
    rows = np.stack([np.concatenate([img[:, :, ch].ravel() for ch in range(3)]) for img in images])
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    for name in [*(f"data_batch_{i}" for i in range(1, 6)), "test_batch"]:
        with (folder / name).open("wb") as f:
            pickle.dump({b"data": rows, b"labels": labels, b"batch_label": b"x"}, f)
    loaded = load_dataset("cifar10", tmp_path, download=False)
    assert loaded.x_train.shape == (30, 32, 32, 3) and loaded.num_classes == 10
    np.testing.assert_array_equal(loaded.x_train[:6], images)
    np.testing.assert_array_equal(loaded.y_test, labels)

    write_cifar(tmp_path / "c100", "cifar100", images, np.array(labels), images[:2], np.array([99, 0]))
    c100 = load_dataset("cifar100", tmp_path / "c100", download=False)
    assert c100.num_classes == 100
    np.testing.assert_array_equal(c100.x_test, images[:2])
    np.testing.assert_array_equal(c100.y_test, [99, 0])


def test_npz_dataset(tmp_path: Path) -> None:
    x, y = synthetic_images(40, seed=5, num_classes=4)
    path = tmp_path / "mine.npz"
    np.savez(path, x_train=x[:30], y_train=y[:30], x_test=x[30:], y_test=y[30:])
    loaded = load_dataset(str(path), tmp_path)
    assert loaded.num_classes <= 4 and loaded.x_test.shape == (10, 32, 32, 3)
    np.savez(tmp_path / "bad.npz", x_train=x.astype(np.float32), y_train=y, x_test=x, y_test=y)
    with pytest.raises(UserError, match="uint8"):
        load_dataset(str(tmp_path / "bad.npz"), tmp_path)


def test_missing_dataset_names_where_to_put_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(DatasetMissingError) as info:
        load_dataset("cifar10", tmp_path / "nowhere", download=False)
    message = str(info.value)
    assert "cifar-10-batches-py" in message and "data_batch_1" in message and "nowhere" in message
    # Offline: the download fails fast (nothing listens on port 9) and the error says the same.
    entry = data_module.CIFAR["cifar10"]
    monkeypatch.setitem(data_module.CIFAR, "cifar10", ("http://127.0.0.1:9/cifar-10-python.tar.gz", *entry[1:]))
    with pytest.raises(DatasetMissingError, match="download failed"):
        train_and_evaluate("nas_macro", ALL_IDENTITY, _config(tmp_path / "offline", download=True))
    with pytest.raises(UserError, match="unknown dataset"):
        load_dataset("imagenet", tmp_path)


@pytest.fixture
def archive_server(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """A local HTTP server serving a CIFAR-10-style archive; yields (url, md5)."""
    x, y = synthetic_images(12, seed=4)
    write_cifar(tmp_path / "src", "cifar10", x, y, x[:4], y[:4])
    archive = tmp_path / "serve" / "cifar-10-python.tar.gz"
    archive.parent.mkdir()
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(tmp_path / "src" / "cifar-10-batches-py", arcname="cifar-10-batches-py")
    md5 = hashlib.md5(archive.read_bytes()).hexdigest()

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, directory=str(archive.parent), **kwargs)  # type: ignore[arg-type]

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/cifar-10-python.tar.gz", md5
    finally:
        server.shutdown()


def test_download_checks_md5_and_unpacks(
    tmp_path: Path, archive_server: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, md5 = archive_server
    entry = data_module.CIFAR["cifar10"]
    monkeypatch.setitem(data_module.CIFAR, "cifar10", (url, "0" * 32, *entry[2:]))
    with pytest.raises(DatasetMissingError, match="MD5"):
        load_dataset("cifar10", tmp_path / "bad")
    assert not (tmp_path / "bad" / "cifar-10-batches-py").exists()
    monkeypatch.setitem(data_module.CIFAR, "cifar10", (url, md5, *entry[2:]))
    loaded = load_dataset("cifar10", tmp_path / "good")
    assert loaded.x_train.shape == (12, 32, 32, 3)
    assert (tmp_path / "good" / "cifar-10-batches-py" / "test_batch").is_file()


def test_config_validation_and_json_round_trip() -> None:
    config = TrainConfig(epochs=2, compile=False, device="cpu")
    assert TrainConfig.from_json(config.to_json()) == config
    with pytest.raises(UserError, match="val_fraction"):
        TrainConfig(val_fraction=1.0)
    with pytest.raises(UserError, match="device"):
        TrainConfig(device="tpu")
    if not torch.cuda.is_available():
        with pytest.raises(UserError, match="CUDA is not available"):
            resolve_device("cuda")


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_gpu_training_bf16_channels_last_beats_chance(cifar_dir: Path) -> None:
    result = train("channel_mobilenet", (32, 192, 192, 192, 64, 384, 256), _config(cifar_dir, device="cuda"))
    assert result.device.startswith("cuda")
    assert result.evaluation.test_accuracy > 40.0, result
    compiled = train("nas_macro", ALL_IDENTITY, _config(cifar_dir, device="cuda", compile=True, deterministic=True))
    assert compiled.evaluation.test_accuracy > 40.0, compiled  # compiled, or fell back with a note
