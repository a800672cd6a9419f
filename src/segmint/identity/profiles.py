"""The consolidated ``profiles`` table as one ibis expression (layer 2: builds, never runs).

One row per ``customer_id`` from its ``source_profiles`` records. The rule, per field:

- **the most recent non-null value wins**: records are ranked by ``imported_at`` (when the
  record last changed in segmint), ties broken by ``record_id``; an empty field never overwrites
  a filled one;
- ``created_at`` is the **earliest** of the records (when the person first appeared anywhere);
- consent per channel comes from the record with the **latest consent time**
  (``consent_<channel>_at``), so a withdrawal recorded later wins over an older opt-in;
- ``traits`` are merged **key by key**, each key taking its most recent value, so Shopify tags
  and a HubSpot lifecycle stage both survive.

The importer runs it for the customers an import touched only (a semi-join before this
expression), as a single GROUP BY in the engine.

Example:
    >>> import ibis
    >>> from segmint.schema import TABLES
    >>> sp = ibis.table(TABLES["source_profiles"], name="source_profiles")
    >>> profiles_from_sources(sp).columns == tuple(TABLES["profiles"].names)
    True
"""

from __future__ import annotations

import datetime as dt

import ibis

from segmint.schema import CONSENT_CHANNELS, PROFILE_FIELDS, TABLES

__all__ = ["profiles_from_sources"]

_SPECIAL = {"created_at", "traits"} | {
    c for ch in CONSENT_CHANNELS for c in (f"consent_{ch}", f"consent_{ch}_at")
}


def _sortable(ts: ibis.Value) -> ibis.Value:
    """Fixed-width text of a timestamp, so text order is time order ('' when null)."""
    return ts.strftime("%Y%m%d%H%M%S%f").fill_null("")


def profiles_from_sources(sp: ibis.Table, *, now: dt.datetime | None = None) -> ibis.Table:
    """Consolidate ``source_profiles`` rows ``sp`` into one profile per customer."""
    now = now or dt.datetime.now(dt.UTC).replace(tzinfo=None)
    sp = sp.filter(sp.customer_id.notnull())
    stamp = _sortable(sp.imported_at)
    rank = stamp.concat("|", sp.record_id)
    aggs = {}
    for f in PROFILE_FIELDS:
        if f in _SPECIAL:
            continue
        aggs[f] = sp[f].argmax(rank, where=sp[f].notnull())
    aggs["created_at"] = sp.created_at.min()
    for ch in CONSENT_CHANNELS:
        value, at = sp[f"consent_{ch}"], sp[f"consent_{ch}_at"]
        consent_rank = _sortable(at).concat("|", rank)
        aggs[f"consent_{ch}"] = value.argmax(consent_rank, where=value.notnull())
        aggs[f"consent_{ch}_at"] = at.argmax(consent_rank, where=value.notnull())
    aggs["_traits_latest"] = sp.traits.argmax(rank, where=sp.traits.notnull())
    aggs["_traits_records"] = sp.traits.count()
    base = sp.group_by("customer_id").aggregate(**aggs)

    # traits of people with several trait-bearing records: unnest every record's keys, keep each
    # key's most recent value, rebuild the object (people with one such record keep it as is)
    several = base.filter(base._traits_records > 1).select("customer_id")
    sp_several = sp.semi_join(several, "customer_id")
    with_traits = sp_several.filter(sp_several.traits.notnull()).select(
        "customer_id",
        rank=_sortable(sp_several.imported_at).concat("|", sp_several.record_id),
        obj=sp_several.traits.cast("json").map,
    )
    keys = with_traits.mutate(key=with_traits.obj.keys().unnest())
    keys = keys.mutate(value=keys.obj[keys.key])
    latest = keys.group_by(["customer_id", "key"]).aggregate(value=keys.value.argmax(keys.rank))
    merged = latest.group_by("customer_id").aggregate(
        traits_merged=ibis.map(
            latest.key.collect(order_by=latest.key), latest.value.collect(order_by=latest.key)
        )
        .cast("json")
        .cast("string")
    )
    joined = base.left_join(merged, "customer_id")
    schema = TABLES["profiles"]
    cols = {}
    for name, typ in schema.items():
        if name == "traits":
            cols[name] = ibis.coalesce(joined.traits_merged, joined._traits_latest).cast(typ)
        elif name == "updated_at":
            cols[name] = ibis.literal(now, type=typ)
        else:
            cols[name] = joined[name].cast(typ)
    return joined.select(**cols)
