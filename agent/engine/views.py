"""How the model sees a search space: plainly (the paper's prompts) or obfuscated (the contamination probe).

Strategies talk to the model only through a view: its prompts, its answer schema, how an architecture is
shown, how an answer is read back. Architectures inside the program (evaluation, log, reports) are always
the real ones.

The obfuscated view (``--obfuscate``) hides everything a model could have memorised: no benchmark, dataset
or block names, operations as letters, positions and option order permuted by a seed recorded in the run.
If a model does much better plainly than obfuscated, part of its performance is recall, not search.
"""

from __future__ import annotations

import json
import random
import string
from typing import Any

from agent.engine.answers import ParsedAnswer, answer_name, example_answer, parse_answer
from agent.llm.parsing import extract_list
from prompts import render
from tools.evaluation import Arch
from tools.spaces.base import SearchSpace


class PlainView:
    """The paper's view: op ids or channel numbers, as Appendices A-C write them."""

    obfuscated = False

    def __init__(self, space: SearchSpace) -> None:
        self.space = space
        self.answer_name = answer_name(space)
        self.value_kind = space.value_kind
        self.example = example_answer(space)
        self.position_names = space.position_names

    def system_prompt(self) -> str:
        return self.space.paper_system_prompt()

    def space_prompt(self) -> str:
        return self.space.paper_user_prompt()

    def compact_prompt(self) -> str:
        """A short description of the space (a few hundred tokens, against the paper's ~1,000)."""
        return self.space.compact_prompt()

    def answer_schema(self) -> dict[str, Any]:
        return self.space.answer_schema()

    def show(self, arch: Arch) -> str:
        return json.dumps(list(arch))

    def parse(self, content: str) -> ParsedAnswer:
        return parse_answer(self.space, content)

    def options(self, position: int) -> list[tuple[str, int]]:
        """(label shown to the model, real value) for each option of model-facing ``position``."""
        space = self.space
        return [(f"{v}" + (f" ({space.value_names[v]})" if space.value_names.get(v) else ""), v)
                for v in space.positions[position]]

    def real_position(self, position: int) -> int:
        return position


class ObfuscatedView:
    """Neutral names, letters for options, permuted positions and options (seeded)."""

    obfuscated = True
    answer_name = "letter list"
    value_kind = "letters"

    def __init__(self, space: SearchSpace, seed: int) -> None:
        self.space = space
        rng = random.Random(f"obfuscate:{seed}")
        n = len(space.positions)
        # model position j shows real position order[j]; its letter k means real value values[j][k]
        self.order = list(range(n))
        rng.shuffle(self.order)
        self.values: list[list[int]] = []
        for j in range(n):
            vals = list(space.positions[self.order[j]])
            rng.shuffle(vals)
            self.values.append(vals)
        self.position_names = tuple(f"P{j + 1}" for j in range(n))
        self.example = json.dumps([string.ascii_uppercase[0]] * n)

    def system_prompt(self) -> str:
        return render("obfuscated/system")

    def space_prompt(self) -> str:
        lines = [f"P{j + 1}: {', '.join(string.ascii_uppercase[: len(v)])}" for j, v in enumerate(self.values)]
        return render("obfuscated/user", n=len(self.values), options="\n".join(lines), example=self.example)

    def compact_prompt(self) -> str:
        return self.space_prompt()  # already short

    def answer_schema(self) -> dict[str, Any]:
        n = len(self.values)
        return {"type": "array", "minItems": n, "maxItems": n,
                "prefixItems": [{"type": "string", "enum": list(string.ascii_uppercase[: len(v)])}
                                for v in self.values]}

    def letters(self, arch: Arch) -> list[str]:
        return [string.ascii_uppercase[self.values[j].index(arch[self.order[j]])] for j in range(len(self.values))]

    def show(self, arch: Arch) -> str:
        return json.dumps(self.letters(arch))

    def to_real(self, letters: list[str]) -> Arch:
        real = [0] * len(self.values)
        for j, letter in enumerate(letters):
            real[self.order[j]] = self.values[j][string.ascii_uppercase.index(letter)]
        return tuple(real)

    def parse(self, content: str) -> ParsedAnswer:
        values: Any = None
        try:
            values = json.loads(content.strip())
        except (json.JSONDecodeError, ValueError):
            values = extract_list(content)
        if isinstance(values, dict):
            values = next((v for v in values.values() if isinstance(v, list)), None)
        n = len(self.values)
        if not isinstance(values, list):
            return ParsedAnswer(error=f"no list found in your answer; answer with a list of {n} letters, "
                                      f"for example {self.example}")
        if len(values) != n:
            return ParsedAnswer(error=f"expected a list of {n} letters (one for each of P1..P{n}); got {len(values)}")
        problems = []
        for j, v in enumerate(values):
            allowed = string.ascii_uppercase[: len(self.values[j])]
            if not (isinstance(v, str) and len(v.strip()) == 1 and v.strip().upper() in allowed):
                problems.append(f"position {j + 1} (P{j + 1}) must be one of {', '.join(allowed)}; got {v!r}")
        if problems:
            return ParsedAnswer(error="; ".join(problems))
        return ParsedAnswer(arch=self.to_real([str(v).strip().upper() for v in values]))

    def options(self, position: int) -> list[tuple[str, int]]:
        return [(string.ascii_uppercase[k], v) for k, v in enumerate(self.values[position])]

    def real_position(self, position: int) -> int:
        return self.order[position]


ModelView = PlainView | ObfuscatedView


def make_view(space: SearchSpace, *, obfuscate: bool, seed: int | None) -> ModelView:
    return ObfuscatedView(space, seed or 0) if obfuscate else PlainView(space)
