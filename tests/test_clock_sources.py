"""Every "now" of the product comes from the injected clock: no module reads the wall clock itself.

The one default clock is `utc_now` (what `create_app` gets when nobody injects one). Durations and
deadlines use `time.monotonic`, which says nothing about the date and is allowed.
"""

from __future__ import annotations

import ast
from pathlib import Path

import aurora

WALL_CLOCK_CALLS = {("datetime", "now"), ("datetime", "utcnow"), ("datetime", "today"), ("date", "today"), ("time", "time")}
DEFAULT_CLOCK = "utc_now"
# Wall-clock reads that are not the product's "now", each with why.
OTHER_CLOCKS = {
    # Flask-Limiter's windows end at wall-clock epoch seconds (limits takes no clock): Retry-After is
    # the time until that end, on the same clock.
    "aurora/api/rate_limit.py": [(92, "time.time()")],
    # The simulated Discord's own clock, apart from the app's on purpose: the bot measures its
    # offset from Discord's Date headers, as it does with the real Discord.
    "aurora/demo/simulation/rest.py": [(82, "time.time()")],
    "aurora/demo/simulation/gateway.py": [(72, "time.time()")],
}


def wall_clock_reads(source: str) -> list[tuple[int, str]]:
    """(line, call) of every wall-clock read outside the function named DEFAULT_CLOCK."""
    found = []

    def visit(node: ast.AST, inside_default: bool) -> None:
        if isinstance(node, ast.FunctionDef):
            inside_default = inside_default or node.name == DEFAULT_CLOCK
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            owner = node.func.value
            name = owner.id if isinstance(owner, ast.Name) else getattr(owner, "attr", None)
            if (name, node.func.attr) in WALL_CLOCK_CALLS and not inside_default:
                found.append((node.lineno, f"{name}.{node.func.attr}()"))
        for child in ast.iter_child_nodes(node):
            visit(child, inside_default)

    visit(ast.parse(source), False)
    return found


def test_the_checker_sees_a_wall_clock_read():
    assert wall_clock_reads("from datetime import datetime\nx = datetime.now()\n") == [(2, "datetime.now()")]
    assert wall_clock_reads("import datetime\nx = datetime.datetime.now(UTC)\n") == [(2, "datetime.now()")]
    assert wall_clock_reads("def utc_now():\n    return datetime.now(UTC)\n") == []


def test_no_product_module_reads_the_wall_clock():
    package = Path(aurora.__file__).resolve().parent
    reads = {
        str(path.relative_to(package.parent)): found
        for path in sorted(package.rglob("*.py"))
        if (found := wall_clock_reads(path.read_text()))
    }
    assert reads == OTHER_CLOCKS
