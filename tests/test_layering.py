"""Each module imports only from layers below it (DESIGN.md, "Layers")."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "segmint"

#: top-level module or package of segmint → layer
LAYERS = {
    "errors": 0,
    "schema": 1,
    "connect": 1,
    "config": 1,
    "ingest": 2,
    "identity": 2,
    "features": 2,
    "rules": 2,
    "demo": 2.1,  # the demo plants its groups on reference data of features/ (holidays)
    "datasets": 2,
    "models": 3,
    "activation": 3,
    # layer 4 is ordered inside: storage < importer, report < workspace (the facade on top)
    "storage": 4.0,
    "erasure": 4.05,  # erasure, suppressions, audit log (issue 5)
    "materialise": 4.05,  # order-derived tables stored once per orders version (issue 6)
    "importer": 4.1,
    "report": 4.1,
    "segments": 4.1,
    "predict": 4.1,
    "audiences": 4.1,  # audience exports with their log (issue 3)
    "keys": 4.1,  # API keys of the service (issue 5)
    "users": 4.1,  # users of the web app (issue 6)
    "campaigns": 4.1,  # broadcasts: create, preview, send/export, KPIs (issue 6)
    "workflows": 4.1,  # workflow runs, dead letters, tags and lists of actions (issue 5)
    "segments_check": 4.15,  # segments check: gathers inputs, runs the diagnostics
    "workspace": 4.2,
    "cli": 5.1,  # above the server: `segmint serve` starts it (issue 5)
    "server": 5,
}

#: Modules allowed to execute queries against an engine. Models may pull the condensed data they
#: fit on (e.g. distinct frequency/recency/T patterns) inside fit/predict, nothing else.
EXECUTORS = {
    *("workspace", "storage", "importer", "report", "segments", "predict"),
    *("cli", "server", "models"),
    "segments_check",  # segments check (issue 3, "Diagnostics")
    "audiences",  # audience exports with their log (issue 3)
    "keys",  # API keys of the service (issue 5)
    "users",  # users of the web app (issue 6)
    "campaigns",  # broadcasts: create, preview, send/export, KPIs (issue 6)
    "erasure",  # erasure, suppressions, audit log (issue 5)
    "materialise",  # order-derived tables stored once per orders version (issue 6)
    "workflows",  # workflow runs, dead letters, tags and lists of actions (issue 5)
}


def _top(module_path: Path) -> str:
    rel = module_path.relative_to(SRC)
    return rel.parts[0].removesuffix(".py")


def _segmint_imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.startswith("segmint.")]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            if (node.module or "").startswith("segmint."):
                found.append(node.module)
            elif node.module == "segmint":  # from segmint import storage
                found += [f"segmint.{a.name}" for a in node.names]
    return [name.split(".")[1] for name in found if name.split(".")[1] in LAYERS]


MODULES = sorted(p for p in SRC.rglob("*.py") if p.name != "__init__.py" or p.parent != SRC)


def test_every_top_level_module_has_a_layer():
    tops = {_top(p) for p in MODULES}
    assert tops <= set(LAYERS), (
        f"give these a layer in tests/test_layering.py: {tops - set(LAYERS)}"
    )


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(SRC)))
def test_imports_only_lower_layers(path: Path):
    me = _top(path)
    for other in _segmint_imports(path):
        if other == me:
            continue
        assert LAYERS[other] < LAYERS[me], (
            f"{path.relative_to(SRC)} (layer {LAYERS[me]}) imports segmint.{other} "
            f"(layer {LAYERS[other]})"
        )


@pytest.mark.parametrize(
    "path",
    [p for p in MODULES if _top(p) not in EXECUTORS],
    ids=lambda p: str(p.relative_to(SRC)),
)
def test_expression_layers_never_execute(path: Path):
    """features/, rules/, models/ … build expressions; only the workspace/CLI/server execute."""
    # to_pandas/to_pyarrow are not listed: pyarrow tables and ibis schemas share those names.
    executing = {"execute", "to_pyarrow_batches", "raw_sql", "create_table"}
    tree = ast.parse(path.read_text(encoding="utf-8"))
    calls = [
        f"{node.func.attr} (line {node.lineno})"
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in executing
    ]
    assert not calls, f"{path.relative_to(SRC)} executes: {calls}"
