"""The layout's promises, checked on the source: no import cycle at any depth, small modules, one MLflow
importer, and no algorithm-name branches outside the algorithm modules and the recommendation tables."""

from __future__ import annotations

import ast
import itertools
import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "alignlab"
#: The most lines a module may have: a module is one concept, and 450 is already a large one.
MAX_LINES = 450
#: The one module exempt from MAX_LINES: a pure data table (the recommendation rules, with their sources).
EXEMPT = {"recommend/rules.py"}
#: Import edges (importer, imported) a check may skip, each a known cycle awaiting its fix. Empty is the goal.
KNOWN_EDGES: set[tuple[str, str]] = set()


def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _imports(
    name: str, source: str, modules: set[str], *, is_package: bool = False, typing: bool = True
) -> dict[str, int]:
    """Every alignlab module that module ``name`` imports, anywhere in ``source`` (module level, inside
    functions and methods; with ``typing``, under ``if TYPE_CHECKING:`` too), with the line of its first
    import. ``from x import y`` is the module ``x.y`` when there is one, else ``x``; relative imports are
    resolved against the module's package."""
    package = name if is_package else name.rpartition(".")[0]
    tree = ast.parse(source)
    typing_only = {
        id(inner)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
        for inner in ast.walk(node)
    }
    found: dict[str, int] = {}
    for node in ast.walk(tree):
        if not typing and id(node) in typing_only:
            continue
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, *([node.module] if node.module else [])])
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
        for target in targets:
            while target and target not in modules:  # a name inside a module: that module
                target = target.rpartition(".")[0]
            if target and target != name:
                found.setdefault(target, node.lineno)
    return found


