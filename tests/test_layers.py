"""The layers hold: only the outer layer (bootstrap, the CLI, Studio) knows the sandbox exists.

Production clients, nodes and the run manager must behave the same against GitHub and
against the sandbox; an import of `enigma.sandbox` there is how a sandbox-only branch would
creep in. The check reads the source (ast), so imports inside functions count too.
"""

from __future__ import annotations

import ast
import asyncio
from pathlib import Path

import pytest

from enigma.graph import build_graph

PACKAGE = Path(__file__).resolve().parents[1] / "backend" / "enigma"
OUTER = ("bootstrap*.py", "cli*.py", "studio*.py")
"""Modules that may import the sandbox: they start it, or describe it to the clients."""
INNER = [
    *sorted((PACKAGE / "integrations").rglob("*.py")),
    *sorted((PACKAGE / "nodes").rglob("*.py")),
    *sorted((PACKAGE / "runs").rglob("*.py")),
    PACKAGE / "graph.py",
    PACKAGE / "context.py",
]


def imports_of(source: str, module: str = "enigma.sandbox") -> list[int]:
    """Lines that import `module` (or a module of it), at any depth."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        if any(n == module or n.startswith(f"{module}.") for n in names):
            lines.append(node.lineno)
    return lines


def _outer(path: Path) -> bool:
    return path.parent == PACKAGE and any(path.match(pattern) for pattern in OUTER)


def test_the_check_sees_every_form_of_import() -> None:
    source = """
import enigma.sandbox.server
from enigma import sandbox
from enigma.sandbox.server import SandboxUrls
def later():
    from enigma.sandbox import core
from enigma import settings
import enigma.sandboxed
"""
    assert imports_of(source) == [2, 3, 4, 6]


@pytest.mark.parametrize("path", INNER, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_inner_layers_do_not_import_the_sandbox(path: Path) -> None:
    assert imports_of(path.read_text()) == []


GRAPH_LAYER = [
    PACKAGE / "graph.py",
    PACKAGE / "context.py",
    *sorted((PACKAGE / "nodes").glob("*.py")),
]


@pytest.mark.parametrize("path", GRAPH_LAYER, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_the_graph_layer_builds_no_clients(path: Path) -> None:
    """Clients come in through `Context.clients`; none are built (or cached) from settings."""
    assert imports_of(path.read_text(), "enigma.integrations.factory") == []


def test_only_the_outer_layer_imports_the_sandbox() -> None:
    offenders = {
        str(path.relative_to(PACKAGE)): lines
        for path in sorted(PACKAGE.rglob("*.py"))
        if "sandbox" not in path.relative_to(PACKAGE).parts[:-1] and not _outer(path)
        if (lines := imports_of(path.read_text()))
    }
    assert offenders == {}


def test_a_run_without_clients_is_refused_where_it_starts() -> None:
    """No hidden fallback to clients "from the environment": the caller must hand them in."""
    graph = build_graph()
    start = {"fix_version": "2.4.0", "repositories": ["payments-api"], "release_type": "minor"}
    with pytest.raises(TypeError, match="clients"):
        asyncio.run(graph.ainvoke(start))
    with pytest.raises(TypeError, match="clients"):
        asyncio.run(graph.ainvoke(start, context={"project": "ENG"}))  # what Studio sends
