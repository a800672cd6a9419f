"""Model runs (admin keys only): start RFM, CLV or persona clustering; see how it went.

``POST /v1/model-runs`` records a ``model_runs`` row (``queued``) and returns its id at once;
a background thread (one at a time, :class:`Runner`) computes on a read cursor of its own and
hands only the finished tables to the writer thread, which replaces ``rfm`` / ``clv`` /
``clusters`` + ``personas`` and marks the run ``succeeded`` (or ``failed`` with the error) in
one transaction. Ingestion never waits for the computation, only for that short write.

Example:
    >>> router.prefix
    '/v1/model-runs'
"""

from __future__ import annotations

import concurrent.futures
import json
import logging
import uuid
from datetime import date, datetime
from typing import Annotated, Any, Literal

import ibis
from fastapi import APIRouter, Query, status
from pydantic import BaseModel, ConfigDict, Field

from segmint import storage
from segmint.errors import NotFoundError, SegmintError
from segmint.server.deps import AdminKey, State
from segmint.server.profiles import actor

__all__ = ["Runner", "queue_run", "router"]

log = logging.getLogger("segmint.server")

router = APIRouter(prefix="/v1/model-runs", tags=["model runs"])

Model = Literal["rfm", "clv", "personas"]


class RunIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: Model
    as_of: date | None = Field(None, description="default: the day of the latest order")


class RunOut(BaseModel):
    run_id: str
    model: str
    status: str
    params: dict[str, Any]
    requested_by: str | None = None
    created_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    rows: int | None = None
    error: str | None = None


class Runner:
    """One background thread that runs models; results are written through the writer."""

    def __init__(self, state) -> None:
        self.state = state
        self._pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="segmint-model")

    def stop(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def submit(self, run_id: str, model: str, as_of: date | None) -> concurrent.futures.Future:
        return self._pool.submit(self._run, run_id, model, as_of)

    def _set(self, run_id: str, **values: Any) -> None:
        names = list(values)
        sets = ", ".join(f"{n} = ${i + 2}" for i, n in enumerate(names))
        sql = f"UPDATE model_runs SET {sets} WHERE run_id = $1"  # constant column names

        def write(ws):
            ws.con.con.execute(sql, [run_id, *values.values()])

        self.state.writer.call(write).result()

    def _run(self, run_id: str, model: str, as_of: date | None) -> None:
        try:
            self._set(run_id, status="running", started_at=self.state.now())
            tables = compute(self.state.reader(), model, as_of)
            rows = tables[next(iter(tables))].num_rows
            now = self.state.now()

            def write(ws):
                for name, data in tables.items():
                    storage.replace_table(ws.con, name, data)
                ws.con.con.execute(
                    "UPDATE model_runs SET status = 'succeeded', finished_at = $2, rows = $3 "
                    "WHERE run_id = $1",
                    [run_id, now, rows],
                )

            self.state.writer.call(write).result()
        except Exception as exc:  # the run fails, the service does not
            if not isinstance(exc, SegmintError):
                log.exception("model run %s (%s) failed", run_id, model)
            self._set(
                run_id,
                status="failed",
                finished_at=self.state.now(),
                error=f"{type(exc).__name__}: {exc}"[:2000],
            )


def compute(ws, model: str, as_of: date | None) -> dict[str, Any]:
    """Tables a run replaces (Arrow), computed on ``ws`` (a read cursor); nothing is written."""
    from segmint.features import rfm
    from segmint.features.purchases import parse_as_of

    day = ws.default_as_of() if as_of is None else parse_as_of(as_of)
    if model == "rfm":
        bins = rfm.check_bins(ws.config.rfm_bins)
        expr = ws.rfm(as_of=day, bins=bins)
        expr = expr.mutate(as_of=ibis.date(day), bins=ibis.literal(bins, type="int64"))
        return {"rfm": expr.to_pyarrow()}
    if model == "clv":
        table = ws.clv(as_of=day, save=False).table
        return {"clv": table.to_pyarrow() if hasattr(table, "to_pyarrow") else table}
    from segmint.models.persona import cluster_customers, persona_records
    from segmint.workspace import _explain  # the explanation stored with the cards

    features = ws.customer_features(day).to_pandas()
    result = cluster_customers(features, random_state=0)
    clusters = result.table()
    personas = persona_records(result.personas, _explain(features, result))
    return {
        "clusters": clusters.to_pyarrow() if hasattr(clusters, "to_pyarrow") else clusters,
        "personas": personas.to_pyarrow() if hasattr(personas, "to_pyarrow") else personas,
    }


def _out(row: dict) -> RunOut:
    row = dict(row)
    row["params"] = json.loads(row.get("params") or "{}")
    return RunOut(**row)


def _runner(state) -> Runner:
    runner = getattr(state, "runner", None)
    if runner is None:
        runner = state.runner = Runner(state)
    return runner


@router.post(
    "",
    operation_id="model_runs_start",
    response_model=RunOut,
    status_code=status.HTTP_202_ACCEPTED,
)
async def start_run(body: RunIn, state: State, key: AdminKey) -> RunOut:
    """Start a model run in the background; poll ``GET /v1/model-runs/{run_id}``."""
    row = _new_run(state, body.model, body.as_of, actor(key))
    await state.writer.run(_insert_run(row))
    _runner(state).submit(row["run_id"], body.model, body.as_of)
    return _out(row)


def _new_run(state, model: str, as_of: date | None, requested_by: str | None) -> dict[str, Any]:
    params = {"as_of": as_of.isoformat() if as_of else None}
    return {
        "run_id": f"run_{uuid.uuid4().hex[:16]}",
        "model": model,
        "status": "queued",
        "params": json.dumps(params),
        "requested_by": requested_by,
        "created_at": state.now(),
    }


def _insert_run(row: dict[str, Any]):
    def write(ws):
        cols = list(row)
        ws.con.con.execute(
            f"INSERT INTO model_runs ({', '.join(cols)}) "
            f"VALUES ({', '.join(f'${i + 1}' for i in range(len(cols)))})",
            list(row.values()),
        )

    return write


def queue_run(
    state, model: Model, as_of: date | None = None, *, requested_by: str | None = None
) -> RunOut:
    """Record and start a model run from a worker thread (not the event loop), as
    ``POST /v1/model-runs`` does: the web app's "run RFM now" button. Returns the queued run.
    """
    row = _new_run(state, model, as_of, requested_by)
    state.writer.call(_insert_run(row)).result()
    _runner(state).submit(row["run_id"], model, as_of)
    return _out(row)


@router.get("", operation_id="model_runs_list", response_model=list[RunOut])
def list_runs(
    state: State, key: AdminKey, limit: Annotated[int, Query(ge=1, le=500)] = 50
) -> list[RunOut]:
    """Model runs, newest first."""
    t = state.reader().table("model_runs")
    rows = t.order_by(ibis.desc("created_at")).limit(limit).to_pyarrow().to_pylist()
    return [_out(r) for r in rows]


@router.get("/{run_id}", operation_id="model_runs_get", response_model=RunOut)
def get_run(run_id: str, state: State, key: AdminKey) -> RunOut:
    """One run: ``queued``, ``running``, ``succeeded`` (with ``rows``) or ``failed``."""
    t = state.reader().table("model_runs")
    rows = t.filter(t.run_id == ibis.literal(run_id)).to_pyarrow().to_pylist()
    if not rows:
        raise NotFoundError(
            f"There is no model run '{run_id}'.", hint="GET /v1/model-runs lists them."
        )
    return _out(rows[0])