def _graph(*, typing: bool) -> dict[str, dict[str, int]]:
    """module -> {imported module: line}, over every module of the package (see :func:`_imports`)."""
    modules = _modules()
    return {
        name: _imports(
            name, path.read_text(encoding="utf-8"), set(modules), is_package=path.name == "__init__.py", typing=typing
        )
        for name, path in modules.items()
    }


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle (``[a, b, ..., a]``, the shortest through the group's first node) per strongly connected
    group of ``graph`` (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups: list[set[str]] = []

    def strong(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for dep in sorted(graph.get(node, ())):
            if dep not in index:
                strong(dep)
                low[node] = min(low[node], low[dep])
            elif dep in stack:
                low[node] = min(low[node], index[dep])
        if low[node] == index[node]:
            group = {stack.pop()}
            while node not in group:
                group.add(stack.pop())
            if len(group) > 1:
                groups.append(group)

    for node in sorted(graph):
        if node not in index:
            strong(node)
    return [_shortest_cycle(min(group), graph, group) for group in groups]


def _shortest_cycle(start: str, graph: dict[str, set[str]], group: set[str]) -> list[str]:
    paths = {start: [start]}
    queue = [start]
    while queue:
        node = queue.pop(0)
        for dep in sorted(graph.get(node, set()) & group):
            if dep == start:
                return [*paths[node], start]
            if dep not in paths:
                paths[dep] = [*paths[node], dep]
                queue.append(dep)
    raise AssertionError(f"{start} is in no cycle")


def _render(cycle: list[str], edges: dict[tuple[str, str], str]) -> str:
    return " -> ".join(cycle) + "".join(f"\n    {edges[(a, b)]}" for a, b in itertools.pairwise(cycle))


def test_no_import_cycle_between_modules() -> None:
    """No two alignlab modules reach each other through the imports that run, however deep an import
    sits (a function-level import is still an import; a type-only one is not run, and is the layers' check)."""
    full = _graph(typing=False)
    graph = {a: {b for b in deps if (a, b) not in KNOWN_EDGES} for a, deps in full.items()}
    edges = {(a, b): f"{a} line {line} imports {b}" for a, deps in full.items() for b, line in deps.items()}
    cycles = [_render(c, edges) for c in _cycles(graph)]
    assert cycles == [], "import cycles:\n" + "\n".join(cycles)


def _layer(module: str) -> str:
    return ".".join(module.split(".")[:2])


def test_no_import_cycle_between_layers() -> None:
    """The layers (alignlab's subpackages and top modules: data, run, sweep, results, recommend, validate,
    cli, ...) import one way: sweep imports run, so nothing in run imports anything of sweep, not even
    a type (a run module taking a SweepSpec is a run module that knows sweeps)."""
    graph: dict[str, set[str]] = {}
    edges: dict[tuple[str, str], str] = {}
    for a, deps in _graph(typing=True).items():
        graph.setdefault(_layer(a), set())
        for b, line in deps.items():
            if _layer(a) != _layer(b) and (a, b) not in KNOWN_EDGES:
                graph[_layer(a)].add(_layer(b))
                edges.setdefault((_layer(a), _layer(b)), f"{a} line {line} imports {b}")
    cycles = [_render(c, edges) for c in _cycles(graph)]
    assert cycles == [], "layers importing each other:\n" + "\n".join(cycles)


def test_the_cycle_check_sees_imports_inside_functions_and_relative_ones() -> None:
    source = "import os\n\ndef f():\n    from alignlab.sweep import spec\n    from . import records\n    from ..run.config import RunConfig\n"
    modules = {"alignlab", "alignlab.sweep", "alignlab.sweep.spec", "alignlab.sweep.records", "alignlab.run.config"}
    assert _imports("alignlab.sweep.study", source, modules) == {
        "alignlab.sweep.spec": 4,
        "alignlab.sweep.records": 5,
        "alignlab.run.config": 6,
    }
    assert _cycles({"a": {"b"}, "b": {"c", "d"}, "c": {"a"}, "d": set(), "e": {"a"}}) == [["a", "b", "c", "a"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_module_is_over_450_lines() -> None:
    long = {
        name: n
        for p in PACKAGE.rglob("*.py")
        if (name := p.relative_to(PACKAGE).as_posix()) not in EXEMPT
        and (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert long == {}


def test_the_readme_states_the_same_module_size() -> None:
    readme = (PACKAGE.parent / "README.md").read_text(encoding="utf-8")
    assert f"no module over {MAX_LINES} lines" in readme


def test_only_tracking_imports_mlflow() -> None:
    importers = sorted(
        p.relative_to(PACKAGE).as_posix()
        for p in PACKAGE.rglob("*.py")
        if re.search(r"^\s*(import mlflow|from mlflow)", p.read_text(encoding="utf-8"), flags=re.M)
    )
    assert importers and all(i.startswith("run/tracking/") for i in importers), importers


def test_only_the_algorithm_modules_branch_on_an_algorithm_name() -> None:
    pattern = re.compile(r"algorithm *(==|!=|in) *[(\"']")
    allowed = (PACKAGE / "run" / "algorithms", PACKAGE / "recommend")
    offenders = [
        f"{path.relative_to(PACKAGE)}:{n}"
        for path in PACKAGE.rglob("*.py")
        if not any(path.is_relative_to(a) for a in allowed)
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if pattern.search(line)
    ]
    assert offenders == []


def test_the_package_surfaces_resolve_every_name_they_list() -> None:
    import importlib

    for package in ("alignlab.sweep", "alignlab.run", "alignlab.results"):
        module = importlib.import_module(package)
        assert module.__all__, package
        for name in module.__all__:
            assert getattr(module, name) is not None, f"{package}.{name}"


def test_help_and_the_package_surfaces_import_nothing_heavy() -> None:
    """``python -m alignlab --help`` and importing the sweep, run and results packages stay instant:
    no torch, trl, mlflow or optuna (their names are imported on first use)."""
    import subprocess
    import sys

    probe = (
        "import sys, runpy\n"
        "import alignlab.sweep, alignlab.run, alignlab.results\n"
        "sys.argv = ['alignlab', '--help']\n"
        "try:\n    runpy.run_module('alignlab', run_name='__main__')\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in ('torch', 'trl', 'mlflow', 'optuna', 'transformers') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stdout[-2000:]
