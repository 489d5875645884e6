"""The import graph: no circle among aurora's modules, and bench/ and tests/ apart.

Every import counts: at module level, inside a function, and under `TYPE_CHECKING`. Data flows one
way (settings -> storage/queries -> stats -> api/layouts); where a lower part must name a higher
one it uses a `Protocol` or is handed a callable. The bench may use aurora but never the tests, and
the tests never import the bench (they may run a bench script as a subprocess).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def module_files(root: Path, package: str) -> dict[str, Path]:
    """Dotted module name -> file, for every module of `package` under `root`."""
    modules = {}
    for path in (root / package).rglob("*.py"):
        parts = path.relative_to(root).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


def imported_names(path: Path) -> Iterator[str]:
    """Every dotted name `path` imports, wherever the import statement is."""
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module
            # `from package import module` imports that module.
            yield from (f"{node.module}.{alias.name}" for alias in node.names)


def import_graph(modules: Mapping[str, Path]) -> dict[str, set[str]]:
    """Module -> the modules of `modules` it imports (a name resolves to its longest known module)."""
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for target in imported_names(path):
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target and target != name:
                graph[name].add(target)
    return graph


def circles(graph: Mapping[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, successors = work[-1]
            for successor in successors:
                if successor not in index:
                    index[successor] = low[successor] = len(index)
                    stack.append(successor)
                    on_stack.add(successor)
                    work.append((successor, iter(sorted(graph[successor]))))
                    break
                if successor in on_stack:
                    low[node] = min(low[node], index[successor])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    group = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        group.append(member)
                        if member == node:
                            break
                    if len(group) > 1:
                        found.append(sorted(group))
    return found


def test_the_detector_finds_a_circle_in_a_synthetic_graph():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a", "e"}, "e": set()}
    assert circles(graph) == [["a", "b", "c"]]
    assert circles({"a": {"b"}, "b": {"c"}, "c": set()}) == []


def test_the_detector_sees_type_checking_and_function_level_imports(tmp_path):
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "low.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.high import High\n"
    )
    (package / "high.py").write_text("def build():\n    from pkg import low\n    return low\n")
    graph = import_graph(module_files(tmp_path, "pkg"))
    assert graph["pkg.low"] == {"pkg.high"} and "pkg.low" in graph["pkg.high"]
    assert circles(graph) == [["pkg.high", "pkg.low"]]


def test_no_import_circle_among_aurora_modules():
    modules = module_files(ROOT, "aurora")
    assert "aurora.web.install" in modules and "aurora" in modules  # the walk sees the package
    assert circles(import_graph(modules)) == []


def imports_of_package(folder: str, package: str) -> list[str]:
    """`folder`'s files that import `package` (or anything in it), with the imported name."""
    found = []
    for path in sorted((ROOT / folder).rglob("*.py")):
        for name in imported_names(path):
            if name == package or name.startswith(f"{package}."):
                found.append(f"{path.relative_to(ROOT)}: {name}")
    return found


def test_tests_never_import_the_bench_and_the_bench_never_imports_the_tests():
    assert imports_of_package("tests", "bench") == []
    assert imports_of_package("bench", "tests") == []


def test_the_package_check_sees_an_import_of_the_bench(tmp_path, monkeypatch):
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_x.py").write_text("def test():\n    from bench.common import progress\n")
    monkeypatch.setattr(f"{__name__}.ROOT", tmp_path)
    assert imports_of_package("tests", "bench") == ["tests/test_x.py: bench.common", "tests/test_x.py: bench.common.progress"]
