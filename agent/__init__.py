"""The search: strategies, trial orchestration, LLM client, replay/resume.

Diagnostic logging is set up where it is first used (agent/llm/diagnostics.py, agent/logs.py), not here: importing
structlog would cost every command, the quick ones too, 0.14 s.
"""
