"""The layout is the architecture: packages in the order control flows, each importing only
from packages before it (or itself), and no import cycle between files, function-level
imports included. The order is the "How it is built" tree of docs/design.md."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "luxlogd"

# Lowest first: a module may import from its own package and from packages above it here.
LAYERS = [
    "base",
    "heatpump",
    "config",
    "store",
    "reports",
    "health",
    "outputs",
    "daemon",
    "sim",
    "doctor",
    "cli",
]


def modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def imports(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The luxlogd modules `name` imports anywhere in its file (a package's `__init__` only
    where a name is taken from it, not for its submodules)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(up + ([base] if base else []))
            submodules = [f"{base}.{alias.name}" for alias in node.names]
            targets = [m for m in submodules if m in known]
            if len(targets) < len(submodules):
                targets.append(base)
        else:
            continue
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: imports(name, path, known) for name, path in known.items()}


def layer(module: str) -> int | None:
    parts = module.split(".")
    if len(parts) < 2 or parts[1] not in LAYERS:
        return None  # luxlogd itself (the version), __main__ and top-level modules: config
    return LAYERS.index(parts[1])


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected group of more than one module (Tarjan), sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in sorted(edges.get(node, ())):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return sorted(groups)


def test_no_import_cycle_between_files_function_level_imports_included():
    assert cycles(graph()) == []


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_each_package_imports_only_from_the_packages_before_it():
    upward = sorted(
        f"{module} -> {target}"
        for module, targets in graph().items()
        for target in targets
        if layer(module) is not None and layer(target) is not None and layer(target) > layer(module)  # type: ignore[operator]
    )
    assert upward == []


def test_every_package_is_in_the_documented_order_and_the_readme_tree():
    packages = sorted(p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file())
    assert packages == sorted(LAYERS)
    readme = (PACKAGE.parent / "docs" / "design.md").read_text()
    tree = readme[readme.index("<!-- layout -->") : readme.index("<!-- /layout -->")]
    named = [line.split("/")[0].strip(" │├└─") for line in tree.splitlines() if "/ " in line]
    assert [n for n in named if n in LAYERS] == LAYERS


def test_the_graph_sees_function_level_and_package_imports():
    edges = graph()
    assert "luxlogd.store.writer" in edges["luxlogd.daemon.service"]
    assert "luxlogd.heatpump.catalogue" in edges["luxlogd.heatpump.sensors"]
