"""Prompt templates, as text files, one set per search-space family (``paper/``) and for the agent modes.

Templates use ``string.Template`` placeholders (``$name``), so the PyTorch code they quote keeps its braces.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from string import Template


@cache
def load(name: str) -> Template:
    """The template ``prompts/<name>.txt`` (e.g. ``"paper/nas_macro_user"``)."""
    text = resources.files(__package__).joinpath(f"{name}.txt").read_text(encoding="utf-8")
    return Template(text.rstrip("\n"))


def render(name: str, **values: object) -> str:
    """Fill a template; a missing placeholder is a bug, so it raises."""
    return load(name).substitute({k: str(v) for k, v in values.items()})
