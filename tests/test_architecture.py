"""The layout's promises, checked on the source: no import cycle, small modules, one MLflow importer,
and no algorithm-name branches outside the algorithm modules and the recommendation tables."""

from __future__ import annotations

import ast
import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "alignlab"
#: One pure data table may reach 600 lines (the recommendation rules).
LIMITS = {"recommend/rules.py": 600}


def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _top_level_imports(path: Path, modules: dict[str, Path]) -> set[str]:
    """alignlab modules imported at module level (not inside functions, not under TYPE_CHECKING)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            continue
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        found |= {n for n in names if n in modules}
    return found


def test_no_import_cycle() -> None:
    modules = _modules()
    graph = {name: _top_level_imports(path, modules) - {name} for name, path in modules.items()}
    # A package's __init__ importing its own submodules is how a package exposes them, not a cycle.
    for name, deps in graph.items():
        graph[name] = {d for d in deps if not (d.startswith(name + ".") and modules[name].name == "__init__.py")}
    cycles: list[list[str]] = []
    state: dict[str, int] = {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for dep in sorted(graph[node]):
            if state.get(dep) == 1:
                cycles.append([*stack[stack.index(dep):], dep])
            elif dep not in state:
                visit(dep, [*stack, dep])
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert cycles == []


def test_no_module_is_over_500_lines() -> None:
    long = {
        str(p.relative_to(PACKAGE)): n
        for p in PACKAGE.rglob("*.py")
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > LIMITS.get(str(p.relative_to(PACKAGE)), 500)
    }
    assert long == {}


def test_only_tracking_imports_mlflow() -> None:
    importers = sorted(
        str(p.relative_to(PACKAGE))
        for p in PACKAGE.rglob("*.py")
        if re.search(r"^\s*(import mlflow|from mlflow)", p.read_text(encoding="utf-8"), flags=re.M)
    )
    assert importers == ["run/tracking.py"]


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
