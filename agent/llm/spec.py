"""The ``--llm SPEC`` mini-language: which model a run talks to.

Forms::

    embedded                 = embedded:qwen-1.5b (the default)
    embedded:qwen-1.5b       bundled Qwen2.5-Coder-1.5B-Instruct (Q4_K_M), llama.cpp in-process
    embedded:qwen-0.5b       bundled Qwen2.5-Coder-0.5B-Instruct (Q4_K_M)
    embedded:smollm2         bundled SmolLM2-135M-Instruct (tiny; for tests)
    embedded:PATH.gguf       any GGUF file on disk
    openai:MODEL             OpenAI (OPENAI_API_KEY), or any OpenAI-compatible server via --base-url /
                             OPENAI_BASE_URL (the key is optional then)
    scripted:FILE.json       canned replies, for tests and demos
    control:random           uniform random valid answers (the ablation control)

Parsing is syntactic: files are looked at when the client opens.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import parse_qsl, urlsplit

from agent.llm.bundled import BUNDLED_MODELS, DEFAULT_BUNDLED
from agent.llm.errors import LLMSpecError
from agent.llm.redact import MASK, register_secret
from storage.redact import redact_url_secrets


def _register_url_secrets(url: str) -> None:
    """Mask the credentials a base URL carries (its password, key-bearing query values) wherever they appear;
    the URL itself is redacted wherever it is written (storage.redact)."""
    parts = urlsplit(url)
    register_secret(parts.password)
    for name, value in parse_qsl(parts.query):
        if redact_url_secrets(f"?{name}=x") != f"?{name}=x":
            register_secret(value)

Kind = Literal["embedded", "openai", "scripted", "control"]

DEFAULT_SPEC = "embedded"

FORMS = (
    "embedded (= embedded:qwen-1.5b), embedded:qwen-1.5b, embedded:qwen-0.5b, embedded:smollm2, "
    "embedded:PATH.gguf, openai:MODEL (with --base-url/OPENAI_BASE_URL for any OpenAI-compatible "
    "server), scripted:FILE.json, control:random (uniform random valid answers)"
)


@dataclass(frozen=True)
class LLMSpec:
    """A parsed model spec.

    ``model``: the bundled model's name (``qwen-1.5b``), the OpenAI model name, or for a GGUF/script
    the file name. ``path``: the GGUF or script file, when the spec names one. ``base_url``: the
    OpenAI-compatible endpoint (openai only; ``None`` means api.openai.com). No secrets live here:
    the API key is read from the environment when the client opens.
    """

    kind: Kind
    model: str
    path: Path | None = None
    base_url: str | None = None

    @property
    def bundled(self) -> bool:
        """True for the embedded models that ship as Python packages."""
        return self.kind == "embedded" and self.path is None

    def __str__(self) -> str:
        if self.kind == "openai":
            return f"openai:{self.model}" + (f" @ {self.base_url}" if self.base_url else "")
        return f"{self.kind}:{self.path if self.path is not None else self.model}"


def _bad(text: str, why: str) -> LLMSpecError:
    return LLMSpecError(f"bad --llm spec {text!r}: {why}. Use one of: {FORMS}")


def parse_llm_spec(text: str, base_url: str | None = None) -> LLMSpec:
    """Parse ``--llm SPEC``; ``base_url`` is ``--base-url`` (falling back to ``$OPENAI_BASE_URL``).

    Raises :class:`~agent.llm.errors.LLMSpecError` (a UserError) listing the accepted forms.
    """
    spec = text.strip()
    if base_url is not None and not base_url.strip():
        base_url = None
    kind, sep, rest = spec.partition(":")
    kind = kind.strip().lower()
    rest = rest.strip()
    if kind == "embedded" and not sep:
        rest = DEFAULT_BUNDLED
    elif not sep or not rest:
        raise _bad(text, "expected KIND:VALUE")

    if kind != "openai" and base_url is not None:
        raise _bad(text, "--base-url only applies to openai:MODEL")

    if kind == "embedded":
        if rest.lower() in BUNDLED_MODELS:
            return LLMSpec("embedded", rest.lower())
        if rest.lower().endswith(".gguf"):
            path = Path(rest).expanduser()
            return LLMSpec("embedded", path.name, path=path)
        raise _bad(
            text, f"unknown embedded model {rest!r} (bundled: {', '.join(BUNDLED_MODELS)}; or a path ending in .gguf)"
        )
    if kind == "openai":
        url = base_url if base_url is not None else (os.environ.get("OPENAI_BASE_URL") or None)
        if url is not None and not url.startswith(("http://", "https://")):
            raise _bad(text, f"base URL {redact_url_secrets(url, MASK)!r} must start with http:// or https://")
        if url is not None:
            _register_url_secrets(url)
        return LLMSpec("openai", rest, base_url=url.rstrip("/") if url else None)
    if kind == "control":
        if rest.lower() != "random":
            raise _bad(text, "the control model is control:random (uniform random valid answers)")
        return LLMSpec("control", "random")
    if kind == "scripted":
        if not rest.lower().endswith(".json"):
            raise _bad(text, "a scripted model is a .json file")
        path = Path(rest).expanduser()
        return LLMSpec("scripted", path.name, path=path)
    raise _bad(text, f"unknown kind {kind!r}")
