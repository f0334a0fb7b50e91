"""llama.cpp's own server built for this machine's CPU, run as a child process in place of the in-process wheel.

The xllamacpp wheel's CPU code is built for AVX2. Built for the machine (``GGML_NATIVE``), llama.cpp reads prompt
tokens 1.3-1.6 times as fast on AVX-512 cores, and prompt processing is about 90% of the main command's time
(docs/performance.md). PyPI carries llama.cpp's source in llama-cpp-python's sdist, so ``python run_agent.py
build-llama-server`` fetches it through pip (pinned, sha256 checked), compiles its ``llama-server`` for this CPU into
the cache, and the embedded model runs on it from then on. Nothing here is downloaded at run time.

A build is keyed by a signature of the CPU (vendor, family, model, instruction-set flags): a binary built for one
machine may stop with SIGILL on another, so a cache shared between machines only serves the CPU it was built for.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from tools.errors import GeniusError, UserError

# llama.cpp's source as PyPI carries it: the vendored tree of llama-cpp-python's sdist.
SOURCE_PACKAGE = "llama-cpp-python"
SOURCE_VERSION = "0.3.36"
SOURCE_SHA256 = "832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e"
# llama.cpp's AMX kernels, which -march=native turns on for Intel cores with AMX, crash this pinned version on some
# of those machines: SIGSEGV at the first tile-config load (ldtilecfg in ggml_backend_amx_mul_mat) while the model
# warms up. Seen here on a virtual Xeon with amx_tile (Linux 6.18), where a plain C program's AMX tiles work; it is
# llama.cpp issue #20824, with an open fix in #26954 (the tile config optimised away, the permission asked on one
# thread only). The wheel has no AMX code either, so leaving it out loses nothing against it; AVX-512 stays.
_NO_AMX = "-mno-amx-tile -mno-amx-int8 -mno-amx-bf16"
_X86 = platform.machine().lower() in ("x86_64", "amd64")
# For the machine, static (one self-contained file), and nothing that reaches the network at build or run time.
# A build records these in its manifest, and one made with others is not used (find_build): the recipe changed.
CMAKE_ARGS: tuple[str, ...] = (
    "-DCMAKE_BUILD_TYPE=Release",
    "-DGGML_NATIVE=ON",
    "-DBUILD_SHARED_LIBS=OFF",
    "-DLLAMA_BUILD_SERVER=ON",
    "-DLLAMA_BUILD_TESTS=OFF",
    "-DLLAMA_BUILD_EXAMPLES=OFF",
    "-DLLAMA_CURL=OFF",
    "-DLLAMA_OPENSSL=OFF",
    "-DLLAMA_BUILD_UI=OFF",
    "-DLLAMA_USE_PREBUILT_UI=OFF",
    *((f"-DCMAKE_C_FLAGS={_NO_AMX}", f"-DCMAKE_CXX_FLAGS={_NO_AMX}") if _X86 else ()),
)
BINARY_NAME = "llama-server"
MANIFEST_NAME = "manifest.json"
# How long a model may take to load before the start counts as failed (a 1.5B GGUF loads in 1-3 s).
LOAD_TIMEOUT_S = 300.0
# Server logs kept beside the build, newest first: one per start (its own timings per request are in it).
KEEP_SERVER_LOGS = 10


class NativeServerError(GeniusError):
    """The built llama-server did not start or stopped; the message names its log."""


def native_root() -> Path:
    """``$XDG_CACHE_HOME/genius/llama-server``, else ``~/.cache/genius/llama-server``."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "genius" / "llama-server"


def _cpu_facts() -> dict[str, str]:
    facts = {"machine": platform.machine(), "system": platform.system()}
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:  # not Linux: the processor string is all there is
        facts["processor"] = platform.processor()
        return facts
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key in ("vendor_id", "cpu family", "model", "model name", "flags", "Features", "CPU part") \
                and key not in facts:
            facts[key] = " ".join(sorted(value.split())) if key in ("flags", "Features") else value.strip()
    return facts


