"""Campaigns: create, preview, send or export a broadcast, and measure it (layer 4).

This module runs what :mod:`segmint.activation.broadcast` plans and
:mod:`segmint.features.campaigns` measures, on the workspace connection:

- :func:`create_campaign` checks a :class:`~segmint.activation.broadcast.BroadcastSpec`
  (templates compiled, segments known) and stores it in ``campaigns``;
- :func:`prepare` evaluates the audience (consent, exclusions, frequency cap), labels each
  person with their segment, gathers the personalisation fields, assigns variants and offer
  codes and renders every message (one query, then Python);
- :func:`preview` shows that for a few recipients and writes nothing;
- :func:`deliver` exports the messages as CSV/JSON (:mod:`segmint.activation.writers`) or
  POSTs them to a signed webhook (:mod:`segmint.activation.webhook`), then — in one
  transaction — records ``campaign_recipients``, one ``Message Sent`` event per message that
  left (messageIds derived from campaign and customer, so a repeat stores nothing twice) and
  the campaign's ``sent_at``. A campaign is sent once;
- :func:`kpis` and :func:`ab_report` read the results back.

Rendering failures are never silent: by default one failure refuses the whole send and lists the
recipients and reasons; with ``allow_failures=True`` the others are sent and the failed ones are
recorded with status ``failed`` and the reason.

The workspace facade (``ws.campaign_create(...)`` etc.) supplies the connection, the audience
and the configuration.

Example:
    >>> list_campaigns  # doctest: +ELLIPSIS
    <function list_campaigns at ...>
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import ibis
import ibis.expr.types as ir
import pandas as pd
import pyarrow as pa

from segmint import storage
from segmint.activation.audience import REASON, Audience
from segmint.activation.broadcast import (
    CAMPAIGN_DROP_REASONS,
    HOLDOUT,
    BroadcastSpec,
    apply_frequency_cap,
    campaign_slug,
    personal_fields,
    plan_recipients,
    segment_label,
    sent_message_id,
)
from segmint.activation.templates import RenderFailure
from segmint.activation.webhook import post_messages
from segmint.activation.writers import check_format, write_rows
from segmint.errors import NotFoundError, ValidationError, close_matches
from segmint.features.campaigns import campaign_kpis, recipient_outcomes
from segmint.models.experiments import GroupStats, compare_conversion, compare_revenue, lift
from segmint.schema import TABLES

__all__ = [
    "EXPORT_COLUMNS",
    "ABReport",
    "CampaignKPIs",
    "Prepared",
    "SendResult",
    "ab_report",
    "create_campaign",
    "deliver",
    "get_campaign",
    "kpis",
    "list_campaigns",
    "map_messages",
    "prepare",
    "preview",
    "reach",
    "recipients_table",
]

CAMPAIGNS = "campaigns"
RECIPIENTS = "campaign_recipients"
#: Columns of an exported campaign file (``contact`` is the phone or the e-mail address).
EXPORT_COLUMNS = (
    "message_id", "customer_id", "contact", "language", "variant", "offer_code", "text",
)  # fmt: skip
#: Failures listed in the error that refuses a send.
_SHOWN = 20


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


# -- definitions ---------------------------------------------------------------------------------
def create_campaign(
    con,
    spec: BroadcastSpec,
    *,
    known_segments: Iterable[str],
    campaign_id: str | None = None,
    by: str = "unknown",
    currency: str | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Store ``spec`` as a new campaign (not sent yet); returns its ``campaigns`` row."""
    now = now or _now()
    known = set(known_segments)
    for slug in (*spec.segments, *spec.exclude):
        if slug not in known:
            raise NotFoundError(
                f"The campaign refers to the unknown segment '{slug}'.",
                suggestions=close_matches(slug, known),
                hint="list the segments with `segmint segments library`.",
            )
    taken = set(con.table(CAMPAIGNS).campaign_id.to_pyarrow().to_pylist())
    if campaign_id is None:
        campaign_id = campaign_slug(spec.name, now, taken)
    elif campaign_id in taken:
        raise ValidationError(
            f"A campaign with id '{campaign_id}' already exists.",
            hint="choose another id, or leave it out to get one from the name and date.",
        )
    row = {
        "campaign_id": campaign_id,
        "name": spec.name,
        "channel": spec.channel,
        **spec.to_record(),
        "created_at": now,
        "created_by": by,
        "sent_at": None,
        "delivery": None,
        "export_path": None,
        "dropped": None,
        "cost": spec.cost,
        "currency": spec.currency or currency,
        "attribution_days": spec.attribution_days,
    }
    with storage.transaction(con):
        con.insert(CAMPAIGNS, pa.Table.from_pylist([row], schema=TABLES[CAMPAIGNS].to_pyarrow()))
    return row


