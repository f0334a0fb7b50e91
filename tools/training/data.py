"""Image-classification datasets as uint8 NHWC arrays: CIFAR-10/100 (torchvision's on-disk format) or a .npz.

- ``"cifar10"``: ``<data_dir>/cifar-10-batches-py/{data_batch_1..5,test_batch}``.
- ``"cifar100"``: ``<data_dir>/cifar-100-python/{train,test}`` (fine labels).
- a path to a ``.npz`` with ``x_train``, ``y_train``, ``x_test``, ``y_test`` (images uint8 NHWC, 3 channels).

These are the pickles torchvision's ``CIFAR10``/``CIFAR100`` datasets use, read here with pickle and
numpy (no torchvision dependency). When the CIFAR folder is absent and ``download`` is true the official
archive is fetched with the standard library, its MD5 checked, and unpacked; when that fails (offline)
:class:`DatasetMissingError` says where to put the files.
"""

from __future__ import annotations

import hashlib
import pickle
import shutil
import tarfile
import tempfile
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tools.errors import UserError

# name -> (url, md5, folder inside data_dir, train files, test files, label key)
CIFAR: dict[str, tuple[str, str, str, tuple[str, ...], tuple[str, ...], bytes]] = {
    "cifar10": (
        "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
        "c58f30108f718f92721af3b95e74349a",
        "cifar-10-batches-py",
        tuple(f"data_batch_{i}" for i in range(1, 6)),
        ("test_batch",),
        b"labels",
    ),
    "cifar100": (
        "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz",
        "eb9058c3a382ffc7106e4002c42a8d85",
        "cifar-100-python",
        ("train",),
        ("test",),
        b"fine_labels",
    ),
}
DOWNLOAD_TIMEOUT_S = 60.0


class DatasetMissingError(UserError):
    """The dataset is neither on disk nor downloadable; the message names the files and where they go."""


@dataclass(frozen=True)
class Dataset:
    """Train and test images (uint8, ``[n, h, w, 3]``) and labels (int64, ``[n]``)."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int
    name: str


def _read_pickle(path: Path) -> dict[bytes, object]:
    with path.open("rb") as f:
        data = pickle.load(f, encoding="bytes")
    if not isinstance(data, dict):
        raise DatasetMissingError(f"{path} is not a CIFAR batch file; delete it and place the original")
    return data


def _read_cifar_files(folder: Path, files: tuple[str, ...], label_key: bytes) -> tuple[np.ndarray, np.ndarray]:
    xs, ys = [], []
    for name in files:
        batch = _read_pickle(folder / name)
        # Each row is 3072 bytes: the red, green and blue 32x32 planes in turn.
        xs.append(np.asarray(batch[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
        ys.append(np.asarray(batch[label_key], dtype=np.int64))
    return np.ascontiguousarray(np.concatenate(xs)), np.concatenate(ys)


def write_cifar(
    data_dir: str | Path, name: str, x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, y_test: np.ndarray
) -> Path:
    """Write uint8 NHWC 32x32 images in torchvision's CIFAR pickle layout (for tests and custom copies)."""
    _, _, folder_name, train_files, test_files, label_key = CIFAR[name]
    folder = Path(data_dir) / folder_name
    folder.mkdir(parents=True, exist_ok=True)
    parts = [(train_files, x_train, y_train), (test_files, x_test, y_test)]
    for files, x, y in parts:
        for i, (xs, ys) in enumerate(zip(np.array_split(x, len(files)), np.array_split(y, len(files)), strict=True)):
            rows = xs.transpose(0, 3, 1, 2).reshape(len(xs), -1)
            with (folder / files[i]).open("wb") as f:
                pickle.dump({b"data": rows, label_key: [int(v) for v in ys]}, f)
    return folder


def _md5(path: Path) -> str:
    digest = hashlib.md5()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _download_cifar(name: str, data_dir: Path) -> None:
    url, md5, folder, *_ = CIFAR[name]
    data_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=data_dir) as tmp:
        archive = Path(tmp) / Path(url).name
        with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as response, archive.open("wb") as out:
            shutil.copyfileobj(response, out)
        if _md5(archive) != md5:
            raise DatasetMissingError(f"the download of {url} is corrupt (MD5 mismatch); try again")
        with tarfile.open(archive, "r:gz") as tar:
            tar.extractall(tmp, filter="data")
        # Move into place only once complete, so an interrupted download leaves nothing half-written.
        (Path(tmp) / folder).replace(data_dir / folder)


