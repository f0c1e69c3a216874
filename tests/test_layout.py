"""The package's shape: its import graph (deferred imports included) has no cycles and no import from a lower
layer (data, models, store, hub) to a higher one (app, cli); no package module over 500 lines, no function over 80
(in the package and app.py)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "spandec"
MAX_MODULE_LINES = 500
MAX_FUNCTION_LINES = 80
LOWER = ("spandec.data", "spandec.models", "spandec.store", "spandec.hub")
HIGHER = ("spandec.app", "spandec.cli", "spandec.cli_hub")


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _in(module: str, prefixes: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def import_graph() -> dict[str, set[str]]:
    """Every package module -> the package modules it imports anywhere in its body (functions included).

    ``from pkg import name`` counts as importing ``pkg.name`` when that is a module, else ``pkg``."""
    modules = _modules()
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        deps: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(anchor + ([base] if base else []))
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
            else:
                continue
            for target in targets:
                while target and target not in modules:  # ``import spandec.models.auto.x`` -> its module
                    target = target.rpartition(".")[0]
                if target and target != name:
                    deps.add(target)
        graph[name] = deps
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle per strongly connected component of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def _package_of(module: str) -> bool:
    return module == "spandec" or module.endswith("__init__")


def test_import_graph_has_no_cycles() -> None:
    graph = import_graph()
    assert "spandec.models.base" in graph and "spandec.models.runtime" in graph["spandec.models.base"]
    # a package's __init__ re-exports its modules; cycles through an __init__ that only re-exports are the
    # package importing its own parts, so they are left out: every other edge counts
    inits = {m for m, p in _modules().items() if p.name == "__init__.py"}
    pruned = {m: {d for d in deps if d not in inits} for m, deps in graph.items() if m not in inits}
    cycles = _cycles(pruned)
    assert not cycles, "import cycles (deferred imports included): " + "; ".join(" <-> ".join(c) for c in cycles)


def test_no_import_from_a_lower_layer_to_a_higher_one() -> None:
    upward = sorted(f"{m} -> {d}" for m, deps in import_graph().items() if _in(m, LOWER)
                    for d in deps if _in(d, HIGHER))
    assert not upward, "lower layer imports a higher one: " + ", ".join(upward)


def test_hub_sits_below_the_models() -> None:
    """models load from the Hub (``models.base`` -> ``hub``); the Hub helpers ask a model, never import one."""
    graph = import_graph()
    assert "spandec.hub" in graph["spandec.models.base"]
    assert not [d for d in graph["spandec.hub"] if _in(d, ("spandec.models",))], graph["spandec.hub"]


def test_layout_checks_find_what_they_look_for() -> None:
    """The checks themselves: a two-module cycle is found, a package's re-export is resolved to its module."""
    assert _cycles({"a": {"b"}, "b": {"a"}, "c": {"a"}}) == [["a", "b"]]
    assert not _cycles({"a": {"b"}, "b": set()})
    graph = import_graph()
    assert "spandec.models.auto" in graph["spandec.models"]  # ``from .auto import ...`` in models/__init__.py


def _long_functions(path: Path) -> list[str]:
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            first = min([node.lineno] + [d.lineno for d in node.decorator_list])
            lines = node.end_lineno - first + 1
            if lines > MAX_FUNCTION_LINES:
                out.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({lines} lines)")
    return out


def test_no_module_over_500_lines() -> None:
    long = [f"{p.relative_to(ROOT)} ({n} lines)" for p in [*_modules().values(), ROOT / "app.py"]
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES]
    assert not long, f"modules over {MAX_MODULE_LINES} lines: " + ", ".join(long)


def test_no_function_over_80_lines() -> None:
    long = [f for p in [*_modules().values(), ROOT / "app.py"] for f in _long_functions(p)]
    assert not long, f"functions over {MAX_FUNCTION_LINES} lines: " + ", ".join(long)
