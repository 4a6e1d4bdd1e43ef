"""The package's layering: no import cycles, and the pipeline's modules stay small (docs/how-it-works.md)."""

from __future__ import annotations

import ast
import functools
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "durabletask_payloads"
#: The modules of the pipeline and its drivers, each one job (docs/how-it-works.md, The layers).
PIPELINE = [
    "_driver.py",
    "_pipeline.py",
    "_verified_write.py",
    "_codec.py",
    "stores/_memory.py",
    "stores/_filesystem.py",
]


def _module(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _parse(path: Path) -> ast.Module:
    source = path.read_text(encoding="utf-8")
    for _ in range(3):
        try:
            return ast.parse(source)
        except SystemError:
            # CPython 3.11.7 keeps the AST constructor's recursion depth in shared state: an
            # ast.parse in another thread at the same moment (3.11's traceback formatting uses one)
            # leaves "AST constructor recursion depth mismatch". It is that thread's, not the file's.
            continue
    return ast.parse(source)


@functools.cache
def _graph() -> dict[str, set[str]]:
    """Module -> the package's modules it imports (anywhere in it, but under ``if TYPE_CHECKING``)."""
    paths = {_module(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in paths.items():
        tree = _parse(path)
        typing_only = {
            id(sub)
            for node in ast.walk(tree)
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
            for sub in ast.walk(node)
        }
        package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
        deps: set[str] = set()
        for node in ast.walk(tree):
            if id(node) in typing_only or not isinstance(node, ast.ImportFrom) or not node.level:
                continue
            base = ".".join(package[: len(package) - node.level + 1] + ([node.module] if node.module else []))
            for alias in node.names:
                deps.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in paths else base)
        graph[name] = {d for d in deps if d in paths and d != name}
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    done: set[str] = set()

    def visit(node: str, path: list[str]) -> list[str] | None:
        if node in path:
            return [*path[path.index(node) :], node]
        if node in done:
            return None
        for dep in sorted(graph[node]):
            found = visit(dep, [*path, node])
            if found:
                return found
        done.add(node)
        return None

    for node in sorted(graph):
        found = visit(node, [])
        if found:
            return found
    return None


def test_no_module_imports_itself_round_about() -> None:
    graph = _graph()
    assert len(graph) > 50  # the walk found the package
    assert graph["durabletask_payloads.stores._memory"] >= {"durabletask_payloads._pipeline"}
    assert _cycle(graph) is None


def test_the_pipeline_modules_are_under_400_lines() -> None:
    sizes = {name: len((PACKAGE / name).read_text(encoding="utf-8").splitlines()) for name in PIPELINE}
    assert max(sizes.values()) <= 400, sizes


def test_drivers_know_nothing_of_the_pipeline_machinery() -> None:
    """The contract module imports only the exceptions: no codec, cache, retry or store base."""
    assert _graph()["durabletask_payloads._driver"] == {"durabletask_payloads._exceptions"}


def _reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen: set[str] = set()
    todo = [start]
    while todo:
        for dep in graph[todo.pop()] - seen:
            seen.add(dep)
            todo.append(dep)
    return seen


def test_the_codec_stands_below_the_store_contract() -> None:
    """The codec builds PayloadInfo from record headers without importing the store ABC (issue 14)."""
    graph = _graph()
    below = _reachable(graph, "durabletask_payloads._codec")
    assert "durabletask_payloads._info" in below
    assert "durabletask_payloads._store" not in below


def test_payload_info_is_one_class_wherever_it_is_imported_from() -> None:
    """Moving PayloadInfo to its own module changed no public name."""
    import durabletask_payloads
    from durabletask_payloads import _info, _store

    assert durabletask_payloads.PayloadInfo is _store.PayloadInfo is _info.PayloadInfo
