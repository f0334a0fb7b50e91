"""Diagnostic logging (structlog), imported when first used.

Importing structlog costs about 0.14 s (its dev module brings rich's tracebacks and pygments), which the commands
that only read the log (``runs``, ``show``, ``spaces``) never need; so nothing imports it at the top of a module
those commands load. Used as a library without the command line's setup (agent/logs.py), the first logger shows
warnings, not debug chatter.
"""

from __future__ import annotations

import logging
from typing import Any


def get_logger(name: str) -> Any:
    """structlog's logger for ``name``, configured to warnings and above unless someone configured it already."""
    import structlog  # lazily, for the start-up of the commands that only read (module docstring)

    if not structlog.is_configured():
        structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    return structlog.get_logger(name)
