"""Logging through structlog: JSON lines to a file next to the database, readable warnings on stderr."""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

import structlog

from agent.llm.redact import redact_processor


class _Sinks:
    def __init__(self, path: Path | None, quiet: bool) -> None:
        self.file = path.open("a", encoding="utf-8") if path is not None else None
        self.quiet = quiet

    def __call__(self, _logger: Any, method: str, event_dict: MutableMapping[str, Any]) -> str:
        line = json.dumps({"ts": time.time(), "level": method, **event_dict}, default=str)
        if self.file is not None:
            self.file.write(line + "\n")
            self.file.flush()
        if method in ("warning", "error", "critical", "exception") and not self.quiet:
            extras = " ".join(f"{k}={v}" for k, v in event_dict.items() if k != "event")
            # sys.stderr is looked up now, not kept: it may have been replaced since (tests, redirection).
            print(f"{method}: {event_dict.get('event')} {extras}".rstrip(), file=sys.stderr)
        return line


def configure_logging(log_file: Path | None, *, quiet: bool = False) -> None:
    """Send every structlog event (secrets redacted) to ``log_file`` as JSON; warnings also to stderr."""
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
    sinks = _Sinks(log_file, quiet)

    def drop(_logger: Any, _method: str, _event: MutableMapping[str, Any]) -> Any:
        raise structlog.DropEvent

    structlog.configure(
        processors=[structlog.processors.add_log_level, structlog.processors.format_exc_info,
                    redact_processor, sinks, drop],
        wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
        cache_logger_on_first_use=False,
    )
