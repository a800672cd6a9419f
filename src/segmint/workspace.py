"""The workspace facade: one folder, one config file, one database (layer 4).

It owns the connection and delegates: builders in ``features/`` return ibis expressions, models
in ``models/`` fit on condensed data, ``storage`` writes. Analyses return ibis tables; call
``.to_pandas()`` or ``.to_pyarrow()`` where you want data.

Example:
    >>> import tempfile
    >>> ws = Workspace.create(tempfile.mkdtemp() + "/shop", default_region="TW")
    >>> ws.table("orders").count().execute()
    0
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import ibis

from segmint import storage
from segmint.config import CONFIG_FILE, Config
from segmint.connect import connect
from segmint.errors import NotFoundError, WorkspaceError, close_matches

__all__ = ["Workspace"]


class Workspace:
    """A segmint workspace.

    Use :meth:`create` or :meth:`open` for a folder with ``segmint.yaml`` and a DuckDB file, or
    pass any ibis backend as ``con`` (e.g. PySpark) to work on tables held elsewhere.
    """

    def __init__(self, con=None, *, config: Config | None = None, path: Path | None = None):
        self.config = config or Config()
        self.path = Path(path) if path is not None else None
        self.con = con if con is not None else connect(self.config.engine)
        self.schema_version = storage.ensure_schema(self.con)

    # -- opening -------------------------------------------------------------------------------
    @classmethod
    def create(cls, path: str | Path, *, exist_ok: bool = False, **settings: Any) -> Workspace:
        """Create a workspace folder with ``segmint.yaml`` and an empty database."""
        folder = Path(path)
        cfg_file = folder / CONFIG_FILE
        if cfg_file.exists() and not exist_ok:
            raise WorkspaceError(
                f"A workspace already exists at {folder}.",
                hint=f"open it with Workspace.open('{folder}') or choose another folder.",
            )
        folder.mkdir(parents=True, exist_ok=True)
        settings.setdefault("name", folder.resolve().name)
        config = Config.load(cfg_file) if cfg_file.exists() else Config(**settings)
        config.save(cfg_file)
        return cls._from_folder(folder, config)

    @classmethod
    def open(cls, path: str | Path = ".") -> Workspace:
        """Open an existing workspace folder (migrating its tables if it is older)."""
        folder = Path(path)
        cfg_file = folder / CONFIG_FILE
        if not cfg_file.exists():
            raise WorkspaceError(
                f"{folder.resolve()} is not a segmint workspace (no {CONFIG_FILE}).",
                hint="create one with `segmint init FOLDER` or pass --workspace FOLDER.",
            )
        return cls._from_folder(folder, Config.load(cfg_file))

    @classmethod
    def _from_folder(cls, folder: Path, config: Config) -> Workspace:
        db = folder / config.database
        try:
            con = connect(config.engine, db)
        except Exception as exc:  # e.g. database locked by another process
            if isinstance(exc, WorkspaceError | ImportError):
                raise
            raise WorkspaceError(
                f"Cannot open the database {db}: {exc}",
                hint="is another segmint process (e.g. `segmint serve`) using it?",
            ) from exc
        return cls(con, config=config, path=folder)

    def close(self) -> None:
        disconnect = getattr(self.con, "disconnect", None)
        if disconnect is not None:
            disconnect()

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        where = str(self.path) if self.path else self.con.name
        return f"Workspace({where!r})"

    # -- tables ----------------------------------------------------------------------------------
    def table(self, name: str) -> ibis.Table:
        """An ibis table of the workspace (canonical or a saved result)."""
        tables = self.con.list_tables()
        if name not in tables:
            raise NotFoundError(
                f"The workspace has no table '{name}'.", suggestions=close_matches(name, tables)
            )
        return self.con.table(name)

    def save(self, name: str, expr: ibis.Table) -> ibis.Table:
        """Materialise ``expr`` as table ``name`` (replacing it) and return the stored table."""
        with storage.transaction(self.con):
            storage.replace_table(self.con, name, expr)
        return self.con.table(name)

    # -- import (segmint.ingest + segmint.identity) ------------------------------------------------

    # -- analyses (segmint.features, segmint.models) ---------------------------------------------

    # -- report (segmint.report) -----------------------------------------------------------------