def list_campaigns(con) -> ir.Table:
    """Every campaign, newest first."""
    t = con.table(CAMPAIGNS)
    return t.order_by([t.created_at.desc(), t.campaign_id])


def get_campaign(con, campaign_id: str) -> tuple[dict[str, Any], BroadcastSpec]:
    """The ``campaigns`` row of ``campaign_id`` and its spec; NotFoundError with close ids."""
    t = con.table(CAMPAIGNS)
    rows = t.filter(t.campaign_id == campaign_id).to_pyarrow().to_pylist()
    if not rows:
        ids = t.campaign_id.to_pyarrow().to_pylist()
        raise NotFoundError(
            f"There is no campaign '{campaign_id}'.",
            suggestions=close_matches(campaign_id, ids),
            hint="list them with `segmint campaigns list`.",
        )
    return rows[0], BroadcastSpec.from_record(rows[0])


# -- audience → recipients -----------------------------------------------------------------------
@dataclass
class Prepared:
    """Recipients of a campaign, planned but not sent.

    ``recipients``: one dict per person (customer_id, segment, variant, language, contact,
    offer_code, text, status ``ready`` / ``failed`` / ``holdout``, error); ``dropped``: audience
    members left out per reason (:data:`~segmint.activation.broadcast.CAMPAIGN_DROP_REASONS`);
    ``failures``: one :class:`~segmint.activation.templates.RenderFailure` per failed render.
    """

    campaign_id: str
    spec: BroadcastSpec
    recipients: list[dict[str, Any]]
    dropped: dict[str, int]
    failures: list[RenderFailure] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        """Recipients per group (variants and holdout)."""
        out: dict[str, int] = {}
        for r in self.recipients:
            out[r["variant"]] = out.get(r["variant"], 0) + 1
        return out

    def frame(self) -> pd.DataFrame:
        cols = ["customer_id", "segment", "variant", "language", "contact", "offer_code",
                "text", "status", "error"]  # fmt: skip
        return pd.DataFrame(self.recipients, columns=cols)


def _audience_rows(
    con,
    spec: BroadcastSpec,
    audience: Audience,
    members: Sequence[tuple[str, ir.Table]],
    *,
    now: datetime,
    only: Sequence[str] | None = None,
    limit: int | None = None,
) -> tuple[list[dict[str, Any]], dict[str, int]]:
    tables = set(con.list_tables())
    classified = apply_frequency_cap(
        audience.classified, con.table("events"), spec.frequency_cap, now
    )
    kept_ids = classified.filter(classified[REASON].isnull())
    if only is not None:
        kept_ids = kept_ids.filter(kept_ids.customer_id.isin(list(only)))
    if limit is not None:
        kept_ids = kept_ids.order_by("customer_id").limit(limit)
    labelled = segment_label(kept_ids, members)
    people = personal_fields(
        labelled,
        profiles=con.table("profiles"),
        orders=con.table("orders"),
        order_items=con.table("order_items"),
        clusters=con.table("clusters") if "clusters" in tables else None,
        engine=con.name,
    )
    dropped = dict.fromkeys(CAMPAIGN_DROP_REASONS, 0)
    c = classified
    for item in c.group_by(REASON).aggregate(n=c.count()).to_pyarrow().to_pylist():
        if item[REASON] is not None:
            dropped[item[REASON]] = int(item["n"])
    return people.order_by("customer_id").to_pyarrow().to_pylist(), dropped


def reach(
    con, spec: BroadcastSpec, audience: Audience, *, now: datetime | None = None
) -> tuple[int, dict[str, int]]:
    """(recipients, left out per reason) of a broadcast before it is stored or sent: the
    audience's consent and contact checks, exclusions and the frequency cap, counted in one
    query (what the broadcast form shows as the settings change)."""
    c = apply_frequency_cap(audience.classified, con.table("events"), spec.frequency_cap,
                            now or _now())  # fmt: skip
    dropped = dict.fromkeys(CAMPAIGN_DROP_REASONS, 0)
    recipients = 0
    for item in c.group_by(REASON).aggregate(n=c.count()).to_pyarrow().to_pylist():
        if item[REASON] is None:
            recipients = int(item["n"])
        else:
            dropped[item[REASON]] = int(item["n"])
    return recipients, dropped