def _missing_message(name: str, data_dir: Path, reason: str) -> str:
    url, _, folder, train_files, test_files, _ = CIFAR[name]
    return (
        f"{name} is not in {data_dir / folder} ({reason}). Download {url} on a machine with internet, "
        f"unpack it into {data_dir} (giving {folder}/ with {', '.join(train_files + test_files)}), "
        f"or pass a .npz with x_train, y_train, x_test, y_test as the dataset"
    )


def _load_cifar(name: str, data_dir: Path, download: bool) -> Dataset:
    _, _, folder_name, train_files, test_files, label_key = CIFAR[name]
    folder = data_dir / folder_name
    if not all((folder / f).is_file() for f in train_files + test_files):
        if not download:
            raise DatasetMissingError(_missing_message(name, data_dir, "download disabled"))
        try:
            _download_cifar(name, data_dir)
        except (urllib.error.URLError, OSError, TimeoutError) as exc:
            raise DatasetMissingError(_missing_message(name, data_dir, f"download failed: {exc}")) from exc
    x_train, y_train = _read_cifar_files(folder, train_files, label_key)
    x_test, y_test = _read_cifar_files(folder, test_files, label_key)
    return Dataset(x_train, y_train, x_test, y_test, 10 if name == "cifar10" else 100, name)


def _load_npz(path: Path) -> Dataset:
    if not path.is_file():
        raise DatasetMissingError(f"dataset file {path} does not exist; pass 'cifar10', 'cifar100' or a .npz path")
    with np.load(path) as npz:
        missing = {"x_train", "y_train", "x_test", "y_test"} - set(npz.files)
        if missing:
            raise UserError(f"{path} lacks {sorted(missing)}; save x_train, y_train, x_test, y_test with np.savez")
        x_train, x_test = npz["x_train"], npz["x_test"]
        y_train, y_test = npz["y_train"].astype(np.int64), npz["y_test"].astype(np.int64)
    for label, x, y in (("train", x_train, y_train), ("test", x_test, y_test)):
        if x.dtype != np.uint8 or x.ndim != 4 or x.shape[3] != 3 or len(x) != len(y) or y.ndim != 1:
            raise UserError(
                f"{path}: x_{label} must be uint8 [n, h, w, 3] with n labels in y_{label}; "
                f"got x {x.dtype}{list(x.shape)}, y {list(y.shape)}"
            )
    if x_train.shape[1:] != x_test.shape[1:]:
        raise UserError(f"{path}: train and test images differ in size; resize them to one size")
    if min(y_train.min(), y_test.min()) < 0:
        raise UserError(f"{path}: labels must be 0..num_classes-1")
    num_classes = int(max(y_train.max(), y_test.max())) + 1
    return Dataset(x_train, y_train, x_test, y_test, num_classes, str(path))


_CACHE: dict[tuple[str, str], Dataset] = {}
_CACHE_LOCK = threading.Lock()


def load_dataset(dataset: str, data_dir: str | Path, download: bool = True) -> Dataset:
    """Load ``dataset`` ("cifar10", "cifar100" or a .npz path), once per process (a search trains many
    architectures on the same data)."""
    root = Path(data_dir).expanduser()
    key = (dataset, str(root.resolve()))
    with _CACHE_LOCK:
        if key not in _CACHE:
            if dataset in CIFAR:
                loaded = _load_cifar(dataset, root, download)
            elif dataset.endswith(".npz") or Path(dataset).expanduser().is_file():
                loaded = _load_npz(Path(dataset).expanduser())
            else:
                raise UserError(f"unknown dataset {dataset!r}; use 'cifar10', 'cifar100' or a path to a .npz")
            for array in (loaded.x_train, loaded.y_train, loaded.x_test, loaded.y_test):
                array.flags.writeable = False  # shared by every training in the process
            _CACHE.clear()  # keep one dataset: a process searches on one
            _CACHE[key] = loaded
        return _CACHE[key]
