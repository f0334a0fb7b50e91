"""llama.cpp's server built for this CPU: which build serves, how it is started, reached and stopped.

The binary lies outside the process, so most tests start ``tests/fake_llama_server.py`` in its place (same
command line, same endpoints); the last one runs the real build where ``build-llama-server`` has made one.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agent.llm import LLMClient, LLMSettings, embedded, parse_llm_spec
from agent.llm.native_server import (
    BINARY_NAME,
    CMAKE_ARGS,
    MANIFEST_NAME,
    SOURCE_VERSION,
    NativeProcess,
    NativeServerError,
    build,
    build_would_help,
    cpu_signature,
    find_build,
    native_root,
    outdated_build,
    reason_not_to_build,
)
from agent.llm.native_server import _check_model as check_model
from agent.llm.native_server import _check_serves as check_serves
from tests.test_llm_embedded import requires_smollm2
from tools.errors import UserError

ROOT = Path(__file__).resolve().parents[1]
FAKE = Path(__file__).with_name("fake_llama_server.py")


def _install_fake_build(cache: Path) -> Path:
    folder = cache / "genius" / "llama-server" / cpu_signature()
    binary = _fake_binary(folder)
    (folder / MANIFEST_NAME).write_text(json.dumps({"cpu_signature": cpu_signature(),
                                                    "source_version": SOURCE_VERSION,
                                                    "cmake_args": list(CMAKE_ARGS)}))
    return binary


def _fake_binary(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    binary = folder / BINARY_NAME
    binary.write_text(f"#!{sys.executable}\n{FAKE.read_text()}")
    binary.chmod(0o755)
    return binary


def _gone(pid: int, within_s: float = 10.0) -> bool:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


def _tools_on_path(tmp_path: Path) -> Path:
    """A PATH holding stand-ins for cmake and a C++ compiler, so that a build gets as far as fetching its source."""
    tools = tmp_path / "bin"
    tools.mkdir()
    for name in ("cmake", "c++"):
        (tools / name).write_text("#!/bin/sh\nexit 0\n")
        (tools / name).chmod(0o755)
    return tools


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture
def gguf(tmp_path: Path) -> Path:
    path = tmp_path / "model.gguf"  # the stand-in never reads it; the real server would
    path.write_bytes(b"GGUF")
    return path


def test_a_build_serves_only_the_cpu_it_was_built_for(cache: Path) -> None:
    assert find_build() is None
    binary = _install_fake_build(cache)
    found = find_build()
    assert found is not None and found.binary == binary and native_root() == binary.parent.parent

    manifest = binary.parent / MANIFEST_NAME
    manifest.write_text(json.dumps({"cpu_signature": "another-cpu"}))
    assert find_build() is None, "a build for another CPU must not run here (SIGILL)"
    manifest.write_text("{not json")
    assert find_build() is None
    manifest.write_text(json.dumps({"cpu_signature": cpu_signature(), "cmake_args": list(CMAKE_ARGS)}))
    assert find_build() is not None
    assert outdated_build() is None
    manifest.write_text(json.dumps({"cpu_signature": cpu_signature(), "cmake_args": list(CMAKE_ARGS[:2])}))
    assert find_build() is None, "a build made by another recipe (e.g. with the AMX kernels) is not used"
    old = outdated_build()
    assert old is not None and old.binary == binary
    with pytest.raises(UserError) as caught:  # and asking for it says why it is not used, and what to run
        embedded.resolve_runtime("native")
    assert str(binary) in str(caught.value) and "earlier recipe" in str(caught.value)
    assert "python run_agent.py build-llama-server" in str(caught.value)
    manifest.write_text(json.dumps({"cpu_signature": cpu_signature(), "cmake_args": list(CMAKE_ARGS)}))
    binary.chmod(0o644)
    assert find_build() is None, "a binary that cannot be executed is no build"


async def test_the_embedded_model_runs_on_the_build_with_the_in_process_settings(
        cache: Path, gguf: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    binary = _install_fake_build(cache)
    for n in range(12):  # logs of earlier starts: the oldest go, so that at most ten are kept
        old = binary.parent / f"server-{n}-1.log"
        old.write_text("old")
        os.utime(old, (n, n))
    monkeypatch.setenv("FAKE_LLAMA_PIDFILE", str(tmp_path / "pid"))
    monkeypatch.setenv("FAKE_LLAMA_ARGV", str(tmp_path / "argv"))
    monkeypatch.setenv("FAKE_LLAMA_REPLY", "[1, 2]")
    client = await LLMClient.open(parse_llm_spec(f"embedded:{gguf}"), LLMSettings(max_concurrency=2))
    try:
        assert client.embedded_server is not None and "built for this CPU" in client.embedded_server
        reply = await client.chat([{"role": "user", "content": "two numbers"}], trial=0, max_tokens=8)
        assert reply.content == "[1, 2]" and reply.prompt_tokens == 7
        argv = json.loads((tmp_path / "argv").read_text())
        flags = dict(zip(argv[::2], argv[1::2], strict=False))
        assert flags["-m"] == str(gguf.resolve()) and flags["--host"] == "127.0.0.1"
        assert flags["-np"] == "2" and flags["-c"] == str(2 * embedded.CTX_PER_SLOT)
        assert "--jinja" in argv
        logs = sorted(p.name for p in binary.parent.glob("server-*.log"))
        assert len(logs) == 10 and f"server-{os.getpid()}-{flags['--port']}.log" in logs
        assert "server-0-1.log" not in logs and "server-11-1.log" in logs
    finally:
        await client.aclose()
    server = next(s for s in embedded.loaded_servers() if s.path == gguf.resolve())
    pid = int((tmp_path / "pid").read_text())
    embedded.release(server)
    assert _gone(pid), "stopping the embedded model must stop the server process"
    assert server not in embedded.loaded_servers()


async def test_the_wheel_is_used_when_asked_or_when_nothing_is_built(cache: Path, gguf: Path) -> None:
    assert embedded.resolve_runtime("auto") is None
    with pytest.raises(UserError, match="build-llama-server"):
        embedded.resolve_runtime("native")
    _install_fake_build(cache)
    assert embedded.resolve_runtime("wheel") is None
    assert embedded.resolve_runtime("auto") is not None
    with pytest.raises(UserError, match="--embedded-runtime must be one of"):
        embedded.resolve_runtime("gpu")


def test_the_server_dies_with_a_process_killed_by_sigkill(cache: Path, gguf: Path, tmp_path: Path) -> None:
    _install_fake_build(cache)
    pidfile = tmp_path / "pid"
    owner_code = ("import sys, time; from pathlib import Path; from agent.llm import native_server as n; "
                  "n.start(n.find_build(), Path(sys.argv[1]), slots=1, ctx_per_slot=8192, threads=1); "
                  "print('up', flush=True); time.sleep(600)")
    env = {**os.environ, "FAKE_LLAMA_PIDFILE": str(pidfile)}
    owner = subprocess.Popen([sys.executable, "-c", owner_code, str(gguf)], cwd=ROOT, env=env,
                             stdout=subprocess.PIPE, text=True)
    try:
        assert owner.stdout is not None and owner.stdout.readline().strip() == "up"
        pid = int(pidfile.read_text())
        os.kill(pid, 0)  # serving
        owner.send_signal(signal.SIGKILL)
        owner.wait()
        assert _gone(pid), "the server outlived the process that started it"
    finally:
        owner.kill()


def test_a_server_that_stops_while_loading_is_reported_with_its_log(
        cache: Path, gguf: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _install_fake_build(cache)
    monkeypatch.setenv("FAKE_LLAMA_EXIT", "1")
    with pytest.raises(NativeServerError) as caught:
        embedded.get_server(gguf, 1, "native")
    message = str(caught.value)
    assert "failed to read the model" in message and "/server-" in message
    assert "--embedded-runtime wheel" in message


@pytest.mark.embedded
@requires_smollm2
def test_a_build_that_does_not_start_leaves_auto_on_the_wheel(
        cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from agent.llm.bundled import ensure_bundled

    model = ensure_bundled("smollm2")
    _install_fake_build(cache)
    monkeypatch.setenv("FAKE_LLAMA_EXIT", "1")
    server = embedded.get_server(model, 1, "auto")
    assert server.runtime == "xllamacpp wheel, in process" and not isinstance(server.handle, NativeProcess)
    with pytest.raises(NativeServerError):
        embedded.get_server(model, 1, "native")


def test_a_search_asked_to_run_on_a_missing_build_names_the_command_that_builds_it(
        cache: Path, gguf: Path, tmp_path: Path) -> None:
    db = tmp_path / "runs.sqlite"
    done = subprocess.run(
        [sys.executable, "run_agent.py", "--space", "nas_macro", "--llm", f"embedded:{gguf}", "--trials", "1",
         "--iterations", "1", "--embedded-runtime", "native", "--db", str(db)],
        cwd=ROOT, capture_output=True, text=True, env={**os.environ, "XDG_CACHE_HOME": str(cache)}, timeout=120)
    assert done.returncode == 2, done.stderr
    assert "python run_agent.py build-llama-server" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.embedded
@requires_smollm2
def test_a_search_on_the_wheel_says_when_a_build_would_read_faster(cache: Path, tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "run_agent.py", "--space", "nas_macro", "--llm", "embedded:smollm2", "--mode", "paper",
         "--trials", "1", "--iterations", "1", "--db", str(tmp_path / "runs.sqlite")],
        cwd=ROOT, capture_output=True, text=True, env={**os.environ, "XDG_CACHE_HOME": str(cache)}, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "model served by xllamacpp wheel, in process" in done.stdout
    # the hint names the command exactly where the cores have what the wheel leaves unused
    assert ("python run_agent.py build-llama-server" in done.stdout) is build_would_help()


def test_building_without_cmake_names_the_remedy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(UserError, match="pip install cmake"):
        build(root=tmp_path / "root", say=lambda _: None)
    assert not (tmp_path / "root").exists(), "a refused build leaves nothing behind"


def test_a_build_whose_source_cannot_be_fetched_says_so_and_installs_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(_tools_on_path(tmp_path)))
    # pip with no index at all: the fetch fails as it does on a machine cut off from PyPI
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    root = tmp_path / "root"
    with pytest.raises(UserError) as caught:
        build(root=root, say=lambda _: None)
    message = str(caught.value)
    assert "fetching the source with pip failed" in message and "pip must reach PyPI" in message
    assert str(root) in message, "the message names the build's log"
    assert [p.name for p in root.iterdir()] == [f"build-{cpu_signature()}.log"], "only the log is left"
    assert find_build(root) is None


def test_a_build_is_worth_making_only_on_avx512_cores_with_none_yet_and_the_tools_to_make_it(
        cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(_tools_on_path(tmp_path)))
    assert reason_not_to_build(would_help=True) is None
    assert "no AVX-512" in (reason_not_to_build(would_help=False) or "")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert "pip install cmake" in (reason_not_to_build(would_help=True) or "")
    binary = _install_fake_build(cache)
    for would_help in (True, False):  # a build for this CPU is never made twice by --if-useful
        assert str(binary) in (reason_not_to_build(would_help=would_help) or "")


def test_on_x86_the_build_leaves_out_the_amx_kernels_that_crash_this_llama_cpp() -> None:
    flags = [arg for arg in CMAKE_ARGS if arg.startswith(("-DCMAKE_C_FLAGS=", "-DCMAKE_CXX_FLAGS="))]
    if platform.machine().lower() not in ("x86_64", "amd64"):
        assert flags == [], "GCC on other machines knows no -mno-amx-* flags"
        return
    assert len(flags) == 2
    for arg in flags:
        assert set(arg.split("=", 1)[1].split()) == {"-mno-amx-tile", "-mno-amx-int8", "-mno-amx-bf16"}
    if shutil.which("g++") is not None:  # with them, -march=native defines no AMX macro, whatever this CPU has
        macros = subprocess.run(["g++", "-march=native", *flags[1].split("=", 1)[1].split(), "-dM", "-E", "-x",
                                 "c++", os.devnull], capture_output=True, text=True, check=True).stdout
        assert "__AMX_INT8__" not in macros and "__AMX_TILE__" not in macros


def _check(binary: Path, log_path: Path) -> list[str]:
    said: list[str] = []
    with log_path.open("w") as log:
        check_serves(binary, check_model(), 1, log, log_path, said.append)
    return said


@pytest.mark.embedded
@requires_smollm2
def test_a_build_is_installed_only_once_it_has_loaded_a_model_and_answered(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # the real cache: the check takes the installed embedded model from where the search takes it
    binary = _fake_binary(tmp_path / "build" / "bin")
    log_path = tmp_path / "build.log"
    said = _check(binary, log_path)
    assert any("checking that it loads" in line for line in said)
    assert "--- server-" in log_path.read_text(), "the server's output is kept in the build log"

    monkeypatch.setenv("FAKE_LLAMA_CRASH", "1")  # compiles, loads, then dies at its first prompt (AMX, SIGSEGV)
    with pytest.raises(UserError) as caught:
        _check(binary, log_path)
    message = str(caught.value)
    assert "does not serve" in message and "exit status 139" in message and "answering a first prompt" in message
    assert str(log_path) in message and "Segmentation fault" in log_path.read_text()

    monkeypatch.delenv("FAKE_LLAMA_CRASH")
    monkeypatch.setenv("FAKE_LLAMA_EXIT", "1")
    with pytest.raises(UserError, match=r"stopped while loading the model: .*failed to read the model"):
        _check(binary, log_path)


def test_a_broken_model_install_stops_a_build_before_it_compiles_and_names_the_reinstall(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from agent.llm import bundled
    from tests.test_llm_bundled import fake_model

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("PATH", str(_tools_on_path(tmp_path)))
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("PIP_NO_INDEX", "1")  # were the source fetched first, this would fail at the fetch instead
    broken = fake_model(name="broken", sha256="0" * 64)
    monkeypatch.setattr(bundled, "BUNDLED_MODELS", {"broken": broken})
    root = tmp_path / "root"
    with pytest.raises(UserError) as caught:  # a UserError: --if-useful reports it and the README's line goes on
        build(root=root, say=lambda _: None)
    assert "--force-reinstall" in str(caught.value) and "fetching" not in str(caught.value)
    assert find_build(root) is None

    # a broken model is skipped where another installed one can check the build
    healthy = fake_model(name="healthy")
    monkeypatch.setattr(bundled, "BUNDLED_MODELS", {"broken": broken, "healthy": healthy})
    assert check_model() == bundled.ensure_model(healthy)
    monkeypatch.setattr(bundled, "BUNDLED_MODELS", {})
    assert check_model() is None
    said: list[str] = []  # with none installed the build is installed unchecked, and says so
    with (tmp_path / "build.log").open("w") as log:
        check_serves(tmp_path / "never-started", None, 1, log, tmp_path / "build.log", said.append)
    assert len(said) == 1 and said[0].startswith("not checked against a model")


def _build_if_useful(cache: Path, path: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "XDG_CACHE_HOME": str(cache), "PATH": str(path), "PIP_CONFIG_FILE": os.devnull,
           "PIP_NO_INDEX": "1"}
    return subprocess.run([sys.executable, "run_agent.py", "build-llama-server", "--if-useful"], cwd=ROOT,
                          capture_output=True, text=True, env=env, timeout=300)


def test_build_if_useful_leaves_an_existing_build_alone(cache: Path, tmp_path: Path) -> None:
    binary = _install_fake_build(cache)
    before = binary.read_bytes(), binary.stat().st_mtime_ns
    done = _build_if_useful(cache, _tools_on_path(tmp_path))
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("nothing to build:") and str(binary) in done.stdout
    assert (binary.read_bytes(), binary.stat().st_mtime_ns) == before


def test_build_if_useful_that_cannot_build_says_why_and_lets_the_search_go_on(cache: Path, tmp_path: Path) -> None:
    # cmake and a compiler are "here", PyPI is not: on AVX-512 cores the build is tried and fails at the fetch; on
    # others it is not tried. Either way the exit status is 0, so the README's install line goes on to the search.
    done = _build_if_useful(cache, _tools_on_path(tmp_path))
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    if build_would_help():
        assert "not built: fetching the source with pip failed" in done.stderr
        assert "runs on the in-process wheel" in done.stderr
    else:
        assert "nothing to build: these cores have no AVX-512" in done.stdout
    assert find_build() is None
    # without the flag the same failure is an error, exit status 2, as before
    if build_would_help():
        env = {**os.environ, "XDG_CACHE_HOME": str(cache), "PATH": str(tmp_path / "bin"),
               "PIP_CONFIG_FILE": os.devnull, "PIP_NO_INDEX": "1"}
        plain = subprocess.run([sys.executable, "run_agent.py", "build-llama-server"], cwd=ROOT, capture_output=True,
                               text=True, env=env, timeout=300)
        assert plain.returncode == 2 and "fetching the source with pip failed" in plain.stderr


@pytest.mark.embedded
@requires_smollm2
@pytest.mark.skipif(find_build() is None, reason="no llama-server built for this CPU (python run_agent.py "
                                                 "build-llama-server)")
async def test_the_real_build_answers_under_a_schema() -> None:
    client = await LLMClient.open(parse_llm_spec("embedded:smollm2"), LLMSettings(embedded_runtime="native"))
    try:
        assert client.embedded_server is not None and "built for this CPU" in client.embedded_server
        schema = {"type": "array", "items": {"type": "integer", "enum": [0, 1, 2]}, "minItems": 8, "maxItems": 8}
        reply = await client.chat([{"role": "user", "content": "Eight operation ids, each 0, 1 or 2."}], trial=0,
                                  answer_schema=schema, max_tokens=64, seed=1)
        answer = json.loads(reply.content)
        assert isinstance(answer, list) and len(answer) == 8 and set(answer) <= {0, 1, 2}
    finally:
        await client.aclose()