def _taken_codes(con, campaign_id: str) -> set[str]:
    r = con.table(RECIPIENTS)
    codes = r.filter(r.offer_code.notnull(), r.campaign_id != campaign_id).offer_code
    return set(codes.to_pyarrow().to_pylist())


def prepare(
    con,
    campaign_id: str,
    spec: BroadcastSpec,
    audience: Audience,
    members: Sequence[tuple[str, ir.Table]],
    *,
    now: datetime | None = None,
) -> Prepared:
    """Every recipient of the campaign with variant, offer code and rendered message."""
    rows, dropped = _audience_rows(con, spec, audience, members, now=now or _now())
    recipients, failures = plan_recipients(
        rows, spec, campaign_id, taken_codes=_taken_codes(con, campaign_id) if spec.offer_codes
        else (),
    )  # fmt: skip
    return Prepared(campaign_id, spec, recipients, dropped, failures)


def preview(
    con,
    campaign_id: str,
    spec: BroadcastSpec,
    audience: Audience,
    members: Sequence[tuple[str, ir.Table]],
    *,
    customer_ids: Sequence[str] | None = None,
    limit: int = 10,
    now: datetime | None = None,
) -> Prepared:
    """:func:`prepare` for ``customer_ids`` or the first ``limit`` recipients (by id); writes
    nothing and fetches only those rows. Offer codes shown are those the send gives, except
    for the rare person whose code collides with another recipient's (about one in a million
    at a million recipients), who gets the next one."""
    rows, dropped = _audience_rows(
        con, spec, audience, members, now=now or _now(),
        only=list(customer_ids) if customer_ids else None,
        limit=None if customer_ids else limit,
    )  # fmt: skip
    if customer_ids:
        missing = sorted(set(map(str, customer_ids)) - {str(r["customer_id"]) for r in rows})
        if missing:
            raise NotFoundError(
                f"{', '.join(missing)} would not receive this campaign (not in the segments, "
                "excluded, no current consent or contact, or frequency-capped).",
                hint="preview without --customer to see who would.",
            )
    taken = _taken_codes(con, campaign_id) if spec.offer_codes else ()
    recipients, failures = plan_recipients(rows, spec, campaign_id, taken_codes=taken)
    return Prepared(campaign_id, spec, recipients, dropped, failures)


# -- delivery ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SendResult:
    """What a send or export did: counts per status, failures, where the file went."""

    campaign_id: str
    delivery: str
    sent_at: datetime
    statuses: dict[str, int]
    dropped: dict[str, int]
    failures: list[RenderFailure]
    path: Path | None = None
    events_recorded: int = 0

    @property
    def messages(self) -> int:
        return self.statuses.get("sent", 0) + self.statuses.get("exported", 0)


def _refuse_failures(prepared: Prepared) -> None:
    if not prepared.failures:
        return
    n = len(prepared.failures)
    shown = "\n  - ".join(f.render() for f in prepared.failures[:_SHOWN])
    more = f"\n  … and {n - _SHOWN:,} more" if n > _SHOWN else ""
    raise ValidationError(
        f"The message could not be rendered for {n:,} recipient(s); nothing was sent:"
        f"\n  - {shown}{more}\n",
        hint="add fallbacks (e.g. fallbacks: {first_name: friend}) or default() in the "
        "template, or send anyway with allow_failures=True (--allow-failures): the failed "
        "recipients are then recorded as failed and get nothing.",
    )


def _export_path(path: str | Path | None, folder: Path | None, campaign_id: str, fmt: str) -> Path:
    name = f"{campaign_id}.{fmt}"
    if path is None:
        if folder is None:
            raise ValidationError(
                "An export from a workspace without a folder needs a file path.",
                hint="pass path='campaign.csv' (or -o FILE on the command line).",
            )
        target = Path(folder) / "exports" / name
        target.parent.mkdir(parents=True, exist_ok=True)
    else:
        target = Path(path).expanduser()
        if target.is_dir():
            target = target / name
    if not target.parent.is_dir():
        raise ValidationError(
            f"Cannot write the export to {target}: the folder {target.parent} does not exist.",
            hint="create the folder first, or choose another file with -o FILE.",
        )
    return target.resolve()


