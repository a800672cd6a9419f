"""Broadcast plans: who gets which message, variant and offer code (layer 3, pure).

A broadcast (a campaign before it is sent) is a :class:`BroadcastSpec`: segments and exclusions,
a channel, message templates per variant and language, an optional holdout, fallbacks, a
frequency cap, offer codes and the attribution window. Everything here is pure: ibis
expressions for the audience side, plain Python for assignment, codes and rendering; the
workspace (``segmint.campaigns``) runs and stores it.

Recipients
    The consent-aware audience of :mod:`segmint.activation.audience` (current consent, a valid
    contact, exclusions) minus the people the **frequency cap** stops: with
    ``frequency_cap: {max_messages: N, period_days: D}`` a person who already has N or more
    ``Message Sent`` events in the D days before the send — ``(now − D days, now]``; an event
    exactly D days old no longer counts — is dropped with reason ``frequency_cap``.
Variants and holdout (:func:`assign_variant`)
    ``sha256(campaign_id, customer_id)`` read as a number in [0, 1) picks the variant by the
    cumulative shares (variants in order, holdout last). The same person always lands in the
    same group of a campaign, whoever else is in the audience; different campaigns shuffle
    independently. The holdout gets no message (and no offer code) and is measured the same way.
Offer codes (:func:`offer_codes`)
    8 characters from :data:`CODE_ALPHABET` (no 0/O, 1/I/L), an HMAC of the customer id keyed by
    the campaign id and seed: the same inputs give the same codes. Collisions (within the
    campaign or with ``taken`` codes of earlier campaigns) are resolved deterministically by
    re-hashing with a counter, customers taken in id order.
Message ids (:func:`sent_message_id`)
    Derived from campaign and customer (uuid5), so recording a send twice stores one
    ``Message Sent`` event.

Example:
    >>> spec = parse_broadcast({"name": "Spring VIP", "segments": ["rfm_champions"],
    ...     "channel": "whatsapp", "holdout": 10,
    ...     "variants": [{"name": "A", "share": 45, "templates": {"en": "Hi {{ first_name }}"}},
    ...                  {"name": "B", "share": 45, "templates": {"en": "Hey {{ first_name }}"}}]})
    >>> spec.shares()
    [('A', 0.45), ('B', 0.45), ('holdout', 0.1)]
    >>> group = assign_variant("cmp_1", "c42", spec.shares())
    >>> group == assign_variant("cmp_1", "c42", spec.shares()), group in ("A", "B", "holdout")
    (True, True)
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import ibis
import ibis.expr.types as ir
import pydantic
import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator

from segmint.activation.audience import (
    AUDIENCE_CHANNELS,
    DROP_REASONS,
    REASON,
    check_channel,
    contact_column,
)
from segmint.activation.templates import (
    FIELDS,
    CompiledTemplate,
    RenderFailure,
    compile_templates,
    message_language,
)
from segmint.errors import ValidationError, close_matches
from segmint.features.rfm import RFM_SEGMENTS
from segmint.ingest.webhooks import stable_message_id

__all__ = [
    "CAMPAIGN_DROP_REASONS",
    "CODE_ALPHABET",
    "HOLDOUT",
    "RECIPIENT_STATUSES",
    "BroadcastSpec",
    "FrequencyCap",
    "Variant",
    "apply_frequency_cap",
    "assign_variant",
    "campaign_slug",
    "load_broadcast",
    "offer_codes",
    "parse_broadcast",
    "personal_fields",
    "plan_recipients",
    "segment_label",
    "sent_message_id",
]

#: The group that gets no message, measured against the variants.
HOLDOUT = "holdout"
#: Why an audience member is not a recipient: the audience's reasons, then the frequency cap.
CAMPAIGN_DROP_REASONS = (*DROP_REASONS, "frequency_cap")
#: Status of a row of ``campaign_recipients``.
RECIPIENT_STATUSES = ("exported", "sent", "failed", HOLDOUT)
#: Offer-code characters: digits and capitals without the look-alikes 0/O, 1/I/L.
CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
_MAX_ATTEMPTS = 1_000
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.-]{0,31}$")


# -- the spec ------------------------------------------------------------------------------------
class Variant(BaseModel):
    """One message variant: a name, its share of the audience, a template per language."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    share: float = Field(..., gt=0)
    templates: dict[str, str]

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not _NAME.match(v) or v == HOLDOUT:
            raise ValueError(
                "a variant name must be 1-32 letters, digits, spaces, '_', '.' or '-' "
                f"and not '{HOLDOUT}'"
            )
        return v


