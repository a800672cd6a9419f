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

    #: store per-customer order totals for live previews (the service sets it on its readers;
    #: see :meth:`_stored_inputs`)
    store_live_inputs: bool = False

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
    def import_file(
        self,
        kind: str,
        path: str | Path,
        *,
        mapping: dict[str, str] | None = None,
        source: str | None = None,
        refunds: bool = False,
        sheet: str | None = None,
        encoding: str | None = None,
        delimiter: str | None = None,
        date_order: str | None = None,
        progress=None,
    ):
        """Import a CSV, Parquet or Excel file of ``customers``, ``orders``, ``order_items`` or
        ``events``; all rows land or none (``ImportValidationError`` lists every problem).

        ``mapping`` ({field: column}) wins over automatic header mapping; ``source`` names the
        system the file comes from (default: shopify/hubspot for their exports, else the file
        name); ``refunds=True`` accepts negative amounts as refunds; ``progress(step, done,
        total)`` is called while reading, validating and writing. Returns an ``ImportResult``.

        Example: ``ws.import_file("orders", "orders.xlsx", mapping={"amount": "Total"})``
        """
        from segmint import importer

        return importer.import_file(
            self.con,
            self.config,
            kind,
            path,
            mapping=mapping,
            source=source,
            refunds=refunds,
            sheet=sheet,
            encoding=encoding,
            delimiter=delimiter,
            date_order=date_order,
            progress=progress,
        )

    # -- analyses (segmint.features, segmint.models) ---------------------------------------------
    def latest_order_time(self):
        """The time of the latest counted order (naive UTC), None without one.

        Looked up among the orders of the last 31 days before the newest order first (a time
        filter that skips older storage blocks), then among all orders.
        """
        from segmint.features.purchases import counted_orders

        orders = self.table("orders")
        counted = counted_orders(orders, as_of=None)
        newest = orders.view().ts.max()  # over every order (a separate relation)
        for found in (counted.filter(counted.ts >= newest - ibis.interval(days=31)), counted):
            latest = found.ts.max().execute()
            if latest is not None and latest == latest:  # not None, not NaT
                return latest.to_pydatetime() if hasattr(latest, "to_pydatetime") else latest
        return None

    def default_as_of(self):
        """The day of the latest counted order: the default as-of date of RFM, BTYD and ABC."""
        from segmint.errors import DataError

        latest = self.latest_order_time()
        if latest is None:
            raise DataError(
                "The workspace has no completed orders, so there is nothing to analyse.",
                hint="import orders with `segmint import orders FILE` (or try `segmint demo`).",
            )
        return latest.date()

    def rfm(self, as_of: Any = None, bins: int | None = None, *, save: bool = False) -> ibis.Table:
        """RFM scores and named segments per customer (see :mod:`segmint.features.rfm`).

        ``as_of`` defaults to :meth:`default_as_of`, ``bins`` to ``rfm_bins`` of the config.
        ``save=True`` stores the result as table ``rfm`` (with columns ``as_of`` and ``bins``)
        and returns the stored table.
        """
        from segmint.features import rfm

        day = self._as_of(as_of)
        n_bins = rfm.check_bins(self.config.rfm_bins if bins is None else bins)
        expr = rfm.rfm(self.table("orders"), as_of=day, bins=n_bins)
        if not save:
            return expr
        recorded = {"as_of": ibis.date(day), "bins": ibis.literal(n_bins, type="int64")}
        return self.save("rfm", expr.mutate(**recorded))

    def btyd_summary(self, as_of: Any = None, unit: str = "D", *, from_rfm: bool = False):
        """frequency, recency, T, monetary_value per customer (see :mod:`segmint.features.btyd`).

        ``from_rfm=True`` derives them from the saved ``rfm`` table (its as-of date) instead of
        reading the orders again: RFM and BTYD then cost one pass over the orders together.
        """
        from segmint.errors import ValidationError
        from segmint.features import btyd

        if not from_rfm:
            return btyd.btyd_summary(self.table("orders"), as_of=self._as_of(as_of), unit=unit)
        saved = self.table("rfm")
        saved_day = saved.as_of.max().execute()
        if saved_day is None:
            return btyd.btyd_summary(self.table("orders"), as_of=self._as_of(as_of), unit=unit)
        saved_day = saved_day.date() if hasattr(saved_day, "date") else saved_day
        if as_of is not None and self._as_of(as_of) != saved_day:
            raise ValidationError(
                f"The saved rfm table is as of {saved_day}. "
                f"Got as_of={self._as_of(as_of)} instead.",
                hint="run ws.rfm(as_of=..., save=True) for that day, or leave out from_rfm.",
            )
        return btyd.btyd_from_summary(saved, as_of=saved_day, unit=unit)

    def abc(self, as_of: Any = None, *, thresholds=None, save: bool = False) -> ibis.Table:
        """ABC (Pareto) classes by revenue share (see :mod:`segmint.features.abc`).

        ``thresholds`` defaults to (0.8, 0.95); ``save=True`` stores table ``abc`` (with
        ``as_of``) and returns it.
        """
        from segmint.features import abc

        day = self._as_of(as_of)
        limits = abc.DEFAULT_THRESHOLDS if thresholds is None else thresholds
        expr = abc.abc(self.table("orders"), as_of=day, thresholds=limits)
        return self.save("abc", expr.mutate(as_of=ibis.date(day))) if save else expr

    # CLV and churn risk (issue 4; segmint.predict) --------------------------------------------
    def clv(
        self,
        as_of: Any = None,
        *,
        horizon_months: int = 12,
        discount_rate_monthly: float = 0.01,
        save: bool = True,
        penalizer: float | None = None,
    ):
        """Fit BG/NBD + Gamma-Gamma on the BTYD summary (days) and score every customer.

        Returns a ``CLVResult``: ``.table`` (customer_id, p_alive, expected_purchases,
        expected_spend, clv, churn_risk, as_of; stored as table ``clv`` when ``save``) and
        ``.params`` (estimates with standard errors). ``penalizer=None`` falls back to a small
        L2 penalty only for a fit that does not converge (``.penalizers`` says which).
        Example: ``ws.clv().params``
        """
        from dataclasses import replace

        from segmint import predict

        day = self._as_of(as_of)
        result = predict.clv(
            self.btyd_summary(as_of=day, unit="D"),
            day,
            horizon_months=horizon_months,
            discount_rate_monthly=discount_rate_monthly,
            penalizer=penalizer,
        )
        return replace(result, table=self.save("clv", result.table)) if save else result

    # clustering and personas (issue 4; segmint.models.cluster / persona) -----------------------
    def customer_features(self, as_of: Any = None, *, profile_columns=("gender", "country")):
        """One row per profile of order, event and profile features (an ibis expression)."""
        from segmint.features.customer_features import customer_features

        tables = self.con.list_tables()
        return customer_features(
            self.table("orders"),
            as_of=self._as_of(as_of),
            profiles=self.table("profiles") if "profiles" in tables else None,
            events=self.table("events") if "events" in tables else None,
            profile_columns=profile_columns,
        )

    def personas(self, as_of: Any = None, *, save: bool = False, **params: Any):
        """Cluster the customers with an order and describe each cluster (a ``ClusterResult``:
        ``.model``, ``.personas``, ``.table()``); people without an order share one fixed card,
        "Not yet customers" (cluster -1). ``params`` go to ``ClusterSegmenter`` (e.g.
        ``min_clusters=3, max_clusters=5, random_state=0``); ``save=True`` stores table
        ``clusters`` (customer_id, cluster, persona, persona_zh_hant; every profile) for use in
        segment definitions, and table ``personas`` (one row per card: the cards and each
        cluster's discriminant explanation, see
        :func:`~segmint.models.persona.persona_records`) for the report.
        """
        from segmint.models.persona import cluster_customers, persona_records

        features = self.customer_features(as_of).to_pandas()
        result = cluster_customers(features, **params)
        if save:
            self.save("clusters", result.table())
            self.save("personas", persona_records(result.personas, _explain(features, result)))
        return result

    def clusters(self, as_of: Any = None, *, save: bool = False, **params: Any) -> ibis.Table:
        """customer_id → cluster, persona, persona_zh_hant (see :meth:`personas`) as an ibis
        table; ``save=True`` also stores table ``personas``."""
        result = self.personas(as_of, save=save, **params)
        return self.table("clusters") if save else result.table()

    def _as_of(self, as_of: Any):
        from segmint.features.purchases import parse_as_of

        return self.default_as_of() if as_of is None else parse_as_of(as_of)

    # -- segments (segmint.segments; issue 3) ------------------------------------------------------
    def segment_definitions(self, defs: Any = None):
        """Resolved definitions: ``defs`` (sets, specs, dicts or files) or, by default, the
        built-in library plus ``<workspace>/segments/*.yaml``."""
        from segmint import segments

        return segments.resolve_all(self._segment_sets(defs), self._segment_tables(None))

    def segments_run(self, defs: Any = None, as_of: Any = None):
        """Evaluate every definition and record membership history; returns a ``RunResult``.

        ``as_of`` (a date means the end of that day) defaults to the day of the latest order.
        Example: ``ws.segments_run().to_frame()``
        """
        from segmint import segments

        at = self._segment_as_of(as_of)
        tables = self._segment_tables(at)
        resolved = segments.resolve_all(self._segment_sets(defs), tables)
        tables = self._stored_inputs(tables, list(resolved), at)
        return segments.run(self.con, resolved, tables, at, timezone=self.config.timezone)

    def segment_preview(self, spec: Any, limit: int = 20, *, as_of: Any = None):
        """Count and sample of an (unsaved) definition, or of a known segment by slug.

        ``spec`` is a slug, a file, a ``SegmentSpec`` or its dict; it may refer to library and
        workspace segments, and replaces a saved definition with the same slug.
        Example: ``ws.segment_preview("rfm_champions").count``
        """
        from segmint import segments

        at = self._segment_as_of(as_of)
        tables = self._segment_tables(at)
        slug, sets = self._with_spec(spec)
        resolved = segments.resolve_all(sets, tables)
        tables = self._stored_inputs(tables, [resolved[slug]], at, totals=True)
        return segments.preview(
            resolved[slug], tables, at, limit=limit, timezone=self.config.timezone
        )

    def segment_diff(self, date_a: Any, date_b: Any, *, segments=None):
        """Migration matrix of recorded membership between two dates (pandas, with ``(none)``)."""
        from segmint import segments as seg

        return seg.diff(self.con, date_a, date_b, segments=segments)

    def explain_segment(self, slug: str, customer_id: str, *, as_of: Any = None):
        """Why ``customer_id`` is (or is not) in segment ``slug``: an ``Explanation``."""
        from segmint import segments

        at = self._segment_as_of(as_of)
        tables = self._segment_tables(at)
        resolved = segments.resolve_all(self._segment_sets(None), tables)
        tables = self._stored_inputs(tables, [resolved[slug]], at)
        return segments.explain_customer(
            resolved[slug], tables, customer_id, at, timezone=self.config.timezone
        )

    def tags_add(self, tag: str, customer_ids, *, source: str = "manual") -> int:
        """Give ``tag`` to customers by id; returns how many newly got it."""
        from segmint import segments

        return segments.add_tags(self.con, tag, customer_ids, source=source)

    def tags_remove(self, tag: str, customer_ids=None) -> int:
        """Take ``tag`` from customers (from everyone when ``customer_ids`` is None)."""
        from segmint import segments

        return segments.remove_tags(self.con, tag, customer_ids)

    def _segment_sets(self, defs: Any) -> list:
        from segmint import segments
        from segmint.rules import load_specs, parse_specs

        if defs is None:
            return list(segments.load_definitions(self.path))
        items = defs if isinstance(defs, list | tuple) else [defs]
        out = []
        for item in items:
            if isinstance(item, str | Path):
                out += load_specs(item)
            else:
                out.append(parse_specs(item))
        return out

    def _with_spec(self, spec: Any) -> tuple[str, list]:
        from segmint import segments
        from segmint.rules import load_specs, parse_specs

        saved = list(segments.load_definitions(self.path))
        if isinstance(spec, str) and not Path(spec).suffix:
            return spec, saved  # a slug
        new = list(load_specs(spec)) if isinstance(spec, str | Path) else [parse_specs(spec)]
        mine = {x.slug for st in new for x in st.segments}
        kept = []
        for st in saved:
            rest = tuple(x for x in st.segments if x.slug not in mine)
            if rest:
                kept.append(
                    st.model_copy(update={"segments": rest}) if len(rest) < len(st.segments) else st
                )
        return new[0].segments[0].slug, kept + new

    def _segment_as_of(self, as_of: Any):
        from datetime import UTC, datetime

        from segmint import segments
        from segmint.errors import DataError

        if as_of is not None:
            return segments.as_of_instant(as_of)
        try:
            return segments.as_of_instant(self.default_as_of())
        except DataError:  # no orders yet: now
            return datetime.now(UTC).replace(tzinfo=None)

    def _segment_tables(self, at):
        """Canonical tables plus the metric providers ``rfm`` and ``abc`` as of ``at``, and the
        stored model outputs ``clv`` (:meth:`clv`) and ``clusters`` (:meth:`clusters`) once they
        exist (with their own as-of day); ``occasions`` and ``places`` come from
        :meth:`_reference_metrics`."""
        from datetime import timedelta

        from segmint import segments

        if at is None:
            at = self._segment_as_of(None)
        day = (at - timedelta(microseconds=1)).date()
        stored = self.con.list_tables()
        # building these expressions costs ~0.1 s (schema look-ups): a live builder asks for the
        # same day's again and again; built again when the stored tables change
        kept = tuple(sorted(t for t in stored if not t.startswith(("_segmint_", "ibis_"))))
        key = (day, self.config.rfm_bins, self.config.timezone, kept)
        hit = getattr(self, "_segment_tables_memo", None)
        if hit is not None and hit[0] == key:
            return hit[1]
        metrics = {"rfm": self.rfm(as_of=day), "abc": self.abc(as_of=day)}
        metrics.update(self._reference_metrics(day))
        for name in ("clv", "clusters"):
            if name in stored:
                metrics[name] = self.table(name)
        tables = segments.tables_of(self.con, metrics)
        self._segment_tables_memo = (key, tables)
        return tables

    # -- order-derived inputs stored once per version of the orders (segmint.materialise) -------
    def _stored_inputs(self, tables, used: list, at, *, totals: bool = False):
        """``tables`` with the order-derived metric tables (``rfm``, ``abc``, ``occasions``)
        that the segments ``used`` read stored once per version of the orders instead of
        computed from every order in each query, and with per-customer ``order_totals`` at
        ``at`` when ``totals`` and a segment can read them (the live preview). Same rows as the
        expressions (see :mod:`segmint.materialise`); other engines get ``tables`` unchanged."""
        from dataclasses import replace
        from datetime import timedelta

        import segmint
        from segmint import materialise
        from segmint.features import abc
        from segmint.rules.compile import order_totals, reads_order_totals
        from segmint.segments import metric_providers

        if self.con.name != "duckdb" or not used:
            return tables
        tz = self.config.timezone
        names = set().union(*(metric_providers(x) for x in used)) & set(tables.metrics)
        names &= {"rfm", "abc", "occasions"}
        with_totals = totals and any(reads_order_totals(x, at, timezone=tz) for x in used)
        if not names and not with_totals:
            return tables
        version = materialise.orders_version(self.con)
        day = (at - timedelta(microseconds=1)).date()
        code = segmint.__version__  # a new release may compute them differently
        params = {
            "rfm": {"as_of": day, "bins": self.config.rfm_bins, "code": code},
            "abc": {"as_of": day, "thresholds": abc.DEFAULT_THRESHOLDS, "code": code},
            "occasions": {"as_of": day, "timezone": tz, "code": code},
        }
        metrics = dict(tables.metrics)
        for name in sorted(names):
            metrics[name] = materialise.stored(
                self.con, name, params[name], metrics[name], version=version
            )
        out = replace(tables, metrics=metrics)
        if with_totals:
            # storing them costs a pass over every order (seconds at 10M): worth it for the
            # service's builder, which previews again and again; a one-off preview only reads
            # them when they are there
            key = {"as_of": at, "code": code}
            if self.store_live_inputs:
                expr = order_totals(tables.orders, at)
                found = materialise.stored(self.con, "order_totals", key, expr, version=version)
            else:
                found = materialise.existing(self.con, "order_totals", key, version=version)
            if found is not None:
                out = replace(out, order_totals=found, order_totals_as_of=at)
        return out

    # -- audiences and exports (segmint.activation.audience, segmint.audiences; issue 3) --------
    def audience(self, segment, channel: str, *, exclude=(), as_of: Any = None) -> ibis.Table:
        """Members of ``segment`` (a slug or several) minus ``exclude`` whom ``channel``
        (whatsapp, email, sms) may reach now: current consent and a valid phone / e-mail.

        An ibis table (customer_id, name, first_name, phone or email, language, country,
        rfm_segment); nothing is written. Example: ``ws.audience("rfm_champions", "whatsapp")``
        """
        return self._audience(segment, channel, exclude, as_of).table

    def audience_export(
        self,
        segment,
        channel: str,
        *,
        exclude=(),
        format: str = "csv",
        path: str | Path | None = None,
        as_of: Any = None,
        by: str | None = None,
    ):
        """Write :meth:`audience` as spreadsheet-safe CSV or exact JSON and log the export.

        ``path`` defaults to ``<workspace>/exports/``; ``by`` to the OS user. Returns an
        ``ExportResult`` (path, rows, dropped per reason, export_id, table, frame); file and
        log rows are written all or nothing. Example:
        ``ws.audience_export("rfm_champions", "whatsapp", exclude=["vip"]).dropped``
        """
        from segmint import audiences
        from segmint.activation.audience import check_channel
        from segmint.activation.writers import check_format

        check_channel(channel)
        check_format(format)
        aud = self._audience(segment, channel, exclude, as_of)
        return audiences.export_audience(
            self.con, aud, fmt=format, path=path, folder=self.path, by=by
        )

    def audience_log(self, limit: int | None = 20) -> ibis.Table:
        """Recent audience exports, newest first (the ``audience_exports`` table)."""
        from segmint import audiences

        return audiences.recent_exports(self.con, limit)

    def _audience(self, segment, channel: str, exclude, as_of: Any):
        from segmint import segments
        from segmint.activation.audience import build_audience, check_channel

        channel = check_channel(channel)
        at = self._segment_as_of(as_of)
        tables = self._segment_tables(at)
        resolved = segments.resolve_all(self._segment_sets(None), tables)
        tables = self._stored_inputs(tables, _named(resolved, segment, exclude), at)
        return build_audience(
            resolved, segment, channel, tables, at, exclude=exclude, timezone=self.config.timezone
        )

    # -- campaigns: broadcasts and their measurement (segmint.campaigns; issue 6) ----------------
    def campaign_create(self, spec: Any, *, campaign_id: str | None = None, by: str | None = None):
        """Check and store a broadcast (a ``BroadcastSpec``, its dict or a YAML file; see
        docs/campaigns.md); nothing is sent. Returns the ``campaigns`` row as a dict.
        Example: ``ws.campaign_create("spring.yaml")["campaign_id"]``
        """
        from segmint import campaigns
        from segmint.activation.broadcast import load_broadcast, parse_broadcast
        from segmint.audiences import default_exported_by

        parsed = load_broadcast(spec) if isinstance(spec, str | Path) else parse_broadcast(spec)
        known = {s.slug for st in self.segment_definitions().sets for s in st.segments}
        return campaigns.create_campaign(
            self.con, parsed, known_segments=known, campaign_id=campaign_id,
            by=(by or "").strip() or default_exported_by(), currency=self.config.currency,
        )  # fmt: skip

    def campaigns(self) -> ibis.Table:
        """Every campaign, newest first (the ``campaigns`` table)."""
        from segmint import campaigns

        return campaigns.list_campaigns(self.con)

    def campaign_preview(
        self, campaign_id: str, *, customer_ids=None, limit: int = 10, as_of: Any = None
    ):
        """Rendered messages for a few recipients (or ``customer_ids``) with variant, language
        and offer code, plus who is left out and why; writes nothing. Returns ``Prepared``
        (``.frame()``, ``.failures``, ``.dropped``, ``.counts()``)."""
        from segmint import campaigns

        _row, spec = campaigns.get_campaign(self.con, campaign_id)
        audience, members = self._campaign_audience(spec, as_of)
        return campaigns.preview(
            self.con, campaign_id, spec, audience, members, customer_ids=customer_ids, limit=limit
        )

    def campaign_export(
        self, campaign_id: str, *, format: str = "csv", path: str | Path | None = None,
        allow_failures: bool = False, as_of: Any = None,
    ):  # fmt: skip
        """Render every message and write them as CSV/JSON for the channel's tool (default
        ``<workspace>/exports/<campaign_id>.csv``); records recipients and Message Sent events.
        One rendering failure refuses the export unless ``allow_failures``. Returns a
        ``SendResult``."""
        return self._campaign_deliver(
            campaign_id, "export", as_of, allow_failures, fmt=format, path=path
        )

    def campaign_send(
        self, campaign_id: str, *, url: str | None = None, secret: str | None = None,
        allow_failures: bool = False, as_of: Any = None, client: Any = None,
    ):  # fmt: skip
        """Render every message and POST them, HMAC-signed, to the webhook (``url`` / ``secret``
        or ``campaigns.webhook_url`` / ``webhook_secret`` of segmint.yaml); records recipients
        (sent or failed per batch) and Message Sent events. Returns a ``SendResult``."""
        from segmint.config import resolve_secret

        cfg = self.config.campaigns
        secret = secret or (
            resolve_secret(cfg.webhook_secret, where="campaigns.webhook_secret")
            if cfg.webhook_secret
            else None
        )
        return self._campaign_deliver(
            campaign_id, "webhook", as_of, allow_failures, url=url or cfg.webhook_url,
            secret=secret, client=client,
        )  # fmt: skip

    def campaign_kpis(self, campaign_id: str):
        """Recipients, sent, delivered, read, clicked, converted, revenue, ROI per campaign,
        variant and segment, and lift over the holdout: a ``CampaignKPIs``."""
        from segmint import campaigns

        return campaigns.kpis(self.con, campaign_id)

    def campaign_ab(self, campaign_id: str, *, kpis=None):
        """A/B statistics of a sent campaign (z-test, chi-square, Welch, intervals) with
        verdicts in English and Traditional Chinese: an ``ABReport``. ``kpis`` (from
        :meth:`campaign_kpis`) saves computing them again."""
        from segmint import campaigns

        return campaigns.ab_report(self.con, campaign_id, kpis)

    def campaign_map_messages(self, campaign_id: str, mapping) -> int:
        """Record the channel's message ids (customer_id, provider_message_id) of a campaign,
        so status events that carry only those ids count in its KPIs."""
        from segmint import campaigns

        return campaigns.map_messages(self.con, campaign_id, mapping)

    def _campaign_deliver(self, campaign_id, delivery, as_of, allow_failures, **kw):
        from segmint import campaigns

        _row, spec = campaigns.get_campaign(self.con, campaign_id)
        audience, members = self._campaign_audience(spec, as_of)
        prepared = campaigns.prepare(self.con, campaign_id, spec, audience, members)
        return campaigns.deliver(
            self.con, prepared, delivery=delivery, folder=self.path,
            allow_failures=allow_failures, **kw,
        )  # fmt: skip

    def _campaign_audience(self, spec, as_of: Any):
        from segmint import segments
        from segmint.activation.audience import build_audience, segment_members

        at = self._segment_as_of(as_of)
        tables = self._segment_tables(at)
        resolved = segments.resolve_all(self._segment_sets(None), tables)
        tables = self._stored_inputs(tables, _named(resolved, spec.segments, spec.exclude), at)
        tz = self.config.timezone
        audience = build_audience(
            resolved, spec.segments, spec.channel, tables, at, exclude=spec.exclude, timezone=tz
        )
        members = [
            (s, segment_members(resolved, [s], tables, at, timezone=tz)) for s in spec.segments
        ]
        return audience, members

    # -- API keys of the service (segmint.keys; issue 5) -------------------------------------------
    def keys_create(self, scope: str, *, name: str | None = None):
        """Create an API key (``ingest`` or ``admin``); the returned ``.token`` is shown once.

        Example: ``ws.keys_create("ingest", name="website").token``
        """
        from segmint import keys

        return keys.create_key(self.con, scope, name=name)

    def keys_list(self) -> list:
        """Every API key (ids, names, scopes, times; never the tokens)."""
        from segmint import keys

        return keys.list_keys(self.con)

    def keys_revoke(self, key_id: str):
        """Revoke an API key by id; requests with it are refused from then on."""
        from segmint import keys

        return keys.revoke_key(self.con, key_id)

    # -- erasure and audit (segmint.erasure; issue 5, docs/server.md "Erasure") -----------------
    def erase(self, customer_id: str, *, by: str | None = None):
        """Remove a person from every table in one transaction, suppress re-creation from their
        identifiers and write an ``audit_log`` row (who, when, a random erasure id); returns an
        ``Erasure`` (counts only). ``by`` defaults to the OS user.
        Example: ``ws.erase("c_000042", by="dpo@shop.hk").erasure_id``
        """
        import datetime as dt

        from segmint import erasure
        from segmint.audiences import default_exported_by

        who = (by or "").strip() or default_exported_by()
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        with storage.transaction(self.con):
            return erasure.erase(self.con, self.config, customer_id, by=who, now=now)

    def segment_problems(self, spec: Any) -> list:
        """Every problem of a definition (a ``SegmentSpec`` or its dict) checked against the
        library and the workspace's own definitions: ``DefinitionProblem``s with JSON pointers,
        ``[]`` when it is valid. Nothing is saved or evaluated.
        Example: ``[p.pointer for p in ws.segment_problems({"slug": "x"})]``"""
        from segmint import segments
        from segmint.errors import DefinitionError
        from segmint.rules import parse_specs

        try:
            parsed = parse_specs(spec).segments[0]
            _slug, sets = self._with_spec(parsed)
            segments.resolve_all(sets, self._segment_tables(None))
        except DefinitionError as exc:
            return list(exc.problems)
        return []

    def audit_log(self, limit: int | None = 50) -> ibis.Table:
        """The audit log (erasures, consent changes through the API), newest first."""
        t = self.table("audit_log").order_by(ibis.desc("at"))
        return t.limit(limit) if limit else t

    # -- users of the web app (segmint.users; issue 6, docs/web.md) -------------------------------
    def users_create(self, username: str, password: str, *, language: str | None = None):
        """Create a web app user (password ≥ 8 characters, stored as a scrypt hash); the
        language defaults to the workspace's. Example: ``ws.users_create("mei", "…").username``
        """
        from segmint import users

        lang = language or self.config.language
        return users.create_user(self.con, username, password, language=lang)

    def users_list(self) -> list:
        """Every web app user (names, languages, times; never the password hashes' inputs)."""
        from segmint import users

        return users.list_users(self.con)

    def users_passwd(self, username: str, password: str):
        """Change a user's password (their open web sessions end)."""
        from segmint import users

        return users.set_password(self.con, username, password)

    def users_disable(self, username: str, disabled: bool = True):
        """Disable (``disabled=False``: enable again) a user; disabled users cannot log in."""
        from segmint import users

        return users.set_disabled(self.con, username, disabled)

    # -- segment diagnostics (segmint.segments_check; issue 3, "Diagnostics") --------------------
    def segments_check(
        self, defs: Any = None, as_of: Any = None, *, today: Any = None, **thresholds: Any
    ):
        """Check segment definitions for the classic mistakes; returns a ``CheckReport``
        (``.findings``, ``.sizes``, ``.overlap`` Jaccard matrix, ``.coverage``, ``.to_frame()``).

        ``defs`` and ``as_of`` as in :meth:`segments_run`; ``today`` (default: today, UTC) dates
        the review check; ``thresholds`` override ``segment_checks`` of ``segmint.yaml``.
        Example: ``ws.segments_check(min_size=100).to_frame()``
        """
        import inspect
        from datetime import UTC, datetime

        from segmint import segments, segments_check
        from segmint.features.purchases import parse_as_of
        from segmint.models.diagnostics import thresholds as merge_thresholds

        cfg = merge_thresholds(self.config.segment_checks, **thresholds)
        day = datetime.now(UTC).date() if today is None else parse_as_of(today)
        at = self._segment_as_of(as_of)
        tables = self._segment_tables(at)
        resolved = segments.resolve_all(self._segment_sets(defs), tables)
        tables = self._stored_inputs(tables, list(resolved), at)
        others = [] if defs is None else [segments.resolve_all(self._segment_sets(None), tables)]
        model = inspect.signature(self.customer_features).parameters["profile_columns"].default
        return segments_check.check(
            self.con,
            resolved,
            tables,
            at,
            cfg=cfg,
            today=day,
            timezone=self.config.timezone,
            folder=self.path,
            others=others,
            model_fields=model,
        )

    # reference-data metrics (issue 3: holiday buyers, urban/rural; segmint.features) ----------
    def _reference_metrics(self, day) -> dict:
        """Metric providers built from reference data as of ``day``: ``occasions`` (orders in
        the days before each holiday, in the workspace time zone) and ``places`` (urbanity)."""
        from segmint.features.occasions import occasion_orders
        from segmint.features.places import place_urbanity

        orders = occasion_orders(self.table("orders"), as_of=day, timezone=self.config.timezone)
        return {"occasions": orders, "places": place_urbanity(self.table("profiles"))}

    # -- web app pages: builder, broadcast form (issue 6, segmint.server.web; docs/web.md) -------
    def segment_catalog(self, as_of: Any = None):
        """What definitions can refer to here: a ``Catalog`` of the tables and metric providers
        (event names unchecked, as in :meth:`segment_preview`). Nothing runs but the as-of date.
        Example: ``ws.segment_catalog().metric_names()[:2]``"""
        return self._segment_tables(self._segment_as_of(as_of)).catalog(event_names=None)

    def segment_save(self, spec: Any, *, replace: bool = False) -> Path:
        """Check a definition (a ``SegmentSpec`` or its dict) against the library and the
        workspace's own, then write it as ``<workspace>/segments/<slug>.yaml`` (all or nothing).
        ``replace=True`` overwrites that file. Example: ``ws.segment_save(spec_dict)``"""
        from segmint import segments
        from segmint.rules import parse_specs

        parsed = parse_specs(spec).segments[0]
        segments.check_new_definition(self.path, parsed, replace=replace)
        _slug, sets = self._with_spec(parsed)
        segments.resolve_all(sets, self._segment_tables(None))  # raises with every problem
        return segments.save_definition(self.path, parsed, replace=replace)

    def campaign_reach(self, spec: Any, *, as_of: Any = None) -> tuple[int, dict[str, int]]:
        """(recipients, left out per reason) of a broadcast (a ``BroadcastSpec``, its dict or a
        YAML file) that is not stored yet: consent, contact, exclusions and the frequency cap.
        Example: ``ws.campaign_reach("spring.yaml")[1]["no_consent"]``"""
        from segmint import campaigns
        from segmint.activation.broadcast import load_broadcast, parse_broadcast

        parsed = load_broadcast(spec) if isinstance(spec, str | Path) else parse_broadcast(spec)
        audience, _members = self._campaign_audience(parsed, as_of)
        return campaigns.reach(self.con, parsed, audience)

    # -- workflows and real-time membership (segmint.workflows, segmint.server.realtime; issue 5) -
    def segment_tables(self, as_of: Any):
        """The tables ``segments_run`` evaluates at instant ``as_of`` (canonical tables and metric
        providers); the service's real-time evaluator filters them to the customers it
        re-evaluates. Example: ``ws.segment_tables("2026-06-30").metrics["rfm"]``"""
        from segmint import segments

        return self._segment_tables(segments.as_of_instant(as_of))

    def workflows(self, paths: Any = None) -> list:
        """Workflow definitions: ``paths`` (files) or ``<workspace>/workflows/*.yaml``; raises
        with every problem (file, JSON pointer, did-you-mean). Example: ``ws.workflows()``"""
        from segmint import workflows
        from segmint.activation import workflows as wf

        files = wf.workflow_files(self.path) if paths is None else list(paths)
        found = wf.load_workflows(files) if files else []
        if found:
            tables = self._segment_tables(None)
            resolved = self.segment_definitions()
            secret = self.config.workflows.webhook_secret
            workflows.check(found, resolved, tables.catalog(event_names=None), secret=secret)
        return found

    def workflow_runs(self, workflow: str | None = None, limit: int = 50) -> list[dict]:
        """The latest workflow runs, newest first (table ``workflow_runs``)."""
        from segmint import workflows

        return workflows.runs(self.con, workflow=workflow, limit=limit)

    def webhook_dead_letters(self, *, include_replayed: bool = False) -> list[dict]:
        """Workflow webhooks that failed every try (table ``webhook_dead_letters``)."""
        from segmint import workflows

        return workflows.dead_letters(self.con, include_replayed=include_replayed)

    def webhook_replay(self, letter_id: str, *, client: Any = None):
        """Send a dead letter again, signed with ``workflows.webhook_secret``; a ``Delivery``."""
        from segmint import workflows
        from segmint.activation.workflows import check_secret
        from segmint.config import resolve_secret

        cfg = self.config.workflows
        secret = check_secret(cfg.webhook_secret)
        secret = resolve_secret(secret, where="workflows.webhook_secret")
        return workflows.replay(
            self.con, letter_id, secret, timeout=cfg.webhook_timeout_seconds, client=client
        )

    # -- report (segmint.report) -----------------------------------------------------------------
    def report(
        self,
        path: str | Path | None = None,
        *,
        lang: str | None = None,
        as_of: Any = None,
    ) -> Path:
        """Write the self-contained HTML report; return its absolute path.

        ``path`` defaults to ``report.html`` in the workspace folder, ``lang`` (``"en"`` or
        ``"zh-Hant"``) to the ``language`` setting, ``as_of`` (RFM/ABC date) to the latest order.
        For the HTML text itself use ``segmint.report.build_report(ws)``.
        """
        from segmint import report

        return report.write_report(self, path, lang=lang, as_of=as_of)