def deliver(
    con,
    prepared: Prepared,
    *,
    delivery: str = "export",
    fmt: str = "csv",
    path: str | Path | None = None,
    folder: Path | None = None,
    url: str | None = None,
    secret: str | None = None,
    allow_failures: bool = False,
    now: datetime | None = None,
    client: Any = None,
) -> SendResult:
    """Export or send ``prepared`` and record it (see the module docstring)."""
    if delivery not in ("export", "webhook"):
        raise ValidationError(
            f"delivery must be 'export' or 'webhook'. Got {delivery!r} instead.",
            suggestions=close_matches(str(delivery), ("export", "webhook")),
        )
    row, _spec = get_campaign(con, prepared.campaign_id)
    if row["sent_at"] is not None:
        raise ValidationError(
            f"Campaign '{prepared.campaign_id}' was already sent on "
            f"{row['sent_at']:%Y-%m-%d %H:%M} UTC ({row['delivery']}).",
            hint="a campaign is sent once; create a new campaign to send again.",
        )
    if not allow_failures:
        _refuse_failures(prepared)
    now = now or _now()
    cid, channel = prepared.campaign_id, prepared.spec.channel
    ready = [r for r in prepared.recipients if r["status"] == "ready"]
    for r in prepared.recipients:
        r["message_id"] = (
            sent_message_id(cid, r["customer_id"]) if r["variant"] != HOLDOUT else None
        )
        r["provider_message_id"] = None
    target: Path | None = None
    tmp: Path | None = None
    if delivery == "export":
        fmt = check_format(fmt)
        target = _export_path(path, folder, cid, fmt)
        fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
        tmp = Path(name)
        with os.fdopen(fd, "wb") as out:
            write_rows(ready, EXPORT_COLUMNS, out, fmt)
        for r in ready:
            r["status"] = "exported"
    else:
        if not url or not secret:
            raise ValidationError(
                "Sending to a webhook needs its URL and a shared secret.",
                hint="set campaigns: {webhook_url: https://…, webhook_secret: env:NAME} in "
                "segmint.yaml, or pass url= and secret=.",
            )
        messages = [
            {"message_id": r["message_id"], "customer_id": r["customer_id"],
             "to": r["contact"], "language": r["language"], "variant": r["variant"],
             "text": r["text"], "offer_code": r["offer_code"]}
            for r in ready
        ]  # fmt: skip
        results = post_messages(
            url, secret, messages, campaign_id=cid, channel=channel, client=client
        )
        outcome = {}
        for b in results:
            for mid in b.message_ids:
                outcome[mid] = (b.ok, b.error, b.provider_ids.get(mid))
        if ready and not any(ok for ok, _e, _p in outcome.values()):
            first = next(b.error for b in results if not b.ok)
            raise ValidationError(
                f"The webhook accepted none of the {len(ready):,} messages ({first}); "
                "nothing was recorded.",
                hint="check campaigns.webhook_url and that the receiver is up, then send again.",
            )
        for r in ready:
            ok, error, pid = outcome[r["message_id"]]
            r["status"], r["error"], r["provider_message_id"] = (
                ("sent", None, pid) if ok else ("failed", error, None)
            )
    statuses: dict[str, int] = {}
    for r in prepared.recipients:
        statuses[r["status"]] = statuses.get(r["status"], 0) + 1
    try:
        with storage.transaction(con):
            _insert_recipients(con, cid, prepared.recipients, now)
            n_events = _insert_sent_events(con, cid, channel, prepared.recipients, now)
            _mark_sent(con, cid, now, delivery, target, prepared.dropped)
            if tmp is not None and target is not None:
                os.replace(tmp, target)
                tmp = None
    finally:
        if tmp is not None:
            tmp.unlink(missing_ok=True)
    failures = list(prepared.failures) + [
        RenderFailure(r["customer_id"], r["error"], r["language"], r["variant"])
        for r in prepared.recipients
        if r["status"] == "failed" and r["text"] is not None
    ]
    return SendResult(cid, delivery, now, statuses, prepared.dropped, failures, target, n_events)


def _insert_recipients(con, cid: str, recipients: list[dict], now: datetime) -> None:
    if not recipients:
        return
    cols = TABLES[RECIPIENTS].names
    rows = [
        {**{c: r.get(c) for c in cols}, "campaign_id": cid, "rendered_at": now} for r in recipients
    ]
    con.insert(RECIPIENTS, pa.Table.from_pylist(rows, schema=TABLES[RECIPIENTS].to_pyarrow()))