class FrequencyCap(BaseModel):
    """Not more than ``max_messages`` messages per person in ``period_days`` days."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_messages: int = Field(..., ge=1)
    period_days: int = Field(..., ge=1)


class BroadcastSpec(BaseModel):
    """What a campaign sends to whom (see the module docstring and docs/campaigns.md).

    Shares are percentages (``45, 45`` with ``holdout: 10``) or fractions that add up to 1.
    Without ``variants``, ``templates`` is the single variant ``A`` (100 % less the holdout).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(..., min_length=1, max_length=200)
    segments: tuple[str, ...] = Field(..., min_length=1)
    exclude: tuple[str, ...] = ()
    channel: str
    variants: tuple[Variant, ...] = ()
    templates: dict[str, str] | None = None
    holdout: float = Field(0.0, ge=0)
    fallbacks: dict[str, str | int | float] = Field(default_factory=dict)
    frequency_cap: FrequencyCap | None = None
    offer_codes: bool = False
    seed: int = 0
    attribution_days: int = Field(7, ge=1, le=365)
    cost: float | None = Field(None, ge=0)
    currency: str | None = None

    @field_validator("channel")
    @classmethod
    def _channel(cls, v: str) -> str:
        if v.strip().lower() not in AUDIENCE_CHANNELS:
            raise ValueError(f"channel must be one of {', '.join(AUDIENCE_CHANNELS)}")
        return v.strip().lower()

    @pydantic.model_validator(mode="after")
    def _variants_and_shares(self) -> BroadcastSpec:
        if self.variants and self.templates is not None:
            raise ValueError("give either 'templates' (one variant) or 'variants', not both")
        if not self.variants and self.templates is None:
            raise ValueError("a broadcast needs 'templates' or 'variants'")
        names = [v.name for v in self.variants]
        if len(set(names)) != len(names):
            raise ValueError(f"variant names must be unique. Got {names}")
        total = sum(v.share for v in self.variants) + self.holdout
        if self.variants and not (_close(total, 100) or _close(total, 1)):
            parts = " + ".join(f"{v.share:g}" for v in self.variants)
            raise ValueError(
                f"variant shares and the holdout must add up to 100 (or 1). "
                f"Got {parts} + holdout {self.holdout:g} = {total:g}"
            )
        if not self.variants and not (self.holdout < 1 or 1 <= self.holdout < 100):
            raise ValueError(f"holdout must be below 100 %. Got {self.holdout:g}")
        return self

    def all_variants(self) -> tuple[Variant, ...]:
        """The variants; a spec with plain ``templates`` has the one variant ``A``."""
        if self.variants:
            return self.variants
        rest = 100 - self.holdout if self.holdout >= 1 else 1 - self.holdout
        return (Variant(name="A", share=rest, templates=self.templates or {}),)

    def shares(self) -> list[tuple[str, float]]:
        """(group, fraction) in assignment order, the holdout last when it has a share."""
        variants = self.all_variants()
        total = sum(v.share for v in variants) + self.holdout
        out = [(v.name, round(v.share / total, 12)) for v in variants]
        if self.holdout:
            out.append((HOLDOUT, round(self.holdout / total, 12)))
        return out

    def compiled(self, *, where: str = "campaign") -> dict[str, dict[str, CompiledTemplate]]:
        """variant → language → :class:`CompiledTemplate` (every template checked up front)."""
        out = {}
        for i, v in enumerate(self.all_variants()):
            at = f"{where}, /variants/{i}/templates" if self.variants else f"{where}, /templates"
            out[v.name] = compile_templates(
                v.templates, fallbacks=self.fallbacks, channel=self.channel, where=at
            )
        return out

    def to_record(self) -> dict[str, str]:
        """The JSON columns stored in ``campaigns`` (segments, excluded, variants, settings)."""
        variants = [v.model_dump() for v in self.all_variants()]
        settings = {
            "holdout": self.holdout,
            "fallbacks": self.fallbacks,
            "frequency_cap": self.frequency_cap.model_dump() if self.frequency_cap else None,
            "offer_codes": self.offer_codes,
            "seed": self.seed,
        }
        return {
            "segments": json.dumps(list(self.segments)),
            "excluded": json.dumps(list(self.exclude)),
            "variants": json.dumps(variants, ensure_ascii=False),
            "settings": json.dumps(settings, ensure_ascii=False),
        }

    @classmethod
    def from_record(cls, row: Mapping[str, Any]) -> BroadcastSpec:
        """The spec back from a ``campaigns`` row (see :meth:`to_record`)."""
        settings = json.loads(row["settings"] or "{}")
        return cls(
            name=row["name"],
            segments=tuple(json.loads(row["segments"])),
            exclude=tuple(json.loads(row["excluded"] or "[]")),
            channel=row["channel"],
            variants=tuple(Variant(**v) for v in json.loads(row["variants"])),
            holdout=settings.get("holdout", 0.0),
            fallbacks=settings.get("fallbacks") or {},
            frequency_cap=settings.get("frequency_cap"),
            offer_codes=bool(settings.get("offer_codes")),
            seed=int(settings.get("seed", 0)),
            attribution_days=int(row["attribution_days"]),
            cost=row.get("cost"),
            currency=row.get("currency"),
        )


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= 1e-6 * max(1.0, abs(b))


