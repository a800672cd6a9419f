"""Gather what the report shows: queries on the workspace → small pandas frames (layer 4).

Every query aggregates in the engine and brings back a handful of rows (per source, per field,
per segment, a few hundred points of the ABC curve), so a report of millions of customers stays
light. :func:`gather` returns a :class:`ReportData`; :mod:`segmint.report.page` turns it into
HTML without touching a database, so it can be tested on hand-made frames.

Example:
    >>> from segmint.workspace import Workspace
    >>> data = gather(Workspace())           # an empty in-memory workspace
    >>> data.overview["orders"]
    0
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from dataclasses import dataclass, field
from typing import Any

import ibis
import ibis.expr.types as ir
import pandas as pd
from ibis import _

from segmint.features.purchases import counted_orders
from segmint.features.purchases import parse_as_of as _parse_day
from segmint.schema import PROFILE_FIELDS

__all__ = ["CONSOLIDATED", "ReportData", "gather", "parse_as_of"]

#: Column name of the consolidated profiles in :attr:`ReportData.coverage`.
CONSOLIDATED = "__profiles__"

#: Points kept on the ABC curve (the curve is monotone; more points add bytes, not shape).
CURVE_POINTS = 200

#: Events listed in the overview.
TOP_EVENTS = 10

#: Bins of the CLV histogram (equal widths up to the 99th percentile; the last holds the rest).
CLV_BINS = 20

#: Churn-risk bands of the ``clv`` table, safest first.
CHURN_BANDS = ("low", "medium", "high")


def _frame(**columns: str) -> pd.DataFrame:
    return pd.DataFrame({name: pd.Series(dtype=dtype) for name, dtype in columns.items()})


@dataclass
class ReportData:
    """Everything the report shows, as scalars and small frames (no database needed to render).

    Frames and their columns:
        sources: source, records, people, orders, revenue, events
        monthly: month (first day, Timestamp), orders, revenue
        top_events: event, count
        coverage: index = profile field, columns = sources and :data:`CONSOLIDATED`; shares 0..1
        merges_by_type: id_type, merges, people (people having such an identifier)
        sources_per_person: n_sources (1, 2, 3 meaning 3+), people
        source_overlap: square frame source × source → people present in both
        segment_info: segment, title_en, title_zh, action_en, action_zh, description_en,
            description_zh (the named RFM segments, in the standard order)
        rfm_segments: segment, customers, share, revenue, revenue_share, mean_recency,
            mean_frequency, mean_monetary (one row per named segment, in the standard order)
        abc_classes: abc_class, customers, customer_share, revenue, revenue_share, threshold
        abc_curve: customer_share, revenue_share (from 0,0 to 1,1)
        clv: scalars of the stored ``clv`` table (empty when there is none): customers, total,
            mean, median, top_decile_share, as_of, horizon (of :data:`CLV_BINS` histogram bins)
        clv_histogram: bin_start, bin_end, customers (the last bin holds everything above it)
        churn_bands: churn_risk (low, medium, high), customers, share, clv, clv_share,
            mean_p_alive
        personas: one row per cluster of the stored ``clusters`` table (empty when there is
            none): cluster, customers, share (counted on ``clusters``), name_en, name_zh,
            value_share, preferred_channel, offer_en, offer_zh, description_en, description_zh,
            features (list of dicts: feature, label_en, label_zh_hant, cluster_mean, rest_mean,
            effect_size), rules (English) and rules_zh (list of text), tree_auc, lda_auc — the
            card fields from the stored ``personas`` table, missing (None / empty) when it does
            not exist; clusters in order, the "not yet customers" card (cluster -1) last
    """

    workspace_name: str = "segmint"
    currency: str = "HKD"
    as_of: dt.date | None = None
    generated_at: dt.datetime = field(
        default_factory=lambda: dt.datetime.now().replace(microsecond=0)
    )
    overview: dict[str, Any] = field(default_factory=dict)
    sources: pd.DataFrame = field(
        default_factory=lambda: _frame(
            source="object", records="int64", people="int64", orders="int64",
            revenue="float64", events="int64",
        )
    )  # fmt: skip
    monthly: pd.DataFrame = field(
        default_factory=lambda: _frame(month="datetime64[ns]", orders="int64", revenue="float64")
    )
    top_events: pd.DataFrame = field(default_factory=lambda: _frame(event="object", count="int64"))
    coverage: pd.DataFrame = field(default_factory=pd.DataFrame)
    identity: dict[str, Any] = field(default_factory=dict)
    merges_by_type: pd.DataFrame = field(
        default_factory=lambda: _frame(id_type="object", merges="int64", people="int64")
    )
    sources_per_person: pd.DataFrame = field(
        default_factory=lambda: _frame(n_sources="int64", people="int64")
    )
    source_overlap: pd.DataFrame = field(default_factory=pd.DataFrame)
    segment_info: pd.DataFrame = field(
        default_factory=lambda: _frame(
            segment="object", title_en="object", title_zh="object", action_en="object",
            action_zh="object", description_en="object", description_zh="object",
        )
    )  # fmt: skip
    rfm_bins: int = 5
    rfm_segments: pd.DataFrame = field(
        default_factory=lambda: _frame(
            segment="object", customers="int64", share="float64", revenue="float64",
            revenue_share="float64", mean_recency="float64", mean_frequency="float64",
            mean_monetary="float64",
        )
    )  # fmt: skip
    abc_classes: pd.DataFrame = field(
        default_factory=lambda: _frame(
            abc_class="object", customers="int64", customer_share="float64", revenue="float64",
            revenue_share="float64", threshold="float64",
        )
    )  # fmt: skip
    abc_curve: pd.DataFrame = field(
        default_factory=lambda: _frame(customer_share="float64", revenue_share="float64")
    )
    clv: dict[str, Any] = field(default_factory=dict)
    clv_histogram: pd.DataFrame = field(
        default_factory=lambda: _frame(bin_start="float64", bin_end="float64", customers="int64")
    )
    churn_bands: pd.DataFrame = field(
        default_factory=lambda: _frame(
            churn_risk="object", customers="int64", share="float64", clv="float64",
            clv_share="float64", mean_p_alive="float64",
        )
    )  # fmt: skip
    personas: pd.DataFrame = field(
        default_factory=lambda: _frame(
            cluster="int64", customers="int64", share="float64", name_en="object",
            name_zh="object", value_share="float64", preferred_channel="object",
            offer_en="object", offer_zh="object", description_en="object",
            description_zh="object", features="object", rules="object", rules_zh="object",
            tree_auc="float64", lda_auc="float64",
        )
    )  # fmt: skip


def parse_as_of(value: dt.date | dt.datetime | str | None) -> dt.date | None:
    """``None`` (or blank text) stays ``None``; anything else must be a day (``YYYY-MM-DD``).

    >>> parse_as_of("2026-06-30")
    datetime.date(2026, 6, 30)
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return _parse_day(value)


