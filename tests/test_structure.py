"""The house's structure: storage imports nothing above it, tools nothing of agent, agent's wings import in one
direction (front door -> engine -> LLM layer; the read side beside the engine, reading folds), no import circles,
and no decision on a space's name or family outside tools/spaces."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from tests.conftest import ROOT

PACKAGES = ("agent", "tools", "storage", "prompts")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def project_imports(path: Path) -> set[str]:
    """Project modules ``path`` imports, anywhere in it (lazy imports included)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    me = module_name(path)
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        else:
            continue
        for name in names:
            if name.split(".")[0] in PACKAGES and name in MODULES and name != me:
                out.add(name)
    return out


FILES = [p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")]
MODULES = {module_name(p) for p in FILES}
GRAPH = {module_name(p): project_imports(p) for p in FILES}


def test_storage_imports_nothing_above_it_and_tools_nothing_of_agent():
    for module, imports in GRAPH.items():
        if module.startswith("storage"):
            assert all(i.startswith("storage") for i in imports), (module, imports)
        if module.startswith("tools"):
            assert not any(i.startswith("agent") for i in imports), (module, imports)
        if module.startswith("prompts"):
            assert not imports, (module, imports)


# What each wing of agent/ may import from the project (itself always). The front door (agent.cli, commands,
# flags, api, logs) may import every wing; nothing imports the front door.
WINGS = {
    "agent.engine": ("agent.engine", "agent.llm", "tools", "storage", "prompts"),
    "agent.read": ("agent.read", "tools", "storage"),
    "agent.llm": ("agent.llm", "tools", "storage"),
}
FRONT_DOOR = ("agent.cli", "agent.commands", "agent.flags", "agent.api", "agent.logs")


def _within(module: str, roots: tuple[str, ...]) -> bool:
    return any(module == r or module.startswith(r + ".") for r in roots)


def test_the_wings_of_agent_import_in_one_direction():
    offenders = []
    for module, imports in GRAPH.items():
        for wing, allowed in WINGS.items():
            if _within(module, (wing,)):
                offenders += [f"{module} -> {i}" for i in imports if not _within(i, allowed)]
        if not _within(module, FRONT_DOOR) and module != "agent":
            offenders += [f"{module} -> {i} (the front door)" for i in imports if _within(i, FRONT_DOOR)]
    assert not offenders, "\n".join(offenders)
    # every module of agent/ is in a wing or the front door: nothing left in the hall
    loose = [m for m in GRAPH if m.startswith("agent.") and not _within(m, (*WINGS, *FRONT_DOOR))]
    assert not loose, loose


def test_no_import_circles():
    # A submodule importing its own package (to reach a sibling through it) is how Python packages work, not a
    # circle between rooms: those edges are left out.
    def edges(module: str) -> set[str]:
        return {i for i in GRAPH[module] if not module.startswith(i + ".")}

    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(module: str) -> None:
        state[module] = 1
        stack.append(module)
        for nxt in sorted(edges(module)):
            if state.get(nxt) == 1:
                raise AssertionError("import circle: " + " -> ".join([*stack[stack.index(nxt):], nxt]))
            if nxt not in state:
                visit(nxt)
        stack.pop()
        state[module] = 2

    for module in sorted(GRAPH):
        if module not in state:
            visit(module)


def test_no_decision_on_a_space_name_or_family_outside_tools_spaces():
    pattern = re.compile(r"\.family\s*(==|!=|in\b)|\.name\s*(==|!=)|\.name\.(startswith|endswith)|space\.family\b")
    offenders = []
    for path in FILES:
        rel = path.relative_to(ROOT).as_posix()
        if rel.startswith("tools/spaces/"):
            continue
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if pattern.search(line) and "space" in line:
                offenders.append(f"{rel}:{n}: {line.strip()}")
    assert not offenders, "\n".join(offenders)