def _insert_sent_events(con, cid: str, channel: str, recipients: list[dict], now) -> int:
    rows = [
        {
            "message_id": r["message_id"],
            "customer_id": r["customer_id"],
            "anonymous_id": None,
            "type": "track",
            "event": "Message Sent",
            "ts": now,
            "properties": json.dumps(
                {
                    "campaign_id": cid,
                    "variant": r["variant"],
                    "offer_code": r["offer_code"],
                    "provider_message_id": r.get("provider_message_id"),
                },
                ensure_ascii=False,
            ),
            "channel": channel,
            "source": "campaign",
        }
        for r in recipients
        if r["status"] in ("sent", "exported")
    ]
    if not rows:
        return 0
    new = pa.Table.from_pylist(rows, schema=TABLES["events"].to_pyarrow())
    events = con.table("events")
    seen = events.filter(events.message_id.isin(ibis.memtable(new).message_id))
    have = set(seen.message_id.to_pyarrow().to_pylist())
    if have:
        new = new.filter(pa.array([m not in have for m in new.column("message_id").to_pylist()]))
    if new.num_rows:
        con.insert("events", new)
    return new.num_rows


def _mark_sent(con, cid, now, delivery, target, dropped) -> None:
    t = con.table(CAMPAIGNS)
    mine = t.campaign_id == cid
    updated = t.mutate(
        sent_at=ibis.ifelse(mine, ibis.literal(now), t.sent_at),
        delivery=ibis.ifelse(mine, ibis.literal(delivery), t.delivery),
        export_path=ibis.ifelse(
            mine, ibis.literal(str(target) if target else None, type="string"), t.export_path
        ),
        dropped=ibis.ifelse(mine, ibis.literal(json.dumps(dropped)), t.dropped),
    )
    storage.replace_table(con, CAMPAIGNS, updated.to_pyarrow())


def map_messages(con, campaign_id: str, mapping: pa.Table | pd.DataFrame) -> int:
    """Record the channel's own message ids (``customer_id``, ``provider_message_id``) of a
    sent campaign, e.g. from the channel tool's report, so status events that carry only that
    id are counted. Returns how many recipients got an id."""
    get_campaign(con, campaign_id)
    data = mapping if isinstance(mapping, pa.Table) else pa.Table.from_pandas(mapping)
    missing = {"customer_id", "provider_message_id"} - set(data.column_names)
    if missing:
        raise ValidationError(
            f"The message mapping needs the columns customer_id and provider_message_id. "
            f"Missing: {', '.join(sorted(missing))}.",
            suggestions=close_matches(sorted(missing)[0], data.column_names),
        )
    data = data.select(["customer_id", "provider_message_id"]).cast(
        pa.schema([("customer_id", pa.string()), ("provider_message_id", pa.string())])
    )
    m = ibis.memtable(data.rename_columns(["_m_id", "_m_pid"]))
    r = con.table(RECIPIENTS)
    j = r.left_join(m, (r.campaign_id == campaign_id) & (r.customer_id == m._m_id))
    n = int(j.filter(j._m_pid.notnull()).count().to_pyarrow().as_py())
    updated = j.mutate(provider_message_id=ibis.coalesce(j._m_pid, j.provider_message_id))
    with storage.transaction(con):
        storage.replace_table(
            con, RECIPIENTS, updated.select(*TABLES[RECIPIENTS].names).to_pyarrow()
        )
    return n


# -- measurement ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class CampaignKPIs:
    """KPIs of one campaign: ``total`` (one row as a dict), ``by_variant`` and ``by_segment``
    (pandas, one row per group; :data:`~segmint.features.campaigns.KPI_COLUMNS`) and ``lift``
    (variant → relative conversion lift over the holdout, None without holdout conversions)."""

    campaign: dict[str, Any]
    total: dict[str, Any]
    by_variant: pd.DataFrame
    by_segment: pd.DataFrame
    lift: dict[str, float | None]


def _outcomes(con, campaign_id: str, since: datetime | None) -> tuple[ir.Table, ir.Table]:
    c = con.table(CAMPAIGNS)
    c = c.filter(c.campaign_id == campaign_id)
    r = con.table(RECIPIENTS)
    r = r.filter(r.campaign_id == campaign_id)
    out = recipient_outcomes(
        c, r, con.table("events"), con.table("orders"), since=since, engine=con.name
    )
    return out, c


