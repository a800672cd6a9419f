"""Consent-aware audiences: who may be messaged on a channel, and who was left out why (layer 3).

An audience is the members of one or more segments, minus the members of excluded segments,
joined to their profiles and kept only when the person may be contacted on the channel:

- **consent is current**: ``consent_<channel>`` is true, and ``consent_<channel>_at`` (when it
  was last given or withdrawn) is empty or not after ``as_of``. A consent time in the future
  is not current (it is usually a time-zone or data-entry slip, and a withdrawal recorded for
  that moment may be on its way); a true flag without a time counts as current, as in segment
  definitions (``{consent: whatsapp}``);
- **the contact is valid**: an E.164 phone (``+`` then 7–15 digits, the form every import
  writes after checking the number with ``phonenumbers``) for ``whatsapp`` and ``sms``; a
  normalised e-mail address (trimmed, lower-case, the import's address pattern) for ``email``.

Everyone else is dropped with exactly one reason, the first that applies in this order
(:data:`DROP_REASONS`): ``excluded`` (in an excluded segment), ``no_consent`` (no consent
recorded for the channel), ``withdrawn`` (consent recorded as no: refused or withdrawn),
``consent_in_future`` (given, but with a time after ``as_of``), ``no_contact`` (no valid phone
or e-mail).

Segments are evaluated live at ``as_of`` (as ``segmint segments preview`` does, respecting the
priorities of exclusive sets), so an export does not need a prior ``segmint segments run``.
Nothing here executes: :func:`build_audience` returns ibis expressions, and
:func:`split_classified` works on the rows the workspace fetched.

Example:
    >>> import ibis
    >>> from datetime import datetime
    >>> from segmint.schema import TABLES
    >>> profiles = ibis.table(TABLES["profiles"], name="profiles")
    >>> members = profiles.select("customer_id")
    >>> t = classify_audience(members, profiles, "whatsapp", datetime(2026, 6, 30))
    >>> t.columns
    ('customer_id', 'name', 'first_name', 'phone', 'language', 'country', 'rfm_segment', \
'drop_reason')
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

import ibis
import ibis.expr.types as ir
import pyarrow as pa
import pyarrow.compute as pc

from segmint.errors import ValidationError, close_matches
from segmint.ingest.values import EMAIL_PATTERN
from segmint.rules import Resolved, Tables, compile_segment, compile_set
from segmint.schema import CONSENT_CHANNELS

__all__ = [
    "AUDIENCE_CHANNELS",
    "DROP_REASONS",
    "E164_PATTERN",
    "REASON",
    "Audience",
    "audience_columns",
    "build_audience",
    "check_channel",
    "check_segments",
    "classify_audience",
    "contact_column",
    "segment_members",
    "split_classified",
]

#: Channels an audience can be exported for (each has its own consent on the profile).
AUDIENCE_CHANNELS = CONSENT_CHANNELS
#: Why a member is left out, in the order the reasons are checked (the first one counts).
DROP_REASONS = ("excluded", "no_consent", "withdrawn", "consent_in_future", "no_contact")
#: An E.164 phone number: ``+``, a country code not starting with 0, 7–15 digits in all.
E164_PATTERN = r"^\+[1-9][0-9]{6,14}$"
#: Personalisation columns after the contact column (``rfm_segment`` is empty without RFM).
_PERSONAL = ("language", "country", "rfm_segment")
#: Column of :func:`classify_audience` holding the drop reason (null for the people kept).
REASON = "drop_reason"


def check_channel(channel: str) -> str:
    """``channel`` lower-cased if it is one of :data:`AUDIENCE_CHANNELS`, else an error.

    >>> check_channel("WhatsApp")
    'whatsapp'
    >>> check_channel("whatsap")
    Traceback (most recent call last):
    ...
    segmint.errors.ValidationError: The channel must be one of whatsapp, email, sms. \