def parse_broadcast(data: Any, *, file: str | None = None) -> BroadcastSpec:
    """A :class:`BroadcastSpec` from a mapping, with errors that point at the key.

    Templates are compiled too, so a bad template is refused here, not at send time.

    >>> parse_broadcast({"name": "x", "segments": ["a"], "channel": "whatsap",
    ...                  "templates": {"en": "Hi"}})  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    segmint.errors.ValidationError: channel must be one of whatsapp, email, sms. \
Got 'whatsap' instead. (/channel) ...
    """
    where = file or "campaign"
    if isinstance(data, BroadcastSpec):
        spec = data
    else:
        if not isinstance(data, Mapping):
            raise ValidationError(
                f"A broadcast must be a mapping of settings. Got {type(data).__name__}.",
                location=where,
                hint="see docs/campaigns.md for an example.",
            )
        try:
            spec = BroadcastSpec.model_validate(dict(data))
        except pydantic.ValidationError as exc:
            raise _from_pydantic(exc, file) from None
    spec.compiled(where=where)
    return spec


def load_broadcast(path: str | Path) -> BroadcastSpec:
    """Read a broadcast from a YAML or JSON file (see docs/campaigns.md)."""
    p = Path(path)
    if not p.is_file():
        raise ValidationError(
            f"The campaign file {p} does not exist.", hint="check the path, e.g. campaign.yaml"
        )
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ValidationError(f"{p.name} is not valid YAML: {exc}", location=str(p)) from None
    return parse_broadcast(data, file=str(p))


