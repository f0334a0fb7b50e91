"""Where the benchmark lookup tables live, and how a missing one is fetched.

A table is named by its path relative to a benchmark root, the same sub-path as under
``shared/benchmarks`` (e.g. ``nas-bench-macro/nas-bench-macro_cifar10.json``). It is looked up, in order:

1. the ``data_dir`` a caller passes explicitly (``--data-dir``);
2. the directory named by the environment variable ``GENIUS_DATA_DIR``;
3. the user cache, ``$XDG_CACHE_HOME/genius/benchmarks`` (default ``~/.cache/genius/benchmarks``).

The first directory that holds the file wins. If none does and the file is one of the upstream tables in
:data:`UPSTREAM`, it is downloaded from its pinned commit into the cache and its sha256 verified before it
is used; files in the cache are verified again when first resolved in a process, since the cache is ours
to keep sound. Files in the user's own directories are trusted as they are.

The ``ranks*.csv`` tables are derived by this project and have no upstream: they are optional and never
downloaded (:func:`find_data_file` finds them where present).
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from tools.errors import DataFileError

log = logging.getLogger(__name__)

ENV_DATA_DIR = "GENIUS_DATA_DIR"
ENV_DATA_URL = "GENIUS_DATA_URL"
DEFAULT_BASE_URL = "https://raw.githubusercontent.com"
DOWNLOAD_TIMEOUT_S = 60.0
_CHUNK = 1 << 16


@dataclass(frozen=True)
class UpstreamFile:
    """One benchmark table as published upstream, pinned to a commit."""

    repo: str  # "owner/name" on GitHub
    commit: str
    path: str  # path inside the repository
    sha256: str

    def url(self, base_url: str | None = None) -> str:
        """The raw-file URL; ``base_url`` (or env ``GENIUS_DATA_URL``) replaces the GitHub raw host."""
        base = (base_url or os.environ.get(ENV_DATA_URL) or DEFAULT_BASE_URL).rstrip("/")
        return f"{base}/{self.repo}/{self.commit}/{self.path}"


_MACRO = "xiusu/NAS-Bench-Macro", "61a2bfc2ca0dce04d0997e6cf498047c27d6acf2"
_CHANNEL = "xiusu/Channel-Bench-Macro", "4ff596e814cc88cc9add77ff83fc1a2f05ee1fef"
_GENIUS = "mingkai-zheng/GENIUS", "97361d30b2da337edd0c8e1ed71b7c88b4a85d38"

# relative path -> upstream source; commits and sha256 from shared/benchmarks/*/README.md.
UPSTREAM: dict[str, UpstreamFile] = {
    "nas-bench-macro/nas-bench-macro_cifar10.json": UpstreamFile(
        *_MACRO,
        "data/nas-bench-macro_cifar10.json",
        "686dee8363cc21cca8c1f321ad5749454f2d9b9ca5972682e137e539bc522297",
    ),
    "channel-bench-macro/Results_ResNet.json": UpstreamFile(
        *_CHANNEL, "Results_ResNet.json", "bf13bcaea3f2076f2c1bfbf5c2fee044aafe0385fae6a0d64c433b1d7f5a7520"
    ),
    "channel-bench-macro/Results_MobileNet.json": UpstreamFile(
        *_CHANNEL, "Results_MobileNet.json", "f640474d8ff3ff2231d0c45986bb0f10af291545316342fb009952e7641908e0"
    ),
    "nas-bench-201/nasbench201_cifar10.json": UpstreamFile(
        *_GENIUS,
        "benchmark/nasbench201_cifar10.json",
        "7c5d7d890a285deb41556f95e904fab854f8fcfd65da7eb39410fdedd87215ec",
    ),
    "nas-bench-201/nasbench201_cifar100.json": UpstreamFile(
        *_GENIUS,
        "benchmark/nasbench201_cifar100.json",
        "6b21a0e98864e0aff288fc54bb5105907441bfd63bb063ad3d279edcbf926da5",
    ),
    "nas-bench-201/nasbench201_imagenet.json": UpstreamFile(
        *_GENIUS,
        "benchmark/nasbench201_imagenet.json",
        "a29f63ca37b72cfa9a8e4ce6bad5d678c6039c9929c8060b7d32187f537d560f",
    ),
}

# Cache files already verified in this process: (path, size, mtime_ns) -> True.
_verified: set[tuple[str, int, int]] = set()


@dataclass(frozen=True)
class DataLocation:
    """The directories a lookup searches, fixed at one moment (env and cache dir read once)."""

    dirs: tuple[Path, ...]  # explicit data_dir, then GENIUS_DATA_DIR (only those that are set)
    cache: Path

    def candidates(self, relative_path: str) -> list[Path]:
        """Every place the file may be, in search order."""
        return [d / relative_path for d in (*self.dirs, self.cache)]


def cache_dir() -> Path:
    """The user cache for downloaded tables: ``$XDG_CACHE_HOME/genius/benchmarks``."""
    xdg = os.environ.get("XDG_CACHE_HOME")
    root = Path(xdg) if xdg else Path.home() / ".cache"
    return root / "genius" / "benchmarks"


def data_location(data_dir: str | Path | None = None) -> DataLocation:
    """Read the search order now: ``data_dir``, env ``GENIUS_DATA_DIR``, then the user cache."""
    dirs: list[Path] = []
    if data_dir is not None and str(data_dir) != "":
        dirs.append(Path(data_dir).expanduser().resolve())
    env = os.environ.get(ENV_DATA_DIR)
    if env:
        env_dir = Path(env).expanduser().resolve()
        if env_dir not in dirs:
            dirs.append(env_dir)
    return DataLocation(tuple(dirs), cache_dir().expanduser().resolve())


def _as_location(where: str | Path | DataLocation | None) -> DataLocation:
    return where if isinstance(where, DataLocation) else data_location(where)


def find_data_file(relative_path: str, data_dir: str | Path | DataLocation | None = None) -> Path | None:
    """The first existing copy of ``relative_path`` in the search order, or None. Never downloads."""
    for candidate in _as_location(data_dir).candidates(relative_path):
        if candidate.is_file():
            return candidate
    return None


def resolve_data_file(relative_path: str, data_dir: str | Path | DataLocation | None = None) -> Path:
    """Path to a usable copy of ``relative_path``, downloading an upstream table into the cache if needed.

    Raises :class:`DataFileError` when the file is nowhere and cannot be downloaded, or when a cached or
    downloaded copy fails its sha256 check; the message says where to put the file by hand.
    """
    location = _as_location(data_dir)
    found = find_data_file(relative_path, location)
    upstream = UPSTREAM.get(relative_path)
    cache_path = location.cache / relative_path
    if found is not None:
        if upstream is not None and found == cache_path:
            _verify_cached(relative_path, found, upstream)
        return found
    if upstream is None:
        looked = ", ".join(str(p) for p in location.candidates(relative_path))
        raise DataFileError(
            f"benchmark file {relative_path} not found (looked in: {looked}) and it has no download source; "
            f"put it under a directory and set {ENV_DATA_DIR} to that directory"
        )
    download(relative_path, cache_path, upstream)
    return cache_path


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _remedy(relative_path: str, cache_path: Path, upstream: UpstreamFile) -> str:
    return (
        f"expected sha256 {upstream.sha256}. To place it by hand, download {upstream.url()} "
        f"and put it at {cache_path}, or put it at <dir>/{relative_path} and set {ENV_DATA_DIR}=<dir>"
    )


def _verify_cached(relative_path: str, path: Path, upstream: UpstreamFile) -> None:
    stat = path.stat()
    stamp = (str(path), stat.st_size, stat.st_mtime_ns)
    if stamp in _verified:
        return
    actual = sha256_of(path)
    if actual != upstream.sha256:
        raise DataFileError(
            f"cached benchmark file {path} is corrupted (sha256 {actual}); delete it to download it again "
            f"from {upstream.url()}; " + _remedy(relative_path, path, upstream)
        )
    _verified.add(stamp)


def download(relative_path: str, dest: Path, upstream: UpstreamFile) -> None:
    """Fetch ``upstream`` to ``dest`` atomically: stream to a temp file beside it, verify, rename.

    Nothing is left at ``dest`` (nor any temp file) unless the bytes match the pinned sha256.
    """
    url = upstream.url()
    log.info("downloading benchmark table %s from %s", relative_path, url)
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataFileError(
            f"cannot create the cache directory {dest.parent} for {relative_path}: {exc}; "
            + _remedy(relative_path, dest, upstream)
        ) from exc
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    tmp = Path(tmp_name)
    try:
        digest = hashlib.sha256()
        try:
            with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as resp:
                for chunk in iter(lambda: resp.read(_CHUNK), b""):
                    digest.update(chunk)
                    out.write(chunk)
        except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as exc:
            raise DataFileError(
                f"could not download benchmark file {relative_path} from {url}: {exc}; "
                + _remedy(relative_path, dest, upstream)
            ) from exc
        actual = digest.hexdigest()
        if actual != upstream.sha256:
            raise DataFileError(
                f"downloaded benchmark file {relative_path} from {url} has sha256 {actual}, not the pinned one; "
                "nothing was kept; " + _remedy(relative_path, dest, upstream)
            )
        os.replace(tmp, dest)
        stat = dest.stat()
        _verified.add((str(dest), stat.st_size, stat.st_mtime_ns))
    finally:
        # Covers every failure path, including KeyboardInterrupt mid-stream.
        tmp.unlink(missing_ok=True)
