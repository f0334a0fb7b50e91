"""Logging through structlog: JSON lines to a file next to the database, readable warnings on stderr.

The file is opened at the first event, not before, so a command refused for bad input creates nothing; a
read-only command (``create=False``) writes to the file only where it already exists. Where the file cannot be
written (a read-only directory, a full disk), events go on to stderr in full instead of crashing the command.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any, TextIO

from agent.llm.redact import redact_processor


class _Sinks:
    def __init__(self, path: Path | None, quiet: bool, create: bool) -> None:
        self.path = path
        self.quiet = quiet
        self.create = create
        self._file: TextIO | None = None
        self.unavailable = path is None  # True once the file could not (or may not) be written

    def _open(self) -> TextIO | None:
        if self._file is None and not self.unavailable and self.path is not None:
            try:
                if self.create:
                    self.path.parent.mkdir(parents=True, exist_ok=True)
                elif not self.path.is_file():
                    raise FileNotFoundError(self.path)
                self._file = self.path.open("a", encoding="utf-8")
            except OSError:
                self.unavailable = True
        return self._file

    def __call__(self, _logger: Any, method: str, event_dict: MutableMapping[str, Any]) -> str:
        # stderr=False: the caller tells the user itself (one line), the file keeps the detail
        echo = bool(event_dict.pop("stderr", True))
        line = json.dumps({"ts": time.time(), "level": method, **event_dict}, default=str)
        file = self._open()
        if file is not None:
            try:
                file.write(line + "\n")
                file.flush()
            except OSError:
                self.unavailable, self._file = True, None
                file = None
        serious = method in ("error", "critical", "exception")
        if file is None and serious:
            print(line, file=sys.stderr)  # the full detail has nowhere else to go
        elif method in ("warning", "error", "critical", "exception") and not self.quiet and echo:
            extras = " ".join(f"{k}={v}" for k, v in event_dict.items() if k not in ("event", "exception"))
            # sys.stderr is looked up now, not kept: it may have been replaced since (tests, redirection).
            print(f"{method}: {event_dict.get('event')} {extras}".rstrip(), file=sys.stderr)
        return line


_sinks: _Sinks | None = None


def configure_logging(log_file: Path | None, *, quiet: bool = False, create: bool = True) -> None:
    """Send every structlog event (secrets redacted) to ``log_file`` as JSON; warnings also to stderr.
    ``create``: whether the file and its directory may be created (False for read-only commands)."""
    import structlog  # lazily: 0.14 s to import, which the quick read-only commands skip (agent/llm/diagnostics.py)

    global _sinks
    sinks = _Sinks(log_file, quiet, create)
    _sinks = sinks

    def drop(_logger: Any, _method: str, _event: MutableMapping[str, Any]) -> Any:
        raise structlog.DropEvent

    structlog.configure(
        processors=[structlog.processors.add_log_level, structlog.processors.format_exc_info,
                    redact_processor, sinks, drop],
        wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
        cache_logger_on_first_use=False,
    )


def details_hint() -> str:
    """Where the full detail of an error went, for the one line a user sees."""
    if _sinks is None or _sinks.unavailable or _sinks.path is None:
        return "details above on stderr"
    return f"details in {_sinks.path}"
