"""Schema versions and migrations of a workspace's DuckDB file."""

from __future__ import annotations

import datetime as dt

import ibis
import pyarrow as pa
import pytest

from segmint import storage
from segmint.errors import WorkspaceError
from segmint.schema import SCHEMA_VERSION, TABLES
from segmint.workspace import Workspace


def _set_version(con, version: int) -> None:
    data = pa.table({"key": ["schema_version"], "value": [str(version)]})
    con.create_table(storage.META_TABLE, data, overwrite=True)


def test_a_version_1_workspace_gains_the_new_tables_and_keeps_its_rows(tmp_path):
    with Workspace.create(tmp_path / "shop") as ws:
        order = {"order_id": "o1", "customer_id": "c1", "ts": dt.datetime(2026, 1, 2)}
        ws.con.insert("orders", ibis.memtable([order]))
        ws.con.drop_table("import_log")  # stands for a table that version 1 did not have
        _set_version(ws.con, 1)
    with Workspace.open(tmp_path / "shop") as ws:
        assert ws.schema_version == SCHEMA_VERSION == storage.read_schema_version(ws.con)
        assert set(TABLES) <= set(ws.con.list_tables())
        assert ws.table("orders").to_pandas()["order_id"].tolist() == ["o1"]


def test_every_version_has_a_migration():
    assert sorted(storage.MIGRATIONS) == list(range(1, SCHEMA_VERSION + 1))


def test_a_newer_workspace_is_refused_with_a_hint(tmp_path):
    with Workspace.create(tmp_path / "shop") as ws:
        _set_version(ws.con, SCHEMA_VERSION + 1)
    with pytest.raises(WorkspaceError, match="newer than this segmint") as info:
        Workspace.open(tmp_path / "shop")
    assert "pip install -U segmint" in str(info.value)


def test_a_table_added_without_a_version_bump_is_created_on_open(tmp_path):
    with Workspace.create(tmp_path / "shop") as ws:
        ws.con.drop_table("tags")  # stands for a table added to TABLES after this file was made
    with Workspace.open(tmp_path / "shop") as ws:
        assert "tags" in ws.con.list_tables()
        assert storage.read_schema_version(ws.con) == SCHEMA_VERSION
