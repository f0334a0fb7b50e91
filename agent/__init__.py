"""The search: strategies, trial orchestration, LLM client, replay/resume."""

import logging

import structlog

# Used as a library (tests, benchmarks) without the CLI's logging setup: show warnings, not debug chatter.
# The CLI replaces this with JSON lines to a file plus warnings on stderr (agent/logs.py).
if not structlog.is_configured():
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