def _from_pydantic(exc: pydantic.ValidationError, file: str | None) -> ValidationError:
    err = exc.errors()[0]
    loc = [str(p) for p in err["loc"]]
    if not loc and "share" in str(err["msg"]):  # a check of the whole spec: point at the shares
        loc = ["variants"]
    pointer = "/" + "/".join(loc)
    where = f"{file}, {pointer}" if file else pointer
    if err["type"] == "extra_forbidden":
        known = BroadcastSpec.model_fields if len(loc) == 1 else {}
        if len(loc) == 3 and loc[0] == "variants":
            known = Variant.model_fields
        if loc and loc[0] == "frequency_cap":
            known = FrequencyCap.model_fields
        return ValidationError(
            f"Unknown key '{loc[-1]}'.",
            location=where,
            suggestions=close_matches(loc[-1], known),
            hint="see docs/campaigns.md for the keys of a campaign.",
        )
    msg = str(err["msg"]).removeprefix("Value error, ")
    got = err.get("input")
    tail = f" Got {got!r} instead." if not isinstance(got, dict | list) else ""
    return ValidationError(f"{msg}.{tail}".replace("..", "."), location=where, hint=_HINT)


_HINT = "see docs/campaigns.md for an example campaign."


def campaign_slug(name: str, day: datetime, taken: Iterable[str] = ()) -> str:
    """A readable campaign id ``cmp_<YYYYmmdd>_<name>``, ``-2``, ``-3`` … when taken.

    >>> campaign_slug("Spring VIP 春季!", datetime(2026, 3, 1))
    'cmp_20260301_spring_vip'
    """
    words = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")[:40] or "campaign"
    base = f"cmp_{day:%Y%m%d}_{words}"
    used = set(taken)
    out, n = base, 1
    while out in used:
        n += 1
        out = f"{base}-{n}"
    return out


# -- assignment, codes, ids ----------------------------------------------------------------------
def _unit(*parts: str) -> float:
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def assign_variant(campaign_id: str, customer_id: str, shares: Sequence[tuple[str, float]]) -> str:
    """The group of ``customer_id`` in ``campaign_id`` (stable; see the module docstring).

    >>> assign_variant("cmp_1", "c1", [("A", 0.5), ("B", 0.5)])
    'B'
    """
    u = _unit("variant", campaign_id, str(customer_id))
    edge = 0.0
    for name, share in shares:
        edge += share
        if u < edge:
            return name
    return shares[-1][0]  # rounding left u above the last edge


def offer_codes(
    campaign_id: str,
    seed: int,
    customer_ids: Iterable[str],
    *,
    taken: Iterable[str] = (),
    length: int = 8,
) -> dict[str, str]:
    """customer_id → a unique code (see the module docstring); deterministic for the inputs.

    >>> codes = offer_codes("cmp_1", 7, ["b", "a"])
    >>> codes == offer_codes("cmp_1", 7, ["a", "b"]), len(set(codes.values()))
    (True, 2)
    """
    used = set(taken)
    key = f"{seed}\x1f{campaign_id}".encode()
    out: dict[str, str] = {}
    base = len(CODE_ALPHABET)
    for cid in sorted(set(map(str, customer_ids))):
        attempt = 0
        while True:
            msg = cid if attempt == 0 else f"{cid}\x1f{attempt}"
            n = int.from_bytes(hmac.new(key, msg.encode(), hashlib.sha256).digest(), "big")
            chars = []
            for _ in range(length):
                n, r = divmod(n, base)
                chars.append(CODE_ALPHABET[r])
            code = "".join(chars)
            if code not in used:
                break
            attempt += 1
            if attempt > _MAX_ATTEMPTS:
                raise ValidationError(
                    f"Could not find a free offer code of {length} characters for {cid!r}: "
                    "the codes of this length are nearly used up.",
                    hint="use longer codes.",
                )
        used.add(code)
        out[cid] = code
    return out


def sent_message_id(campaign_id: str, customer_id: str) -> str:
    """The ``messageId`` of the ``Message Sent`` event of one recipient (uuid5).

    >>> sent_message_id("cmp_1", "c1") == sent_message_id("cmp_1", "c1")
    True
    """
    return stable_message_id("campaign", campaign_id, customer_id, "Message Sent")