def cpu_signature() -> str:
    """A short stable hash of what decides which instructions a native build may use on this CPU."""
    facts = {k: v for k, v in _cpu_facts().items() if k != "model name"}
    return hashlib.sha256(json.dumps(facts, sort_keys=True).encode()).hexdigest()[:16]


def build_would_help() -> bool:
    """Whether this CPU has instructions the xllamacpp wheel's AVX2 code leaves unused (AVX-512)."""
    return "avx512f" in _cpu_facts().get("flags", "").split()


@dataclass(frozen=True)
class NativeBuild:
    """A llama-server built for this CPU: the binary and what its manifest says about it."""

    binary: Path
    manifest: dict[str, Any]

    def describe(self) -> str:
        return (f"llama-server built for this CPU (llama.cpp of {SOURCE_PACKAGE} "
                f"{self.manifest.get('source_version', '?')})")


def _build_for_this_cpu(root: Path | None) -> NativeBuild | None:
    signature = cpu_signature()
    folder = (root or native_root()) / signature
    binary = folder / BINARY_NAME
    try:
        manifest = json.loads((folder / MANIFEST_NAME).read_text())
    except (OSError, ValueError):
        return None
    if manifest.get("cpu_signature") != signature or not os.access(binary, os.X_OK):
        return None
    return NativeBuild(binary, manifest)


def _current_recipe(build_: NativeBuild) -> bool:
    return build_.manifest.get("cmake_args") == list(CMAKE_ARGS)


def find_build(root: Path | None = None) -> NativeBuild | None:
    """The build for this CPU under ``root`` (default :func:`native_root`), or None."""
    found = _build_for_this_cpu(root)
    # one made by another recipe (an AMX build that may crash) is not used: build-llama-server replaces it
    return found if found is not None and _current_recipe(found) else None


def outdated_build(root: Path | None = None) -> NativeBuild | None:
    """A build for this CPU made with other CMake arguments than today's, which is no longer used, or None."""
    found = _build_for_this_cpu(root)
    return found if found is not None and not _current_recipe(found) else None


def no_build_message() -> str:
    """What to say where no usable build serves this CPU: which command makes one, and why an old one is unused."""
    old = outdated_build()
    why = (f"; the one at {old.binary} was made by an earlier recipe (with llama.cpp's AMX kernels, which crash on "
           "some Intel cores) and is no longer used" if old is not None else "")
    return f"no llama-server is built for this CPU{why}; build one with: python run_agent.py build-llama-server"


# ---------------------------------------------------------------------------------------------------- building


def _run_logged(step: str, cmd: list[str], log: IO[str], remedy: str) -> None:
    log.write(f"$ {' '.join(cmd)}\n")
    log.flush()
    code = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL).returncode
    if code != 0:
        log.flush()
        raise UserError(f"{step} failed (exit status {code}): {_log_tail(Path(log.name), 3)}; {remedy}; the whole "
                        f"output is in {log.name}")


def _extract_llama_cpp(sdist: Path, into: Path) -> Path:
    """Unpack only the vendored llama.cpp tree of the sdist and return its root."""
    with tarfile.open(sdist) as tar:
        # TOP/vendor/llama.cpp/..., not the copy of its git metadata under TOP/.git/modules/vendor/
        members = [m for m in tar.getmembers() if m.name.split("/")[1:3] == ["vendor", "llama.cpp"]]
        if not members:
            raise UserError(f"{sdist.name} holds no vendor/llama.cpp tree; it is not the pinned source")
        tar.extractall(into, members=members, filter="data")
        top = members[0].name.split("/")[0]
    return into / top / "vendor" / "llama.cpp"


