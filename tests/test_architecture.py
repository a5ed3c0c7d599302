"""The layout's rules (docs/architecture.md), checked on the source so they stay true.

Layers, lowest first: ``model`` (pure data and rules) < ``store`` and ``system`` < ``wire``
< ``spec`` < ``k8s`` < ``job`` | ``backends`` < ``client`` | the operator < the ``kinetic``
package's public façade < ``cli``. A module imports only its own layer and lower ones, with
two stricter rules: the job side never imports the caller's side (client, backends, cli),
and the operator never imports the client, the backends or the job. Every import counts,
function-local ones included.
"""

from __future__ import annotations

import ast
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCES = [*ROOT.glob("kinetic/**/*.py"), *ROOT.glob("operator/kinetic_operator/**/*.py")]

RANK = {
    "model": 0,
    "store": 1,
    "system": 1,
    "wire": 2,
    "spec": 3,
    "k8s": 4,
    "job": 5,
    "backends": 5,
    "client": 6,
    "operator": 6,
    "facade": 7,
    "cli": 8,
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[0] == "operator":
        parts = parts[1:]
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def layer(module: str) -> str:
    parts = module.split(".")
    if parts[0] == "kinetic_operator":
        return "operator"
    if len(parts) == 1:
        return "facade"
    return parts[1] if parts[1] in RANK else "facade"


def imports_of(path: Path, runtime_only: bool = False) -> list[tuple[int, str]]:
    """(line, module) of every kinetic import in the file, wherever it stands; with
    ``runtime_only``, not those under ``if TYPE_CHECKING:`` (annotations only)."""
    tree = ast.parse(path.read_text())
    typing_only = {
        id(inner)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING"
        for stmt in node.body
        for inner in ast.walk(stmt)
    }
    found = []
    for node in ast.walk(tree):
        if runtime_only and id(node) in typing_only:
            continue
        if isinstance(node, ast.ImportFrom) and node.level:
            found.append((node.lineno, "<relative>"))
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            found += [(node.lineno, n) for n in names if _ours(n) and _is_module(n)]
        elif isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if _ours(a.name)]
    return found


def _ours(name: str) -> bool:
    return name.split(".")[0] in ("kinetic", "kinetic_operator")


MODULES = {module_name(p) for p in SOURCES}


def _is_module(name: str) -> bool:
    return name in MODULES


def test_every_module_has_a_layer():
    assert all(layer(m) in RANK for m in MODULES)


def allowed(src: str, dst: str) -> bool:
    a, b = layer(src), layer(dst)
    if a == b:
        return True
    if a == "job" and b in ("client", "backends", "cli", "operator"):
        return False
    if a == "operator" and b in ("client", "backends", "job", "cli", "facade"):
        return False
    return RANK[b] < RANK[a]


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_imports_go_one_way(path: Path):
    src = module_name(path)
    wrong = [
        f"line {line}: {src} ({layer(src)}) imports {dst} ({layer(dst)})"
        for line, dst in imports_of(path)
        if dst == "<relative>" or not allowed(src, dst)
    ]
    assert not wrong, "\n".join(wrong)


def test_no_import_cycle():
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    for path in SOURCES:
        src = module_name(path)
        for _line, dst in imports_of(path, runtime_only=True):
            # A package's __init__ is imported with any of its modules: not a real edge.
            if dst in MODULES and dst != src and not src.startswith(dst + "."):
                graph[src].add(dst)
    seen: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(node: str, trail: list[str]) -> None:
        seen[node] = 1
        for nxt in sorted(graph[node]):
            if seen.get(nxt) == 1:
                cycle = [*trail[trail.index(nxt) :], nxt] if nxt in trail else [node, nxt]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if nxt not in seen:
                visit(nxt, [*trail, nxt])
        seen[node] = 2

    for m in sorted(graph):
        if m not in seen:
            visit(m, [m])


def test_no_two_modules_share_a_name():
    names = Counter(p.stem for p in SOURCES if p.stem not in ("__init__", "__main__"))
    assert [n for n, count in names.items() if count > 1] == []