# -- audience side (ibis) ------------------------------------------------------------------------
def apply_frequency_cap(
    classified: ir.Table, events: ir.Table, cap: FrequencyCap | None, now: datetime
) -> ir.Table:
    """``classified`` with ``drop_reason = 'frequency_cap'`` for people kept so far who have
    ``cap.max_messages`` or more ``Message Sent`` events in ``(now − period, now]``."""
    if cap is None:
        return classified
    start = now - timedelta(days=cap.period_days)
    sent = events.filter(
        events.event == "Message Sent",
        events.customer_id.notnull(),
        events.ts > ibis.literal(start),
        events.ts <= ibis.literal(now),
    )
    counts = sent.group_by(_cap_id=sent.customer_id).aggregate(_cap_n=sent.count())
    j = classified.left_join(counts, classified.customer_id == counts._cap_id)
    capped = j._cap_n.fill_null(0) >= cap.max_messages
    reason = ibis.ifelse(j[REASON].isnull() & capped, "frequency_cap", j[REASON])
    return j.mutate(**{REASON: reason}).drop("_cap_id", "_cap_n")


def segment_label(classified: ir.Table, members: Sequence[tuple[str, ir.Table]]) -> ir.Table:
    """``classified`` with ``segment``: the first of ``members`` ((slug, customer_id table)
    pairs, in the campaign's order) that holds the person, so KPIs can be split per segment."""
    if len(members) == 1:  # everyone kept is in the one segment
        return classified.mutate(segment=ibis.literal(members[0][0], type="string"))
    out = classified
    cols = []
    for i, (_slug, m) in enumerate(members):
        k = f"_seg{i}"
        flag = m.select(**{k: m.customer_id}).distinct()
        out = out.left_join(flag, out.customer_id == flag[k])
        cols.append(k)
    label = ibis.cases(
        *[(out[k].notnull(), slug) for k, (slug, _m) in zip(cols, members, strict=True)],
        else_=ibis.null("string"),
    )
    return out.mutate(segment=label).drop(*cols)


def personal_fields(
    people: ir.Table,
    *,
    profiles: ir.Table,
    orders: ir.Table | None,
    order_items: ir.Table | None,
    clusters: ir.Table | None = None,
    engine: str = "duckdb",
) -> ir.Table:
    """``people`` (with customer_id) plus the personalisation fields of :data:`FIELDS` that
    come from data: last_name, city, points, last_product, last_order_date,
    favourite_category, persona and persona_zh_hant (titles are picked per recipient later).

    ``last_product`` is the product of the most expensive item of the latest counted order;
    ``favourite_category`` the category with the largest total quantity (ties: alphabetical);
    ``points`` the profile trait ``points``.
    """
    p = profiles
    traits = p.traits.cast("json") if engine == "pyspark" else p.traits.try_cast("json")
    points = traits["points"]
    points = points.cast("string").cast("float64") if engine == "pyspark" else points.float
    extra = p.select(
        _p_id=p.customer_id, last_name=p.last_name, city=p.city, points=points.cast("float64")
    )
    out = people.left_join(extra, people.customer_id == extra._p_id).drop("_p_id")
    if orders is not None and order_items is not None:
        orders = orders.semi_join(people.select("customer_id"), "customer_id")
        o = orders.filter(
            orders.customer_id.notnull(),
            orders.ts.notnull(),
            orders.status.isnull() | (orders.status == "completed"),
        )
        items = o.join(order_items, o.order_id == order_items.order_id).select(
            customer_id=o.customer_id,
            ts=o.ts,
            order_id=o.order_id,
            product_id=order_items.product_id,
            category=order_items.category,
            quantity=order_items.quantity.fill_null(1),
            price=order_items.price.fill_null(0.0),
        )
        w = ibis.window(
            group_by=items.customer_id,
            order_by=[items.ts.desc(), items.price.desc(), items.product_id],
        )
        latest = items.mutate(_rn=ibis.row_number().over(w))
        latest = latest.filter(latest._rn == 0).select(
            _l_id=latest.customer_id,
            last_product=latest.product_id,
            last_order_date=latest.ts.date(),
        )
        cat = items.filter(items.category.notnull())
        cat = cat.group_by(customer_id=cat.customer_id, category=cat.category).aggregate(
            q=cat.quantity.sum()
        )
        wc = ibis.window(group_by=cat.customer_id, order_by=[cat.q.desc(), cat.category])
        fav = cat.mutate(_rn=ibis.row_number().over(wc))
        fav = fav.filter(fav._rn == 0).select(
            _f_id=fav.customer_id, favourite_category=fav.category
        )
        out = out.left_join(latest, out.customer_id == latest._l_id).drop("_l_id")
        out = out.left_join(fav, out.customer_id == fav._f_id).drop("_f_id")
    else:
        out = out.mutate(
            last_product=ibis.null("string"),
            last_order_date=ibis.null("date"),
            favourite_category=ibis.null("string"),
        )
    if clusters is not None and {"persona", "persona_zh_hant"} <= set(clusters.columns):
        c = clusters.select(
            _c_id=clusters.customer_id,
            persona=clusters.persona,
            persona_zh_hant=clusters.persona_zh_hant,
        )
        out = out.left_join(c, out.customer_id == c._c_id).drop("_c_id")
    else:
        out = out.mutate(persona=ibis.null("string"), persona_zh_hant=ibis.null("string"))
    return out