def kpis(con, campaign_id: str) -> CampaignKPIs:
    """Sent, delivered, read, clicked, converted, revenue, ROI per campaign, variant, segment.

    The per-recipient outcomes are computed once (one query over the events and orders since
    the send) and added up three ways in memory.
    """
    row, _spec = get_campaign(con, campaign_id)
    if row["sent_at"] is None:
        raise ValidationError(
            f"Campaign '{campaign_id}' has not been sent yet, so there is nothing to measure.",
            hint="send or export it first (segmint campaigns export).",
        )
    out, _c = _outcomes(con, campaign_id, row["sent_at"])
    fetched = ibis.memtable(out.to_pyarrow())
    one = ibis.memtable(pa.Table.from_pylist([row], schema=TABLES[CAMPAIGNS].to_pyarrow()))

    def run(expr: ir.Table) -> pd.DataFrame:
        return con.to_pyarrow(expr).to_pandas()

    by_variant = run(campaign_kpis(fetched, one, ("variant",)))
    by_segment = run(campaign_kpis(fetched, one, ("segment",)))
    total = run(campaign_kpis(fetched.filter(fetched.variant != HOLDOUT), one, ()))
    stats = _group_stats(by_variant)
    hold = stats.get(HOLDOUT)
    lifts = {
        name: (lift(s, hold) if hold is not None else None)
        for name, s in stats.items()
        if name != HOLDOUT
    }
    first = total.to_dict("records")[0] if len(total) else {}
    first = {k: (None if isinstance(v, float) and v != v else v) for k, v in first.items()}
    return CampaignKPIs(row, first, by_variant, by_segment, lifts)


def _group_stats(frame: pd.DataFrame) -> dict[str, GroupStats]:
    return {
        r.variant: GroupStats(
            r.variant, int(r.recipients), int(r.converted), float(r.revenue), float(r.revenue_sq)
        )
        for r in frame.itertuples(index=False)
    }


@dataclass(frozen=True)
class ABReport:
    """A/B results of a campaign: each variant against the first (``conversion`` and
    ``revenue`` tests, keyed by the challenger's name) and against the holdout
    (``versus_holdout``, with ``lift``)."""

    campaign_id: str
    baseline: str
    conversion: dict[str, Any]
    revenue: dict[str, Any]
    versus_holdout: dict[str, Any]
    lift: dict[str, float | None]

    def verdicts(self, lang: str = "en") -> list[str]:
        """Every verdict in ``lang`` (``en`` or ``zh-Hant``), variants first."""
        out = [t.verdict(lang) for t in self.conversion.values()]
        out += [t.verdict(lang) for t in self.revenue.values()]
        out += [t.verdict(lang) for t in self.versus_holdout.values()]
        return out


def ab_report(con, campaign_id: str, result: CampaignKPIs | None = None) -> ABReport:
    """Conversion (z-test, chi-square, interval) and revenue (Welch) of every variant against
    the first one, and of every variant against the holdout; ``result`` reuses KPIs already
    computed by :func:`kpis`."""
    result = result if result is not None else kpis(con, campaign_id)
    stats = _group_stats(result.by_variant)
    _row, spec = get_campaign(con, campaign_id)
    names = [v.name for v in spec.all_variants() if v.name in stats]
    if not names:
        raise ValidationError(f"Campaign '{campaign_id}' has no recipients in any variant.")
    base = stats[names[0]]
    conversion, revenue, holdout = {}, {}, {}
    for name in names[1:]:
        conversion[name] = compare_conversion(base, stats[name])
        if base.n >= 2 and stats[name].n >= 2:
            revenue[name] = compare_revenue(base, stats[name])
    if HOLDOUT in stats and stats[HOLDOUT].n > 0:
        for name in names:
            holdout[name] = compare_conversion(stats[HOLDOUT], stats[name])
    return ABReport(campaign_id, names[0], conversion, revenue, holdout, result.lift)


def recipients_table(con, campaign_id: str) -> ir.Table:
    """The ``campaign_recipients`` rows of one campaign, by customer id."""
    get_campaign(con, campaign_id)
    r = con.table(RECIPIENTS)
    return r.filter(r.campaign_id == campaign_id).order_by("customer_id")