def _missing_tools() -> str | None:
    """What the build needs and this machine lacks, with the remedy; None when cmake and a C++ compiler are here."""
    if shutil.which("cmake") is None:
        return ("cmake is not installed; install it (pip install cmake, or your system's package) and run "
                "build-llama-server again")
    if shutil.which("c++") is None and shutil.which("g++") is None and shutil.which("clang++") is None:
        return ("no C++ compiler found (c++, g++ or clang++); install one (e.g. apt install g++) and run "
                "build-llama-server again")
    return None


def reason_not_to_build(root: Path | None = None, *, would_help: bool | None = None) -> str | None:
    """Why ``build-llama-server --if-useful`` builds nothing here, or None when a build would pay and can be made.

    A build pays only where the cores have more than the wheel's AVX2 (``would_help``, default: this CPU's flags)
    and none serves this CPU yet; it can be made where cmake and a C++ compiler are installed.
    """
    existing = find_build(root)
    if existing is not None:
        return f"{existing.describe()} is already at {existing.binary}; the embedded model runs on it"
    if not (build_would_help() if would_help is None else would_help):
        return ("these cores have no AVX-512, so a build would read prompts no faster than the in-process wheel, "
                "which the embedded model uses")
    return _missing_tools()


def build(*, jobs: int | None = None, root: Path | None = None,
          say: Callable[[str], None] = print) -> NativeBuild:
    """Fetch the pinned llama.cpp source through pip, compile llama-server for this CPU, install it under ``root``.

    Minutes of compilation (5 on 2 Zen 4 cores); the source and build tree are removed afterwards, the log is kept.
    The new binary must load an installed embedded model and answer a prompt before it is installed.
    """
    missing = _missing_tools()
    if missing is not None:
        raise UserError(missing)
    cmake = shutil.which("cmake")
    assert cmake is not None
    check_model = _check_model()  # before minutes of compiling: a broken model install is reported in seconds
    root = root or native_root()
    signature = cpu_signature()
    final = root / signature
    root.mkdir(parents=True, exist_ok=True)
    jobs = jobs or os.cpu_count() or 1
    log_path = root / f"build-{signature}.log"
    with log_path.open("w") as log, tempfile.TemporaryDirectory(dir=root, prefix=".build-") as tmp:
        work = Path(tmp)
        say(f"fetching {SOURCE_PACKAGE}=={SOURCE_VERSION} (llama.cpp's source) through pip")
        requirement = work / "requirement.txt"
        requirement.write_text(f"{SOURCE_PACKAGE}=={SOURCE_VERSION} --hash=sha256:{SOURCE_SHA256}\n")
        _run_logged("fetching the source with pip",
                    [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
                     "--require-hashes", "-r", str(requirement), "-d", str(work / "sdist")], log,
                    "pip must reach PyPI (or your index) for this one download")
        sdist = next((work / "sdist").glob("*.tar.gz"))
        source = _extract_llama_cpp(sdist, work / "src")
        sdist.unlink()
        say(f"compiling llama-server for this CPU with {jobs} job(s); this takes minutes (log: {log_path})")
        started = time.perf_counter()
        _run_logged("configuring with cmake", [cmake, "-S", str(source), "-B", str(work / "build"), *CMAKE_ARGS],
                    log, "check that cmake and a C++ compiler are installed")
        _run_logged("compiling", [cmake, "--build", str(work / "build"), "--target", BINARY_NAME, "-j", str(jobs)],
                    log, "a compiler error here is llama.cpp's; --embedded-runtime wheel needs no build")
        built = work / "build" / "bin" / BINARY_NAME
        version = subprocess.run([str(built), "--version"], capture_output=True, text=True, timeout=60)
        if version.returncode != 0:  # e.g. SIGILL: the compiler chose instructions this CPU lacks
            raise UserError(f"the built llama-server does not run here (exit status {version.returncode}); "
                            f"see {log_path}")
        _check_serves(built, check_model, jobs, log, log_path, say)
        staged = work / "install"
        staged.mkdir()
        shutil.copy2(built, staged / BINARY_NAME)
        manifest = {
            "cpu_signature": signature, "cpu": _cpu_facts().get("model name", platform.processor()),
            "source_package": SOURCE_PACKAGE, "source_version": SOURCE_VERSION, "source_sha256": SOURCE_SHA256,
            "cmake_args": list(CMAKE_ARGS), "version": (version.stdout + version.stderr).strip(),
            "build_s": round(time.perf_counter() - started, 1), "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        (staged / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2) + "\n")
        if final.exists():
            shutil.rmtree(final)
        staged.rename(final)  # the build appears whole or not at all
    found = find_build(root)
    assert found is not None
    say(f"built {found.binary} in {manifest['build_s']:.0f} s; the embedded model now runs on it "
        f"(--embedded-runtime wheel runs the in-process one)")
    return found


# For the server on 127.0.0.1 only: a proxy from the environment (HTTP_PROXY) must not see these requests.
_LOOPBACK = urllib.request.build_opener(urllib.request.ProxyHandler({}))

# A prompt long enough to be read as one batch through the matrix kernels, as the search's questions are.
_CHECK_PROMPT = "Name one width per stage of a residual network, choosing from: " + ", ".join(
    str(16 * i) for i in range(1, 65))


def _check_model() -> Path | None:
    """An installed embedded model to check a build with (the default first), or None where none is installed.

    A model whose file fails its size/sha256 check is skipped for the next; where every installed one fails, that
    is a UserError naming the reinstall command, so that ``--if-useful`` reports it and lets the README's line go
    on to the search, which then stops on the same model with the same remedy.
    """
    from agent.llm.bundled import BUNDLED_MODELS, ensure_model
    from agent.llm.errors import ModelIntegrityError, ModelPackageMissing

    broken: ModelIntegrityError | None = None
    for model in BUNDLED_MODELS.values():
        try:
            return ensure_model(model)
        except ModelPackageMissing:
            continue
        except ModelIntegrityError as exc:
            broken = broken or exc
    if broken is not None:
        raise UserError(f"no installed embedded model to check a build with: {broken}")
    return None


def _serving_failure(binary: Path, model: Path, threads: int) -> str | None:
    """Why ``binary`` fails to load ``model``, read a prompt and answer it, or None where it does all three."""
    try:
        running = start(NativeBuild(binary, {}), model, slots=1, ctx_per_slot=2048, threads=threads)
    except NativeServerError:
        logs = sorted(binary.parent.glob("server-*.log"), key=lambda p: p.stat().st_mtime)
        return "it stopped while loading the model" + (f": {_log_tail(logs[-1], 3)}" if logs else "")
    try:
        body = json.dumps({"messages": [{"role": "user", "content": _CHECK_PROMPT}], "max_tokens": 4}).encode()
        request = urllib.request.Request(f"{running.base_url}/chat/completions", data=body,
                                         headers={"Content-Type": "application/json"})
        try:
            with _LOOPBACK.open(request, timeout=LOAD_TIMEOUT_S) as reply:
                json.loads(reply.read())
        except (urllib.error.URLError, ConnectionError, TimeoutError, ValueError) as exc:
            try:
                code = running.process.wait(5)  # the watchdog shell exits with the server's status
            except subprocess.TimeoutExpired:
                code = None
            stopped = f"it stopped (exit status {code})" if code is not None else f"it did not answer ({exc})"
            return f"{stopped} while answering a first prompt: {_log_tail(running.log_path, 3)}"
        return None
    finally:
        running.stop()


def _check_serves(binary: Path, model: Path | None, jobs: int, log: IO[str], log_path: Path,
                  say: Callable[[str], None]) -> None:
    """Refuse a build that compiles yet crashes on this CPU (as the AMX kernels did) before it is installed."""
    if model is None:
        say("not checked against a model: none is installed (pip install -e '.[embedded]' installs the default)")
        return
    say(f"checking that it loads {model.name} and answers a prompt")
    failure = _serving_failure(binary, model, jobs)
    for server_log in sorted(binary.parent.glob("server-*.log")):  # the build tree goes; its output stays here
        log.write(f"--- {server_log.name}\n{server_log.read_text(errors='replace')}")
    log.flush()
    if failure is not None:
        raise UserError(f"the built llama-server does not serve {model.name} on this CPU: {failure}; nothing was "
                        f"installed, and its output is at the end of {log_path}")


# ---------------------------------------------------------------------------------------------------- running

# The server is a child of a small shell that kills it when our end of the shell's stdin closes: on a clean stop,
# and also when this process dies by SIGKILL, which no atexit hook or signal handler sees. (A background job's
# stdin is /dev/null unless redirected, hence fd 3.)
_WATCHDOG = 'exec 3<&0; "$@" </dev/null & pid=$!; (read -r _ <&3; kill "$pid" 2>/dev/null) & wait "$pid"'


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _log_tail(path: Path, lines: int = 8) -> str:
    try:
        return " | ".join(path.read_text(errors="replace").strip().splitlines()[-lines:])
    except OSError:
        return ""


def _prune_logs(folder: Path, keep: int) -> None:
    dated = []
    for path in folder.glob("server-*.log"):
        try:
            dated.append((path.stat().st_mtime, path))
        except FileNotFoundError:  # another process pruned it first
            continue
    for _, path in sorted(dated, reverse=True)[keep:]:
        path.unlink(missing_ok=True)


@dataclass
class NativeProcess:
    """A running built llama-server and the watchdog shell that owns it."""

    process: subprocess.Popen[bytes]
    base_url: str
    log_path: Path

    def stop(self, timeout_s: float = 10.0) -> None:
        if self.process.stdin is not None and not self.process.stdin.closed:
            self.process.stdin.close()  # the watchdog kills the server and exits
        try:
            self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start(build_: NativeBuild, model: Path, *, slots: int, ctx_per_slot: int, threads: int) -> NativeProcess:
    """Start ``build_``'s llama-server on ``model`` on a free loopback port; return once it serves.

    The settings are the in-process server's, so both get the same requests and the same answers' shape.
    """
    port = _free_port()
    # One log per start: servers of concurrent processes must not write into one file.
    log_path = build_.binary.parent / f"server-{os.getpid()}-{port}.log"
    _prune_logs(build_.binary.parent, keep=KEEP_SERVER_LOGS - 1)
    cmd = [str(build_.binary), "-m", str(model), "-np", str(slots), "-c", str(ctx_per_slot * slots),
           "-t", str(threads), "-tb", str(threads), "--host", "127.0.0.1", "--port", str(port), "--jinja",
           "--no-webui"]
    with log_path.open("wb") as log:
        process = subprocess.Popen(["sh", "-c", _WATCHDOG, "llama-server", *cmd], stdin=subprocess.PIPE,
                                   stdout=log, stderr=subprocess.STDOUT)
    running = NativeProcess(process, f"http://127.0.0.1:{port}/v1", log_path)
    deadline = time.monotonic() + LOAD_TIMEOUT_S
    while True:
        if process.poll() is not None:
            raise NativeServerError(f"the built llama-server stopped while loading {model.name} (exit status "
                                    f"{process.returncode}): {_log_tail(log_path)}; its log is {log_path}; "
                                    f"--embedded-runtime wheel runs the in-process server instead")
        try:
            with _LOOPBACK.open(f"http://127.0.0.1:{port}/health", timeout=2) as reply:
                if reply.status == 200:
                    return running
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass  # not listening yet, or 503 while the model loads
        if time.monotonic() > deadline:
            running.stop()
            raise NativeServerError(f"the built llama-server did not load {model.name} in {LOAD_TIMEOUT_S:.0f} s; "
                                    f"its log is {log_path}")
        time.sleep(0.05)