# -- helpers ---------------------------------------------------------------------------------------
def _one_row(expr: ir.Table) -> dict[str, Any]:
    df = expr.to_pandas()
    return {k: (None if pd.isna(v) else v) for k, v in df.iloc[0].items()}


def _int(x: Any) -> int:
    return 0 if x is None or pd.isna(x) else int(x)


def _to_datetime(x: Any) -> dt.datetime | None:
    return None if x is None or pd.isna(x) else pd.Timestamp(x).to_pydatetime()


def _utc_offset(timezone: str, when: dt.datetime | None) -> dt.timedelta:
    """Offset of ``timezone`` from UTC at ``when`` (default: now); stored timestamps are naive
    UTC. One offset for the whole report: exact for zones without daylight saving (HK, TW, SG),
    an hour off around the switch elsewhere, which moves no more than a month boundary."""
    try:
        tz = zoneinfo.ZoneInfo(timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return dt.timedelta(0)
    return (when or dt.datetime.now()).replace(tzinfo=tz).utcoffset() or dt.timedelta(0)


def _filled(col: ir.Column) -> ir.BooleanValue:
    """True where a profile field holds a value (blank text and empty JSON count as missing)."""
    known = col.notnull()
    if col.type().is_string():
        text = col.strip()
        known = known & ~text.isin(["", "{}", "[]", "null"])
    return known


def _source_name(col: ir.Column) -> ir.StringValue:
    return col.fill_null("")


# -- sections --------------------------------------------------------------------------------------
def _overview(ws: Any, orders: ir.Table, data: ReportData) -> None:
    """``orders`` are the counted orders (completed or without a status), of any date."""
    profiles, sp, events = ws.table("profiles"), ws.table("source_profiles"), ws.table("events")
    offset = _utc_offset(ws.config.timezone, None)

    # one pass over the orders: per source and local month; everything else adds these up
    local_ts = orders.ts + ibis.interval(seconds=int(offset.total_seconds()))
    cells = (
        orders.mutate(source=_source_name(orders.source), month=local_ts.truncate("M"))
        .group_by(["source", "month"])
        .aggregate(orders=_.count(), revenue=_.amount.sum(), first=_.ts.min(), last=_.ts.max())
        .to_pandas()
    )
    e = _one_row(
        events.aggregate(events=events.count(), first=events.ts.min(), last=events.ts.max())
    )
    local = lambda x: None if x is None or pd.isna(x) else _to_datetime(x) + offset  # noqa: E731
    n_orders, revenue = int(cells["orders"].sum()), float(cells["revenue"].sum())
    data.overview = {
        "customers": _int(profiles.count().execute()),
        "records": _int(sp.count().execute()),
        "orders": n_orders,
        "revenue": revenue,
        "aov": revenue / n_orders if n_orders else None,
        "first_order": local(cells["first"].min()) if n_orders else None,
        "last_order": local(cells["last"].max()) if n_orders else None,
        "events": _int(e["events"]),
        "first_event": local(e["first"]),
        "last_event": local(e["last"]),
    }

    # per source: records and people, orders and revenue, events
    per = [
        sp.group_by(source=_source_name(sp.source))
        .aggregate(records=_.count(), people=_.customer_id.nunique())
        .to_pandas(),
        cells.groupby("source", as_index=False)[["orders", "revenue"]].sum(),
        events.group_by(source=_source_name(events.source)).aggregate(events=_.count()).to_pandas(),
    ]
    sources = per[0]
    for frame in per[1:]:
        sources = sources.merge(frame, on="source", how="outer")
    sources = sources.reindex(columns=list(data.sources.columns))
    for col in ("records", "people", "orders", "events"):
        sources[col] = sources[col].fillna(0).astype("int64")
    sources["revenue"] = sources["revenue"].fillna(0.0).astype("float64")
    sources["source"] = sources["source"].astype("object")
    data.sources = sources.sort_values(["records", "orders", "events", "source"], ascending=[
        False, False, False, True
    ]).reset_index(drop=True)  # fmt: skip
    data.overview["sources"] = int((data.sources["source"] != "").sum())

    # revenue per month (in the workspace's time zone), with empty months shown as zero
    if n_orders:
        monthly = cells.groupby("month")[["orders", "revenue"]].sum()
        monthly.index = pd.to_datetime(monthly.index).astype("datetime64[ns]")
        months = pd.date_range(monthly.index.min(), monthly.index.max(), freq="MS")
        monthly = monthly.reindex(months, fill_value=0).rename_axis("month")
        data.monthly = monthly.reset_index().astype({"orders": "int64", "revenue": "float64"})

    name = ibis.coalesce(events.event, events.type, ibis.literal(""))
    data.top_events = (
        events.group_by(event=name)
        .aggregate(count=_.count())
        .order_by([ibis.desc("count"), "event"])
        .limit(TOP_EVENTS)
        .to_pandas()
        .astype({"count": "int64"})
    )


def _coverage(ws: Any, data: ReportData) -> None:
    sp, profiles = ws.table("source_profiles"), ws.table("profiles")
    fields = [f for f in PROFILE_FIELDS if f in sp.columns and f in profiles.columns]

    def shares(t: ir.Table) -> dict[str, ir.Value]:
        return {f: _filled(t[f]).ifelse(1.0, 0.0).mean() for f in fields}

    sp = sp.mutate(source=_source_name(sp.source))
    per_source = sp.group_by("source").aggregate(**shares(sp)).to_pandas()
    cov = per_source.set_index("source").T if len(per_source) else pd.DataFrame(index=fields)
    cov = cov.reindex(index=fields)
    order = data.sources["source"].tolist()
    cov = cov[[s for s in order if s in cov.columns] + [s for s in cov.columns if s not in order]]
    if _int(profiles.count().execute()):
        cov[CONSOLIDATED] = pd.Series(_one_row(profiles.aggregate(**shares(profiles))))
    cov.columns.name = None
    data.coverage = cov.astype("float64")


def _identity(ws: Any, data: ReportData) -> None:
    sp, ids, log = ws.table("source_profiles"), ws.table("identities"), ws.table("merge_log")
    records = data.overview.get("records", _int(sp.count().execute()))
    people = data.overview.get("customers", _int(ws.table("profiles").count().execute()))
    # (person, source) pairs: from the source records, else from the identifiers
    pairs_from = sp if records else ids
    pairs = (
        pairs_from.select(
            customer_id=pairs_from.customer_id, source=_source_name(pairs_from.source)
        )
        .filter(lambda t: t.customer_id.notnull())
        .distinct()
    )
    per_person = sp.filter(sp.customer_id.notnull()).group_by("customer_id").aggregate(n=_.count())
    stats = _one_row(per_person.aggregate(people=per_person.count(), largest=per_person.n.max()))
    data.identity = {
        "records": records,
        "people": people,
        "people_in_records": _int(stats["people"]),
        "merged_records": max(records - _int(stats["people"]), 0),
        "records_per_person": records / _int(stats["people"]) if stats["people"] else None,
        "largest": _int(stats["largest"]),
        "merges": _int(log.count().execute()),
    }

    merges = log.group_by("id_type").aggregate(merges=_.count()).to_pandas()
    holders = ids.group_by("id_type").aggregate(people=ids.customer_id.nunique()).to_pandas()
    by_type = merges.merge(holders, on="id_type", how="outer")
    by_type = by_type.assign(
        merges=by_type["merges"].fillna(0).astype("int64"),
        people=by_type["people"].fillna(0).astype("int64"),
    )
    data.merges_by_type = by_type.sort_values(
        ["merges", "people", "id_type"], ascending=[False, False, True]
    ).reset_index(drop=True)[["id_type", "merges", "people"]]

    k = pairs.group_by("customer_id").aggregate(k=_.count())
    bucket = ibis.least(k.k, 3)
    spp = k.group_by(n_sources=bucket).aggregate(people=_.count()).to_pandas()
    spp = spp.set_index("n_sources").reindex([1, 2, 3], fill_value=0).reset_index()
    data.sources_per_person = spp.astype("int64")

    other = pairs.rename(other_id="customer_id", b="source")
    both = (
        pairs.join(other, pairs.customer_id == other.other_id)
        .group_by(a="source", b="b")
        .aggregate(people=_.count())
        .to_pandas()
    )
    order = [s for s in data.sources["source"] if s in set(both["a"])] or sorted(set(both["a"]))
    overlap = both.pivot(index="a", columns="b", values="people")
    overlap = overlap.reindex(index=order, columns=order).fillna(0).astype("int64")
    overlap.index.name, overlap.columns.name = None, None
    data.source_overlap = overlap


def _rfm(ws: Any, day: dt.date, data: ReportData) -> None:
    from segmint.features.rfm import RFM_SEGMENTS, segment_summary

    data.segment_info = pd.DataFrame(
        [
            {
                "segment": s.slug,
                "title_en": s.title_en,
                "title_zh": s.title_zh,
                "action_en": s.action_en,
                "action_zh": s.action_zh,
                "description_en": s.description_en,
                "description_zh": s.description_zh,
            }
            for s in RFM_SEGMENTS.values()
        ],
        columns=list(data.segment_info.columns),
    )
    data.rfm_bins = getattr(ws.config, "rfm_bins", 5)
    seg = segment_summary(ws.rfm(as_of=day)).to_pandas().set_index("segment")
    slugs = list(RFM_SEGMENTS)
    seg = seg.reindex(slugs + [s for s in seg.index if s not in slugs])
    for col in ("customers", "share", "revenue", "revenue_share"):
        seg[col] = seg[col].fillna(0)
    seg["customers"] = seg["customers"].astype("int64")
    data.rfm_segments = seg.rename_axis("segment").reset_index()[list(data.rfm_segments.columns)]


def _abc(ws: Any, day: dt.date, data: ReportData) -> None:
    from segmint.features.abc import abc_curve, abc_summary

    # two queries read the classes: compute them once into a temporary table
    with ws.abc(as_of=day).cache() as classes:
        summary = abc_summary(classes).order_by("abc_class").to_pandas()
        curve = abc_curve(classes, points=CURVE_POINTS).to_pandas()
    if summary.empty:
        return
    summary["customers"] = summary["customers"].astype("int64")
    summary["threshold"] = summary["revenue_share"].cumsum()
    data.abc_classes = summary[list(data.abc_classes.columns)]
    origin = pd.DataFrame({"customer_share": [0.0], "revenue_share": [0.0]})
    data.abc_curve = pd.concat([origin, curve], ignore_index=True).astype("float64")


def _clv(ws: Any, data: ReportData) -> None:
    """CLV distribution, top-decile share and churn bands from the stored ``clv`` table (made by
    ``ws.clv()``; its own as-of date). Nothing when the workspace has no such table."""
    if "clv" not in ws.con.list_tables():
        return
    t = ws.table("clv")
    s = _one_row(
        t.aggregate(
            customers=t.count(),
            total=t.clv.sum(),
            mean=t.clv.mean(),
            median=t.clv.median(),
            p99=t.clv.quantile(0.99),
            high=t.clv.max(),
            as_of=t.as_of.max(),
        )
    )
    n = _int(s["customers"])
    if not n:
        return
    total = float(s["total"] or 0.0)
    ranked = t.mutate(decile=ibis.ntile(10).over(ibis.window(order_by=ibis.desc(t.clv))))
    top = _one_row(ranked.filter(ranked.decile == 0).aggregate(v=_.clv.sum()))["v"]
    as_of = s["as_of"]
    data.clv = {
        "customers": n,
        "total": total,
        "mean": s["mean"],
        "median": s["median"],
        "top_decile_share": float(top or 0.0) / total if total > 0 else None,
        "as_of": pd.Timestamp(as_of).date() if as_of is not None else None,
    }

    upper = float(s["p99"] or 0.0)
    if upper <= 0:
        upper = float(s["high"] or 0.0)
    width = upper / CLV_BINS if upper > 0 else 1.0
    idx = ibis.greatest(ibis.least((t.clv / width).floor().cast("int64"), CLV_BINS - 1), 0)
    hist = t.group_by(b=idx).aggregate(customers=_.count()).to_pandas().set_index("b")
    hist = hist.reindex(range(CLV_BINS), fill_value=0)
    data.clv_histogram = pd.DataFrame(
        {
            "bin_start": [i * width for i in range(CLV_BINS)],
            "bin_end": [(i + 1) * width for i in range(CLV_BINS)],
            "customers": hist["customers"].astype("int64").to_numpy(),
        }
    )

    bands = (
        t.group_by("churn_risk")
        .aggregate(customers=_.count(), clv=_.clv.sum(), mean_p_alive=_.p_alive.mean())
        .to_pandas()
        .set_index("churn_risk")
    )
    bands = bands.reindex(list(CHURN_BANDS) + [b for b in bands.index if b not in CHURN_BANDS])
    bands["customers"] = bands["customers"].fillna(0).astype("int64")
    bands["clv"] = bands["clv"].fillna(0.0).astype("float64")
    bands["share"] = bands["customers"] / n
    bands["clv_share"] = bands["clv"] / total if total > 0 else float("nan")
    bands = bands.rename_axis("churn_risk").reset_index()
    bands["churn_risk"] = bands["churn_risk"].astype("object")
    data.churn_bands = bands[list(data.churn_bands.columns)]


def _json(text: Any, default: Any) -> Any:
    import json

    if text is None or (isinstance(text, float) and pd.isna(text)):
        return default
    return json.loads(text)


def _personas(ws: Any, data: ReportData) -> None:
    """Persona cards from the stored ``clusters`` table (sizes counted here) and ``personas``
    table (names, features, offers, explanations saved by ``ws.personas(save=True)``). Nothing
    when the workspace has no ``clusters`` table."""
    tables = ws.con.list_tables()
    if "clusters" not in tables:
        return
    t = ws.table("clusters")
    zh = t.persona_zh_hant.max() if "persona_zh_hant" in t.columns else t.persona.max()
    sizes = (
        t.group_by("cluster")
        .aggregate(customers=_.count(), name_en=_.persona.max(), name_zh=zh)
        .order_by("cluster")
        .to_pandas()
    )
    total = int(sizes["customers"].sum())
    if not total:
        return
    sizes["share"] = sizes["customers"] / total
    # the rule-defined "not yet customers" card (cluster -1) after the clusters
    sizes = sizes.sort_values("cluster", key=lambda k: k.where(k >= 0, k.max() + 1 - k))
    cards = (
        ws.table("personas").to_pandas().set_index("cluster")
        if "personas" in tables
        else pd.DataFrame()
    )
    rows = []
    for r in sizes.itertuples():
        c = cards.loc[r.cluster] if r.cluster in cards.index else {}
        get = lambda k, c=c: None if k not in c or pd.isna(c[k]) else c[k]  # noqa: E731
        explanation = _json(get("explanation_json"), {})
        rows.append(
            {
                "cluster": int(r.cluster),
                "customers": int(r.customers),
                "share": float(r.share),
                "name_en": get("name_en") or r.name_en,
                "name_zh": get("name_zh_hant") or r.name_zh or r.name_en,
                "value_share": get("value_share"),
                "preferred_channel": get("preferred_channel"),
                "offer_en": get("offer_en"),
                "offer_zh": get("offer_zh_hant"),
                "description_en": get("description_en"),
                "description_zh": get("description_zh_hant"),
                "features": _json(get("features_json"), []),
                "rules": list(explanation.get("rules", [])),
                "rules_zh": list(explanation.get("rules_zh_hant", explanation.get("rules", []))),
                "tree_auc": explanation.get("tree_auc"),
                "lda_auc": explanation.get("lda_auc"),
            }
        )
    frame = pd.DataFrame(rows, columns=list(data.personas.columns))
    data.personas = frame.astype(
        {"cluster": "int64", "customers": "int64", "share": "float64", "value_share": "float64",
         "tree_auc": "float64", "lda_auc": "float64"}
    )  # fmt: skip


def gather(ws: Any, *, as_of: dt.date | dt.datetime | str | None = None) -> ReportData:
    """Run the report's queries on workspace ``ws`` and return the small frames it shows.

    ``ws`` is a :class:`segmint.workspace.Workspace` (anything with ``table``, ``config``,
    ``rfm`` and ``abc``). ``as_of`` is the reference date of RFM and ABC (default: theirs).
    """
    day = parse_as_of(as_of)
    config = ws.config
    data = ReportData(
        workspace_name=getattr(config, "name", "segmint"),
        currency=getattr(config, "currency", "HKD"),
    )
    _overview(ws, counted_orders(ws.table("orders"), as_of=None), data)
    _coverage(ws, data)
    _identity(ws, data)
    if data.overview["orders"]:
        data.as_of = day or ws.default_as_of()
        _rfm(ws, data.as_of, data)
        _abc(ws, data.as_of, data)
        _clv(ws, data)
        _personas(ws, data)
    else:
        data.as_of = day
    return data