Got 'whatsap' instead. Did you mean 'whatsapp'? Hint: e.g. --channel whatsapp
    """
    value = channel.strip().lower() if isinstance(channel, str) else channel
    if value not in AUDIENCE_CHANNELS:
        raise ValidationError(
            f"The channel must be one of {', '.join(AUDIENCE_CHANNELS)}. Got {channel!r} instead.",
            suggestions=close_matches(str(channel), AUDIENCE_CHANNELS),
            hint="e.g. --channel whatsapp",
        )
    return value


def contact_column(channel: str) -> str:
    """``phone`` for whatsapp and sms, ``email`` for email.

    >>> contact_column("sms"), contact_column("email")
    ('phone', 'email')
    """
    return "email" if check_channel(channel) == "email" else "phone"


def audience_columns(channel: str) -> tuple[str, ...]:
    """Columns of an exported audience, in file order.

    >>> audience_columns("email")
    ('customer_id', 'name', 'first_name', 'email', 'language', 'country', 'rfm_segment')
    """
    return ("customer_id", "name", "first_name", contact_column(channel), *_PERSONAL)


def check_segments(segments: str | Iterable[str], *, required: bool = True) -> tuple[str, ...]:
    """One slug or several as a tuple without repeats (order kept); ``required``: at least one.

    >>> check_segments("rfm_champions"), check_segments(["a", "b", "a"])
    (('rfm_champions',), ('a', 'b'))
    """
    items = [segments] if isinstance(segments, str) else list(segments or ())
    out = tuple(dict.fromkeys(s.strip() for s in items if isinstance(s, str) and s.strip()))
    if required and not out:
        raise ValidationError(
            f"An audience needs at least one segment. Got {segments!r} instead.",
            hint="e.g. segmint audience export rfm_champions --channel whatsapp",
        )
    return out


def segment_members(
    resolved: Resolved,
    slugs: Sequence[str],
    tables: Tables,
    as_of: datetime,
    *,
    timezone: str = "UTC",
) -> ir.Table:
    """Distinct ``customer_id`` in any of ``slugs`` at ``as_of`` (unknown slugs: did-you-mean).

    A segment of an exclusive set keeps only the customers the set's priorities give it, as in
    ``segmint segments run``.
    """
    set_of = {seg.slug: st for st in resolved.sets for seg in st.segments}
    parts = []
    for slug in slugs:
        segment = resolved[slug]  # NotFoundError "There is no segment …" with close names
        st = set_of[slug]
        if st.exclusive:
            m = compile_set(st, tables, as_of, timezone=timezone)
            parts.append(m.filter(m.segment == slug).select("customer_id"))
        else:
            parts.append(compile_segment(segment, tables, as_of, timezone=timezone))
    return functools.reduce(lambda a, b: a.union(b, distinct=True), parts)


def _contact(p: ir.Table, channel: str) -> tuple[ir.StringValue, ir.BooleanValue]:
    """(the contact to write, is it valid) for ``channel``."""
    if contact_column(channel) == "email":
        value = p.email.strip().lower()
        pattern = EMAIL_PATTERN
    else:
        value = p.phone.strip()
        pattern = E164_PATTERN
    return value, (value.notnull() & value.re_search(pattern)).fill_null(False)


def classify_audience(
    members: ir.Table,
    profiles: ir.Table,
    channel: str,
    as_of: datetime,
    *,
    excluded: ir.Table | None = None,
    rfm: ir.Table | None = None,
) -> ir.Table:
    """Every member's profile columns (:func:`audience_columns`) and ``drop_reason``.

    ``drop_reason`` is null for the people kept and else one of :data:`DROP_REASONS` (the rule
    is in the module docstring). ``members`` and ``excluded`` are tables with ``customer_id``;
    ``rfm`` (customer_id, segment) fills ``rfm_segment`` when given.
    """
    ch = check_channel(channel)
    p = profiles.semi_join(members, "customer_id")
    given, at = p[f"consent_{ch}"], p[f"consent_{ch}_at"]
    contact, valid = _contact(p, ch)
    if excluded is not None:
        is_excluded = p.customer_id.isin(excluded.customer_id).fill_null(False)
    else:
        is_excluded = ibis.literal(False)
    reason = ibis.cases(
        (is_excluded, "excluded"),
        (given.isnull(), "no_consent"),
        (~given, "withdrawn"),
        (at.notnull() & (at > ibis.literal(as_of)), "consent_in_future"),
        (~valid, "no_contact"),
        else_=ibis.null("string"),
    )
    out = p.select(
        "customer_id",
        "name",
        "first_name",
        **{contact_column(ch): contact},
        language=p.language,
        country=p.country,
        **{REASON: reason},
    )
    if rfm is not None:
        r = rfm.select(_rfm_id=rfm.customer_id, rfm_segment=rfm.segment.cast("string"))
        out = out.left_join(r, out.customer_id == r._rfm_id).drop("_rfm_id")
    else:
        out = out.mutate(rfm_segment=ibis.null("string"))
    return out.select(*audience_columns(ch), REASON)


@dataclass(frozen=True)
class Audience:
    """An audience as expressions (nothing has run).

    ``table`` holds the people kept (:func:`audience_columns`, ordered by customer_id);
    ``classified`` every member with ``drop_reason`` (null when kept), for
    :func:`split_classified`.
    """

    segments: tuple[str, ...]
    exclude: tuple[str, ...]
    channel: str
    as_of: datetime
    classified: ir.Table

    @property
    def columns(self) -> tuple[str, ...]:
        return audience_columns(self.channel)

    @property
    def table(self) -> ir.Table:
        c = self.classified
        return c.filter(c[REASON].isnull()).select(*self.columns).order_by("customer_id")


def build_audience(
    resolved: Resolved,
    segments: str | Iterable[str],
    channel: str,
    tables: Tables,
    as_of: datetime,
    *,
    exclude: str | Iterable[str] = (),
    timezone: str = "UTC",
) -> Audience:
    """The audience of ``segments`` minus ``exclude`` for ``channel`` at ``as_of``.

    ``tables.metrics["rfm"]``, when present, fills ``rfm_segment``. Unknown segments raise
    ``NotFoundError`` with close names; an unknown channel a ``ValidationError``.
    """
    ch = check_channel(channel)
    include = check_segments(segments)
    excl = check_segments(exclude, required=False)
    members = segment_members(resolved, include, tables, as_of, timezone=timezone)
    excluded = segment_members(resolved, excl, tables, as_of, timezone=timezone) if excl else None
    classified = classify_audience(
        members, tables.profiles, ch, as_of, excluded=excluded, rfm=tables.metrics.get("rfm")
    )
    return Audience(include, excl, ch, as_of, classified)


def split_classified(data: pa.Table, columns: Sequence[str]) -> tuple[pa.Table, dict[str, int]]:
    """Fetched ``classified`` rows → (rows kept, ordered by customer_id; count per reason).

    Every reason of :data:`DROP_REASONS` is in the counts, zeros included.

    >>> data = pa.table({"customer_id": ["b", "a", "c"], "drop_reason": [None, None, "withdrawn"]})
    >>> kept, dropped = split_classified(data, ["customer_id"])
    >>> kept.column("customer_id").to_pylist(), dropped["withdrawn"], dropped["excluded"]
    (['a', 'b'], 1, 0)
    """
    reasons = data.column(REASON)
    kept = data.filter(pc.is_null(reasons)).select(list(columns)).sort_by("customer_id")
    counts = dict.fromkeys(DROP_REASONS, 0)
    for item in pc.value_counts(reasons.drop_null()).to_pylist():
        counts[item["values"]] = int(item["counts"])
    return kept, counts
