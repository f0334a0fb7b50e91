"""A stand-in for a built ``llama-server`` binary, for tests of how it is started, reached and stopped.

It takes llama-server's command line, answers ``/health`` with 503 while it "loads" and 200 after, ``/v1/models``
as llama.cpp does (owned_by "llamacpp"), and ``/v1/chat/completions`` with ``$FAKE_LLAMA_REPLY``. It writes its
pid to ``$FAKE_LLAMA_PIDFILE`` and its argv (JSON) to ``$FAKE_LLAMA_ARGV``; ``$FAKE_LLAMA_EXIT`` makes it fail
while loading, as a binary that cannot read its model does, and ``$FAKE_LLAMA_CRASH`` die at its first prompt, as
one whose kernels crash on the CPU does.
"""

from __future__ import annotations

import json
import os
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

LOAD_S = 0.3


def main(argv: list[str]) -> int:
    if os.environ.get("FAKE_LLAMA_PIDFILE"):
        Path(os.environ["FAKE_LLAMA_PIDFILE"]).write_text(str(os.getpid()))
    if os.environ.get("FAKE_LLAMA_ARGV"):
        Path(os.environ["FAKE_LLAMA_ARGV"]).write_text(json.dumps(argv))
    if os.environ.get("FAKE_LLAMA_EXIT"):
        print("gguf_init_from_file: failed to read the model", file=sys.stderr)
        return 1
    port = int(argv[argv.index("--port") + 1])
    host = argv[argv.index("--host") + 1]
    reply = os.environ.get("FAKE_LLAMA_REPLY", "hello")
    loaded_at = time.monotonic() + LOAD_S

    class Handler(BaseHTTPRequestHandler):
        def _send(self, status: int, doc: Any) -> None:
            body = json.dumps(doc).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            if self.path == "/health":
                loading = time.monotonic() < loaded_at
                self._send(503 if loading else 200, {"status": "loading model" if loading else "ok"})
            elif self.path.rstrip("/") == "/v1/models":
                self._send(200, {"object": "list", "data": [{"id": "m", "object": "model", "owned_by": "llamacpp"}]})
            else:
                self._send(404, {"error": {"message": "not found"}})

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if os.environ.get("FAKE_LLAMA_CRASH"):
                print("Segmentation fault", file=sys.stderr, flush=True)
                os._exit(139)  # what a shell reports for a server killed by SIGSEGV
            self._send(200, {
                "id": "c", "object": "chat.completion", "created": int(time.time()), "model": "m",
                "choices": [{"index": 0, "finish_reason": "stop",
                             "message": {"role": "assistant", "content": reply}}],
                "usage": {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10},
            })

        def log_message(self, format: str, *args: Any) -> None:
            pass

    ThreadingHTTPServer((host, port), Handler).serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
