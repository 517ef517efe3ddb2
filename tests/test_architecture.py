"""The folders draw the architecture: imports run one way, ui -> serving -> runs -> training, with no circles."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "sentiment_lab"
# Lower layers never import higher ones; the command lines at the top level may import any layer.
LAYERS = ("training", "runs", "serving", "ui")
# Imports inside functions, each kept lazy so a light command does not load torch or pandas.
LAZY = {
    ("sentiment_lab.jobs", "sentiment_lab.serving.error_analysis"),
    ("sentiment_lab.jobs", "sentiment_lab.training.methods"),
    ("sentiment_lab.runs.worker", "sentiment_lab.training.process_group"),
    ("sentiment_lab.runs.worker", "sentiment_lab.training.runner"),
}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path, known: set[str]) -> list[tuple[str, bool]]:
    """(imported module of the package, whether the import sits inside a function) for each import in `path`."""
    tree = ast.parse(path.read_text())
    inner = {
        id(n) for f in ast.walk(tree) if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef)) for n in ast.walk(f)
    }
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            # `from pkg import module` imports the module; `from module import name` the module
            names = {
                f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in known else node.module for a in node.names
            }
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        found += [(n, id(node) in inner) for n in names if n in known]
    return found


def graph() -> tuple[dict[str, set[str]], set[tuple[str, str]]]:
    files = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    edges, lazy = {m: set() for m in files}, set()
    for m, path in files.items():
        for target, inside in imports(path, set(files)):
            if target != m and not m.startswith(target + "."):  # a package's own __init__ is not an edge
                edges[m].add(target)
                if inside:
                    lazy.add((m, target))
    return edges, lazy


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in edges:
        if v not in index:
            visit(v)
    return found


def layer(module: str) -> int | None:
    parts = module.split(".")
    return LAYERS.index(parts[1]) if len(parts) > 1 and parts[1] in LAYERS else None


def test_no_import_circles():
    edges, _ = graph()
    assert cycles(edges) == []


def test_imports_run_one_way():
    edges, _ = graph()
    upward = [
        (m, t)
        for m, targets in edges.items()
        for t in targets
        if layer(m) is not None
        and (layer(t) is None and t not in ("sentiment_lab", "sentiment_lab.storage") or (layer(t) or 0) > layer(m))
    ]
    assert upward == []


def test_package_imports_inside_functions_are_only_the_lazy_ones():
    _, lazy = graph()
    assert lazy == LAZY


def test_the_checks_see_a_circle_and_an_upward_import():
    assert cycles({"a": {"b"}, "b": {"a"}, "c": set()}) == [["a", "b"]]
    assert layer("sentiment_lab.training.runner") < layer("sentiment_lab.ui.app")


def test_the_readme_map_names_every_module_so_a_newcomer_finds_each_file():
    readme = (PACKAGE.parent / "README.md").read_text()
    where = readme[readme.index("## Where things are") :]
    unnamed = [p for p in PACKAGE.rglob("*.py") if p.name != "__init__.py" and p.name not in where]
    # A benchmark is named by its command under Benchmarks, or in the map when it has none.
    unnamed += [p for p in (PACKAGE.parent / "bench").glob("[!_]*.py") if f"bench.{p.stem} " not in readme]
    unnamed = sorted(str(p.relative_to(PACKAGE.parent)) for p in unnamed if p.name not in where)
    assert unnamed == [], f"README's 'Where things are' does not name {unnamed}: give each a line there"
