"""The embedded model: a llama.cpp server on loopback, one per GGUF per process.

``xllamacpp.Server`` runs llama.cpp's own HTTP server (OpenAI-compatible ``/v1``) in-process on its own threads,
so the embedded model is reached through exactly the same ChatOpenAI code path as any remote provider. Where
``run_agent.py build-llama-server`` has compiled llama.cpp's server for this CPU, that binary runs instead as a
child process (agent/llm/native_server.py) with the same settings: the same requests, prompts read faster.
Loading a model costs seconds and hundreds of MB, so servers live in a module-level registry keyed by
the resolved GGUF path and are shared by every client of the process; they stop at interpreter exit.
"""

from __future__ import annotations

import atexit
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.llm import native_server
from agent.llm.diagnostics import get_logger
from agent.llm.errors import LLMSpecError
from tools.errors import UserError

log = get_logger(__name__)

# Each slot gets its own context window: ~4k-token prompts plus the reply and headroom.
CTX_PER_SLOT = 8192
# llama.cpp log verbosity: 1 keeps errors only (its info lines go straight to stderr, not to structlog).
_LLAMA_VERBOSITY = 1
# Which llama.cpp serves the embedded model: "native" the build for this CPU, "wheel" xllamacpp in process,
# "auto" the build where there is one, else the wheel.
RUNTIMES = ("auto", "native", "wheel")


@dataclass
class EmbeddedServer:
    """A running llama.cpp server: ``base_url`` ends in ``/v1``; ``runtime`` says which llama.cpp it is."""

    path: Path
    base_url: str
    slots: int
    load_s: float
    handle: Any  # xllamacpp.Server (keeping the reference keeps it alive) or a native_server.NativeProcess
    runtime: str = "xllamacpp wheel, in process"


_lock = threading.Lock()
_servers: dict[tuple[Path, str], EmbeddedServer] = {}


def _start_native(build: native_server.NativeBuild, path: Path, slots: int) -> EmbeddedServer:
    threads = os.cpu_count() or 1
    started = time.perf_counter()
    process = native_server.start(build, path, slots=slots, ctx_per_slot=CTX_PER_SLOT, threads=threads)
    server = EmbeddedServer(path=path, base_url=process.base_url, slots=slots,
                            load_s=time.perf_counter() - started, handle=process, runtime=build.describe())
    log.info("embedded_model_loaded", path=str(path), url=server.base_url, slots=slots, threads=threads,
             load_s=round(server.load_s, 3), runtime=server.runtime, server_log=str(process.log_path))
    return server


def _start(path: Path, slots: int) -> EmbeddedServer:
    import xllamacpp  # imported here: a heavy native module that only the embedded path needs

    params = xllamacpp.CommonParams()
    params.model.path = str(path)
    params.n_parallel = slots
    params.n_ctx = CTX_PER_SLOT * slots  # llama.cpp splits n_ctx evenly across slots
    threads = os.cpu_count() or 1
    params.cpuparams.n_threads = threads
    params.cpuparams_batch.n_threads = threads
    params.hostnames = ["127.0.0.1"]
    params.port = 0  # a free port chosen by the OS; read back from listening_address
    params.verbosity = _LLAMA_VERBOSITY
    started = time.perf_counter()
    handle = xllamacpp.Server(params)
    load_s = time.perf_counter() - started
    address = str(handle.listening_address).rstrip("/")
    if not address.startswith("http"):
        address = f"http://{address}"
    server = EmbeddedServer(path=path, base_url=f"{address}/v1", slots=slots, load_s=load_s, handle=handle)
    log.info(
        "embedded_model_loaded",
        path=str(path),
        url=server.base_url,
        slots=slots,
        threads=threads,
        load_s=round(load_s, 3),
    )
    return server


def resolve_runtime(runtime: str) -> native_server.NativeBuild | None:
    """The build that serves ``runtime`` ("auto", "native", "wheel"), or None for the in-process wheel."""
    if runtime not in RUNTIMES:
        raise UserError(f"--embedded-runtime must be one of {', '.join(RUNTIMES)}, not {runtime!r}")
    if runtime == "wheel":
        return None
    build = native_server.find_build()
    if build is None and runtime == "native":
        raise UserError(f"{native_server.no_build_message()} (or use --embedded-runtime wheel)")
    return build


def get_server(path: Path, slots: int, runtime: str = "auto") -> EmbeddedServer:
    """The process's server for ``path``, started on first use (blocking; call it off the event loop).

    ``slots`` (parallel sequences) is fixed by the first caller; later callers share that server.
    """
    resolved = path.expanduser().resolve()
    if not resolved.is_file():
        raise LLMSpecError(f"GGUF model file {str(path)!r} not found: check the path in --llm embedded:PATH.gguf")
    build = resolve_runtime(runtime)
    key = (resolved, "wheel" if build is None else str(build.binary))
    with _lock:
        server = _servers.get(key)
        if server is not None and isinstance(server.handle, native_server.NativeProcess) \
                and server.handle.process.poll() is not None:
            log.warning("embedded_server_stopped", runtime=server.runtime, server_log=str(server.handle.log_path))
            server = None  # it died (killed from outside): start it again
        if server is None and build is not None:
            try:
                server = _start_native(build, resolved, max(1, slots))
            except native_server.NativeServerError as exc:
                if runtime == "native":
                    raise
                # auto: a build that does not start must not stop the search; the wheel serves, and the run's
                # config records that it did
                log.warning("native_server_failed_using_wheel", error=str(exc))
                key = (resolved, "wheel")
                server = _servers.get(key)
        if server is None:
            server = _start(resolved, max(1, slots))
        _servers[key] = server
        return server


def loaded_servers() -> list[EmbeddedServer]:
    """The servers running in this process (for benchmarks and diagnostics)."""
    with _lock:
        return list(_servers.values())


def release(server: EmbeddedServer) -> None:
    """Stop ``server`` now (a native one's process; the wheel's when its last reference goes) and forget it."""
    with _lock:
        for key in [k for k, v in _servers.items() if v is server]:
            del _servers[key]
    if isinstance(server.handle, native_server.NativeProcess):
        server.handle.stop()


@atexit.register
def _shutdown() -> None:
    # Drop the handles in a defined order while the interpreter is still intact: the destructor
    # joins llama.cpp's threads; a native server's watchdog is told to stop it.
    with _lock:
        for server in _servers.values():
            if isinstance(server.handle, native_server.NativeProcess):
                server.handle.stop()
        _servers.clear()