# -- recipients (plain Python on fetched rows) -----------------------------------------------
def _values(row: Mapping[str, Any], lang: str, campaign: str, code: str | None) -> dict:
    """The template values of one recipient in template language ``lang``."""
    zh = lang == "zh-Hant"
    rfm = RFM_SEGMENTS.get(str(row.get("rfm_segment") or ""))
    values = {k: row.get(k) for k in FIELDS if k in row}
    values["rfm_segment"] = (rfm.title_zh if zh else rfm.title_en) if rfm else None
    persona = row.get("persona_zh_hant") if zh else row.get("persona")
    values["persona"] = persona or row.get("persona")
    values["offer_code"] = code
    values["campaign"] = campaign
    return values


def plan_recipients(
    rows: Iterable[Mapping[str, Any]],
    spec: BroadcastSpec,
    campaign_id: str,
    *,
    compiled: Mapping[str, Mapping[str, CompiledTemplate]] | None = None,
    taken_codes: Iterable[str] = (),
) -> tuple[list[dict[str, Any]], list[RenderFailure]]:
    """One record per audience row: variant, language, offer code, rendered text or failure.

    Records carry customer_id, segment, variant, language, contact (phone or e-mail),
    offer_code, text, status (``holdout`` for the holdout, ``failed`` when rendering failed,
    else ``ready``) and error. Failures are also returned as :class:`RenderFailure` objects.
    """
    compiled = compiled or spec.compiled()
    shares = spec.shares()
    rows = list(rows)
    contact = contact_column(check_channel(spec.channel))
    groups = {str(r["customer_id"]): assign_variant(campaign_id, str(r["customer_id"]), shares)
              for r in rows}  # fmt: skip
    codes: dict[str, str] = {}
    if spec.offer_codes:
        treated = [cid for cid, g in groups.items() if g != HOLDOUT]
        codes = offer_codes(campaign_id, spec.seed, treated, taken=taken_codes)
    out, failures = [], []
    for r in rows:
        cid = str(r["customer_id"])
        variant = groups[cid]
        rec = {
            "customer_id": cid,
            "segment": r.get("segment"),
            "variant": variant,
            "language": None,
            "contact": r.get(contact),
            "offer_code": codes.get(cid),
            "text": None,
            "status": HOLDOUT,
            "error": None,
        }
        if variant != HOLDOUT:
            templates = compiled[variant]
            lang = message_language(r.get("language"), templates)
            rec["language"] = lang
            try:
                values = _values(r, lang, spec.name, codes.get(cid))
                rec["text"] = templates[lang].render(values)
                rec["status"] = "ready"
            except ValidationError as exc:
                rec["status"], rec["error"] = "failed", exc.message
                failures.append(RenderFailure(cid, exc.message, lang, variant))
        out.append(rec)
    return out, failures
