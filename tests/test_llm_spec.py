"""``--llm SPEC`` parsing."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.llm import LLMSpec, LLMSpecError, parse_llm_spec
from tools.errors import UserError


@pytest.fixture(autouse=True)
def _no_env_base_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("embedded", LLMSpec("embedded", "qwen-1.5b")),
        ("embedded:qwen-1.5b", LLMSpec("embedded", "qwen-1.5b")),
        (" embedded:QWEN-0.5B ", LLMSpec("embedded", "qwen-0.5b")),
        ("embedded:smollm2", LLMSpec("embedded", "smollm2")),
        ("embedded:/models/m.gguf", LLMSpec("embedded", "m.gguf", path=Path("/models/m.gguf"))),
        ("openai:gpt-4o", LLMSpec("openai", "gpt-4o")),
        ("openai:qwen2.5:7b", LLMSpec("openai", "qwen2.5:7b")),  # Ollama names carry colons
        ("scripted:demo/replies.json", LLMSpec("scripted", "replies.json", path=Path("demo/replies.json"))),
    ],
)
def test_good_specs(text: str, expected: LLMSpec) -> None:
    assert parse_llm_spec(text) == expected


def test_base_url_from_argument_or_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert parse_llm_spec("openai:llama3", "http://localhost:11434/v1/").base_url == "http://localhost:11434/v1"
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:8000/v1")
    assert parse_llm_spec("openai:m").base_url == "http://127.0.0.1:8000/v1"
    assert parse_llm_spec("openai:m", "https://api.example.com/v1").base_url == "https://api.example.com/v1"
    # The environment variable is about OpenAI endpoints; it does not break other kinds.
    assert parse_llm_spec("embedded:smollm2").base_url is None


@pytest.mark.parametrize(
    ("text", "base_url", "why"),
    [
        ("", None, "expected KIND:VALUE"),
        ("gpt-4o", None, "expected KIND:VALUE"),
        ("openai:", None, "expected KIND:VALUE"),
        ("anthropic:claude", None, "unknown kind"),
        ("embedded:llama-70b", None, "unknown embedded model"),
        ("scripted:replies.txt", None, "a scripted model is a .json file"),
        ("embedded:smollm2", "http://x/v1", "--base-url only applies"),
        ("openai:m", "localhost:8000", "must start with http"),
    ],
)
def test_bad_specs_list_the_forms(text: str, base_url: str | None, why: str) -> None:
    with pytest.raises(LLMSpecError, match=why) as info:
        parse_llm_spec(text, base_url)
    assert isinstance(info.value, UserError)
    message = str(info.value)
    for form in ("embedded:qwen-1.5b", "embedded:PATH.gguf", "openai:MODEL", "scripted:FILE.json"):
        assert form in message


def test_spec_str_is_readable() -> None:
    assert str(parse_llm_spec("openai:gpt-4o", "http://h/v1")) == "openai:gpt-4o @ http://h/v1"
    assert str(parse_llm_spec("embedded")) == "embedded:qwen-1.5b"
