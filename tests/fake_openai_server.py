"""A local OpenAI-compatible HTTP server for tests and benchmarks (stdlib only, runs in a thread).

It serves ``POST /v1/chat/completions`` from a programmable queue of behaviours — a normal reply
(content or tool calls, with usage), an HTTP error (429 with Retry-After, 500, 401, ...), a hang past
the client's timeout, a dropped connection, a malformed body, an empty reply — and ``GET /v1/models``.
When the queue is empty it uses the default behaviour. Every request is recorded with its arrival
time (``time.monotonic()``, the clock the client uses too), headers and JSON body.

    with FakeOpenAIServer() as server:
        server.enqueue(error(429, retry_after=1), reply("[1, 2]"))
        ... ChatOpenAI(base_url=server.base_url, ...) ...
        assert len(server.requests) == 2
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

# A behaviour is (kind, parameters); see the factory functions below.
Behaviour = tuple[str, dict[str, Any]]


def reply(
    content: str | Callable[[dict[str, Any]], str] = "ok",
    *,
    tool_calls: list[dict[str, Any]] | Callable[[dict[str, Any]], list[dict[str, Any]]] | None = None,
    prompt_tokens: int = 11,
    completion_tokens: int = 7,
    finish_reason: str | None = None,
    delay_s: float = 0.0,
) -> Behaviour:
    """A normal completion; ``content`` and ``tool_calls`` may be functions of the request body. Tool calls:
    ``{"name", "args"}``."""
    return (
        "reply",
        {
            "content": content,
            "tool_calls": tool_calls or [],
            "usage": (prompt_tokens, completion_tokens),
            "finish_reason": finish_reason,
            "delay_s": delay_s,
        },
    )


def error(status: int, *, retry_after: str | float | None = None, message: str = "fake error") -> Behaviour:
    """An HTTP error with an OpenAI-style error body, optionally with a Retry-After header."""
    return ("error", {"status": status, "retry_after": retry_after, "message": message})


def hang(seconds: float = 30.0) -> Behaviour:
    """Accept the request and say nothing for ``seconds`` (or until the server stops)."""
    return ("hang", {"seconds": seconds})


def drop() -> Behaviour:
    """Close the connection without a response."""
    return ("drop", {})


def malformed(body: str = '{"choices": [ {"message": ') -> Behaviour:
    """A 200 whose body is not a chat completion (truncated JSON by default)."""
    return ("malformed", {"body": body})


def empty() -> Behaviour:
    """A well-formed completion with empty content and no tool calls."""
    return reply("")


@dataclass
class RecordedRequest:
    """What the server received."""

    arrived: float
    method: str
    path: str
    headers: dict[str, str]  # names lower-cased
    body: dict[str, Any] | None
    behaviour: str = ""


@dataclass
class _State:
    queue: deque[Behaviour] = field(default_factory=deque)
    default: Behaviour = field(default_factory=lambda: reply("ok"))
    requests: list[RecordedRequest] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    stopping: threading.Event = field(default_factory=threading.Event)
    advertise_json_schema: bool = False
    owned_by: str = "fake"
    model: str = "fake-model"
    n_params: int | None = None


def _completion(state: _State, body: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    content = params["content"](body) if callable(params["content"]) else params["content"]
    calls = [
        {
            "id": f"call_{i}",
            "type": "function",
            "function": {"name": tc["name"], "arguments": json.dumps(tc.get("args", {}))},
        }
        for i, tc in enumerate(params["tool_calls"](body) if callable(params["tool_calls"]) else params["tool_calls"])
    ]
    message: dict[str, Any] = {"role": "assistant", "content": content if not calls or content else None}
    if calls:
        message["tool_calls"] = calls
    prompt_tokens, completion_tokens = params["usage"]
    return {
        "id": f"chatcmpl-fake-{len(state.requests)}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model", state.model),
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": params["finish_reason"] or ("tool_calls" if calls else "stop"),
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as real servers do
    disable_nagle_algorithm = True  # headers and body go out in separate writes: no 40 ms delayed-ACK stalls
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # silence stderr access logs
        pass

    def _send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def _record(self, body: dict[str, Any] | None, behaviour: str) -> None:
        self.server.state.requests.append(
            RecordedRequest(
                self._arrived, self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body, behaviour
            )
        )

    def do_GET(self) -> None:
        self._arrived = time.monotonic()
        state = self.server.state
        with state.lock:
            self._record(None, "models")
        if self.path.rstrip("/") != "/v1/models":
            self._send_json(404, {"error": {"message": "not found"}})
            return
        entry: dict[str, Any] = {"id": state.model, "object": "model", "owned_by": state.owned_by}
        if state.advertise_json_schema:
            entry["supported_parameters"] = ["response_format", "structured_outputs", "tools"]
        if state.n_params is not None:  # as llama.cpp's server reports its model
            entry["meta"] = {"n_params": state.n_params}
        self._send_json(200, {"object": "list", "data": [entry]})

    def do_POST(self) -> None:
        self._arrived = time.monotonic()
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            body = {"_unparsed": raw.decode(errors="replace")}
        state = self.server.state
        with state.lock:
            kind, params = state.queue.popleft() if state.queue else state.default
            self._record(body, kind)
        if self.path.rstrip("/") != "/v1/chat/completions":
            self._send_json(404, {"error": {"message": f"no route {self.path}"}})
            return
        if kind == "reply":
            if params["delay_s"]:
                state.stopping.wait(params["delay_s"])
            self._send_json(200, _completion(state, body, params))
        elif kind == "error":
            headers = {} if params["retry_after"] is None else {"Retry-After": str(params["retry_after"])}
            # OpenAI's SDK honours this header with its own retries; we must not see any of those.
            headers["x-should-retry"] = "true"
            err = {"error": {"message": params["message"], "type": "fake", "code": params["status"]}}
            self._send_json(params["status"], err, headers)
        elif kind == "hang":
            state.stopping.wait(params["seconds"])
            self.close_connection = True
        elif kind == "drop":
            self.close_connection = True
            self.connection.close()
        elif kind == "malformed":
            data = params["body"].encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        else:  # pragma: no cover - a typo in a test
            self._send_json(500, {"error": {"message": f"unknown behaviour {kind}"}})


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128  # the default backlog of 5 resets connections when 32 callers connect at once
    state: _State


class FakeOpenAIServer:
    """The server; use as a context manager or call :meth:`start` / :meth:`stop`."""

    def __init__(self, *, advertise_json_schema: bool = False, default: Behaviour | None = None,
                 owned_by: str = "fake", n_params: int | None = None) -> None:
        """``owned_by``: what ``/v1/models`` says owns the model, as a real server says it ("llamacpp", "vllm");
        ``n_params``: the model's size, reported as llama.cpp does (``meta.n_params``)."""
        self._state = _State(advertise_json_schema=advertise_json_schema, owned_by=owned_by, n_params=n_params)
        if default is not None:
            self._state.default = default
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> FakeOpenAIServer:
        server = _Server(("127.0.0.1", 0), _Handler)
        server.state = self._state
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._state.stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeOpenAIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT/v1``."""
        assert self._server is not None, "start the server first"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/v1"

    def enqueue(self, *behaviours: Behaviour) -> None:
        """Queue behaviours for the next requests, in order."""
        with self._state.lock:
            self._state.queue.extend(behaviours)

    def set_default(self, behaviour: Behaviour) -> None:
        """What to do once the queue is empty."""
        with self._state.lock:
            self._state.default = behaviour

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request so far (a copy)."""
        with self._state.lock:
            return list(self._state.requests)

    @property
    def completions(self) -> list[RecordedRequest]:
        """The ``POST /v1/chat/completions`` requests so far."""
        return [r for r in self.requests if r.method == "POST"]
