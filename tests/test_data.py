"""Benchmark file resolution and the pinned, verified download, against a real local HTTP server."""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tools.data import UPSTREAM, find_data_file, resolve_data_file, sha256_of
from tools.errors import DataFileError, UserError
from tools.spaces import get_space

DATA_DIR = os.environ.get("GENIUS_DATA_DIR")
if not DATA_DIR or not Path(DATA_DIR, "nas-bench-macro").is_dir():
    pytest.skip("GENIUS_DATA_DIR does not point at the benchmark tables", allow_module_level=True)
SOURCE = Path(DATA_DIR)

MACRO = "nas-bench-macro/nas-bench-macro_cifar10.json"
MOBILE = "channel-bench-macro/Results_MobileNet.json"  # served corrupted
RESNET = "channel-bench-macro/Results_ResNet.json"  # served truncated (connection drops mid-body)
CIFAR100 = "nas-bench-201/nasbench201_cifar100.json"  # not served at all (404)


@dataclass
class Server:
    url: str
    requests: list[str] = field(default_factory=list)


def _served_path(relative: str) -> str:
    up = UPSTREAM[relative]
    return f"/{up.repo}/{up.commit}/{up.path}"


class _Handler(http.server.SimpleHTTPRequestHandler):
    log: list[str]
    truncated: str

    def do_GET(self) -> None:
        self.log.append(self.path)
        if self.path == self.truncated:
            body = (SOURCE / RESNET).read_bytes()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[: len(body) // 2])  # then the connection closes early
            self.close_connection = True
            return
        super().do_GET()

    def log_message(self, format: str, *args: object) -> None:  # keep test output clean
        pass


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    """Serve copies of the real tables under GitHub-raw-like paths (one corrupted, one truncated)."""
    root = tmp_path / "www"
    for relative in (MACRO, MOBILE):
        target = root / _served_path(relative).lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(SOURCE / relative, target)
    corrupted = root / _served_path(MOBILE).lstrip("/")
    data = bytearray(corrupted.read_bytes())
    data[100] ^= 0x01  # one flipped bit, still the same size
    corrupted.write_bytes(bytes(data))
    log: list[str] = []
    handler = type("Handler", (_Handler,), {"log": log, "truncated": _served_path(RESNET)})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(handler, directory=str(root)))
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield Server(f"http://127.0.0.1:{httpd.server_address[1]}", log)
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty user cache; GENIUS_DATA_DIR unset so resolution falls through to cache and download."""
    monkeypatch.delenv("GENIUS_DATA_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    return tmp_path / "xdg" / "genius" / "benchmarks"


def _files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()) if root.exists() else []


def test_download_verifies_and_caches(server: Server, cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GENIUS_DATA_URL", server.url)
    assert find_data_file(MACRO) is None
    path = resolve_data_file(MACRO, None)
    assert path == (cache / MACRO).resolve()
    assert path.read_bytes() == (SOURCE / MACRO).read_bytes()
    assert sha256_of(path) == UPSTREAM[MACRO].sha256
    assert server.requests == [_served_path(MACRO)]
    assert _files(cache) == [MACRO]  # no temp file left beside it
    # second time: found in the cache, no request
    assert resolve_data_file(MACRO) == path
    assert len(server.requests) == 1
    # and the space reads it
    _arch, ev = get_space("nas_macro").optimum()
    assert round(ev.accuracy, 2) == 93.13 and ev.rank == 1
    assert len(server.requests) == 1


def test_space_downloads_lazily(server: Server, cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GENIUS_DATA_URL", server.url + "/")  # trailing slash tolerated
    space = get_space("nas_macro")
    assert not space.data_available() and server.requests == []
    assert space.lookup(space.parse("22221222")).rank == 8
    assert space.data_available() and len(server.requests) == 1
    assert space.lookup(space.parse("10100100")).paper_rank is None  # ranks.csv is never downloaded


def test_corrupted_download_is_refused(server: Server, cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GENIUS_DATA_URL", server.url)
    with pytest.raises(DataFileError) as info:
        resolve_data_file(MOBILE)
    msg = str(info.value)
    assert isinstance(info.value, UserError)
    assert MOBILE in msg
    assert server.url + _served_path(MOBILE) in msg
    assert UPSTREAM[MOBILE].sha256 in msg
    assert str((cache / MOBILE).resolve()) in msg and "GENIUS_DATA_DIR" in msg
    assert _files(cache) == []  # neither the bad file nor a temp file
    # the space surfaces the same error
    with pytest.raises(DataFileError, match="sha256"):
        get_space("channel_mobilenet").table()


def test_truncated_download_leaves_nothing(server: Server, cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GENIUS_DATA_URL", server.url)
    with pytest.raises(DataFileError, match=RESNET):
        resolve_data_file(RESNET)
    assert server.requests == [_served_path(RESNET)]
    assert _files(cache) == []


def test_missing_upstream_file(server: Server, cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GENIUS_DATA_URL", server.url)
    with pytest.raises(DataFileError, match="404") as info:
        resolve_data_file(CIFAR100)
    assert UPSTREAM[CIFAR100].sha256 in str(info.value)
    assert _files(cache) == []


def test_server_down(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as sock:  # a port nobody listens on once closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    monkeypatch.setenv("GENIUS_DATA_URL", url)
    with pytest.raises(DataFileError) as info:
        resolve_data_file(MACRO)
    msg = str(info.value)
    assert "could not download" in msg and url + _served_path(MACRO) in msg
    assert UPSTREAM[MACRO].sha256 in msg and "GENIUS_DATA_DIR" in msg
    assert _files(cache) == []


def test_search_order(tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    explicit, env = tmp_path / "explicit", tmp_path / "env"
    for root in (explicit, env, cache):
        (root / MACRO).parent.mkdir(parents=True)
    shutil.copy(SOURCE / MACRO, cache / MACRO)
    (env / MACRO).write_text("{}")  # user directories are trusted as they are
    monkeypatch.setenv("GENIUS_DATA_URL", "http://127.0.0.1:9")  # must not be used
    assert resolve_data_file(MACRO) == (cache / MACRO).resolve()
    monkeypatch.setenv("GENIUS_DATA_DIR", str(env))
    assert resolve_data_file(MACRO) == (env / MACRO).resolve()  # env wins over the cache
    assert resolve_data_file(MACRO, explicit) == (env / MACRO).resolve()  # explicit dir lacks it: fall through
    (explicit / MACRO).write_text("{}")
    assert resolve_data_file(MACRO, explicit) == (explicit / MACRO).resolve()  # explicit wins over env


def test_corrupted_cache_file_is_detected(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GENIUS_DATA_URL", "http://127.0.0.1:9")
    (cache / MACRO).parent.mkdir(parents=True)
    (cache / MACRO).write_text('{"22212220": {}}')
    with pytest.raises(DataFileError, match="corrupted") as info:
        resolve_data_file(MACRO)
    assert "delete it" in str(info.value) and UPSTREAM[MACRO].sha256 in str(info.value)


def test_derived_files_are_never_downloaded(server: Server, cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GENIUS_DATA_URL", server.url)
    with pytest.raises(DataFileError, match="no download source") as info:
        resolve_data_file("nas-bench-macro/ranks.csv")
    assert "GENIUS_DATA_DIR" in str(info.value)
    assert server.requests == []


def test_registry_matches_shared_files() -> None:
    for relative, upstream in UPSTREAM.items():
        assert sha256_of(SOURCE / relative) == upstream.sha256, relative
        assert upstream.url("https://example.org").startswith(f"https://example.org/{upstream.repo}/{upstream.commit}/")
        assert upstream.url().startswith(os.environ.get("GENIUS_DATA_URL", "https://raw.githubusercontent.com"))
