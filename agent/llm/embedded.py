"""The embedded model: a llama.cpp server started in-process on loopback, one per GGUF per process.

``xllamacpp.Server`` runs llama.cpp's own HTTP server (OpenAI-compatible ``/v1``) on its own threads, so
the embedded model is reached through exactly the same ChatOpenAI code path as any remote provider.
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

from agent.llm.diagnostics import get_logger
from agent.llm.errors import LLMSpecError

log = get_logger(__name__)

# Each slot gets its own context window: ~4k-token prompts plus the reply and headroom.
CTX_PER_SLOT = 8192
# llama.cpp log verbosity: 1 keeps errors only (its info lines go straight to stderr, not to structlog).
_LLAMA_VERBOSITY = 1


@dataclass
class EmbeddedServer:
    """A running llama.cpp server: ``base_url`` ends in ``/v1``."""

    path: Path
    base_url: str
    slots: int
    load_s: float
    handle: Any  # xllamacpp.Server; keeping the reference keeps the server alive


_lock = threading.Lock()
_servers: dict[Path, EmbeddedServer] = {}


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


def get_server(path: Path, slots: int) -> EmbeddedServer:
    """The process's server for ``path``, started on first use (blocking; call it off the event loop).

    ``slots`` (parallel sequences) is fixed by the first caller; later callers share that server.
    """
    resolved = path.expanduser().resolve()
    if not resolved.is_file():
        raise LLMSpecError(f"GGUF model file {str(path)!r} not found: check the path in --llm embedded:PATH.gguf")
    with _lock:
        server = _servers.get(resolved)
        if server is None:
            server = _start(resolved, max(1, slots))
            _servers[resolved] = server
        return server


def loaded_servers() -> list[EmbeddedServer]:
    """The servers running in this process (for benchmarks and diagnostics)."""
    with _lock:
        return list(_servers.values())


@atexit.register
def _shutdown() -> None:
    # Drop the handles in a defined order while the interpreter is still intact: the destructor
    # joins llama.cpp's threads.
    with _lock:
        _servers.clear()