def _named(resolved: Any, segments: Any, exclude: Any = ()) -> list:
    """The resolved segments named in ``segments`` (a slug or several) and ``exclude`` (unknown
    slugs are left to the caller's own error)."""
    slugs = [segments] if isinstance(segments, str) else list(segments or ())
    slugs += [exclude] if isinstance(exclude, str) else list(exclude or ())
    known = resolved.segments
    return [known[x] for x in slugs if x in known]


#: Customers sampled (seeded) for the discriminant explanation stored with the personas.
EXPLAIN_SAMPLE = 20_000


def _explain(features: Any, result: Any, *, sample: int = EXPLAIN_SAMPLE, seed: int = 0) -> dict:
    """cluster → :class:`~segmint.models.explain.Explanation` of membership among the clustered
    customers (buyers), on a seeded sample of at most ``sample`` of them (a cluster too small in
    the sample gets none; the rule-defined "not yet customers" card needs none)."""
    import numpy as np

    from segmint.errors import ValidationError
    from segmint.models.explain import explain_membership

    # result rows are sorted by customer id: align the features with them
    features = features.set_index("customer_id").loc[result.customer_ids].reset_index()
    labels = np.asarray(result.labels)
    if result.clustered is not None:
        features = features[result.clustered].reset_index(drop=True)
        features = features.drop(columns=["browse_only"], errors="ignore")
        labels = labels[result.clustered]
    rows = np.arange(len(features))
    if len(rows) > sample:
        rows = np.sort(np.random.default_rng(seed).choice(rows, size=sample, replace=False))
    X, lab = features.iloc[rows].reset_index(drop=True), labels[rows]
    out = {}
    for card in result.personas:
        try:
            out[card.cluster] = explain_membership(X, lab == card.cluster, random_state=seed)
        except ValidationError:
            continue
    return out
