"""The import graph: no module imports from a layer above its own, and no route reads a table itself.

Layers, lowest first: the contract (fieldspec, errors, records, changes, settings), then db and sources (side by
side, neither knowing the other), then sync (planning), then services, then the boundaries (api, cli, web). Every
import counts, including those inside functions (the CLI imports lazily for start-up time).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src" / "modelsync"
RANK = {"contract": 0, "db": 1, "sources": 1, "sync": 2, "services": 3, "api": 4, "web": 4, "cli": 5}
# Peers that must not know each other even though they share a rank.
SEPARATE = {("db", "sources"), ("sources", "db")}


def layer(module: str) -> str:
    """The layer of a dotted module name under modelsync."""
    parts = module.split(".")
    if len(parts) > 1 and parts[1] in RANK:
        return parts[1]
    return "contract"


def modules() -> dict[str, Path]:
    found = {}
    for path in SRC.rglob("*.py"):
        relative = path.relative_to(SRC.parent).with_suffix("")
        name = ".".join(relative.parts)
        found[name.removesuffix(".__init__")] = path
    return found


def imports(module: str, path: Path) -> set[str]:
    """Every modelsync module a file imports, at any depth of the file."""
    tree = ast.parse(path.read_text())
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith("modelsync"))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            if target.startswith("modelsync"):
                found.add(target)
                found.update(f"{target}.{alias.name}" for alias in node.names)
    known = modules()
    return {name for name in found if name in known}


ALL = modules()


@pytest.mark.parametrize("module", sorted(ALL))
def test_no_module_imports_from_a_layer_above_it(module):
    own = layer(module)
    for target in imports(module, ALL[module]):
        other = layer(target)
        assert RANK[other] <= RANK[own], f"{module} ({own}) imports {target} ({other}), a layer above it"
        assert (own, other) not in SEPARATE, f"{module} ({own}) imports {target} ({other})"


@pytest.mark.parametrize("module", sorted(name for name in ALL if name.startswith("modelsync.api.routes")))
def test_no_route_reads_a_table_itself(module):
    reached = {target for target in imports(module, ALL[module]) if target.startswith("modelsync.db")}
    assert not reached, f"{module} imports {sorted(reached)}; read through a service instead"
    tree = ast.parse(ALL[module].read_text())
    names = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    assert "sqlalchemy" not in names, f"{module} builds its own queries; read through a service instead"


@pytest.mark.parametrize("module", sorted(name for name in ALL if name.startswith("modelsync.web")))
def test_no_web_module_reads_the_database_itself(module):
    """Web pages and forms read and write through services only: no modelsync.db, no sqlalchemy, at any depth."""
    reached = {target for target in imports(module, ALL[module]) if target.startswith("modelsync.db")}
    assert not reached, f"{module} imports {sorted(reached)}; read through a service instead"
    tree = ast.parse(ALL[module].read_text())
    names = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    names |= {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert not any(name.split(".")[0] == "sqlalchemy" for name in names), f"{module} imports sqlalchemy"


def test_the_graph_checker_sees_function_level_and_relative_imports(tmp_path):
    """The checker itself: an upward import inside a function is found."""
    probe = tmp_path / "probe.py"
    probe.write_text("def f():\n    from modelsync.services.sync import run_sync\n")
    assert "modelsync.services.sync" in imports("modelsync.db.probe", probe)
    assert layer("modelsync.services.sync") == "services" and layer("modelsync.records") == "contract"
