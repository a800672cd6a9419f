"""Behavioural events in the Segment spec: e-commerce, messages and surveys.

Web tracking starts one year before the end (``Clock.tracking_days``): orders before that have no
events. Event names follow the Segment e-commerce spec (Product Viewed, Product Added, Checkout
Started, Order Completed), plus Message Sent / Delivered / Read / Clicked and Survey Responded.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from segmint.demo import _reference as ref
from segmint.demo import _strings as s
from segmint.demo.orders import Orders, PersonTruth
from segmint.demo.params import GROUPS
from segmint.demo.people import People
from segmint.demo.sources import CURRENCY, Clock, RecordLog, Sources

__all__ = ["EVENT_COLUMNS", "EVENT_NAMES", "build_events"]

EVENT_NAMES = (
    "Product Viewed",
    "Product Added",
    "Checkout Started",
    "Order Completed",
    "Message Sent",
    "Message Delivered",
    "Message Read",
    "Message Clicked",
    "Survey Responded",
    None,  # identify calls carry no event name
)
EVENT_COLUMNS = (
    "message_id",
    "user_id",
    "anonymous_id",
    "email",
    "phone",
    "event",
    "type",
    "timestamp",
    "properties",
    "channel",
)
_CHANNELS = ("web", "email", "whatsapp", "sms")

# identity modes: which identifier columns an event carries
#   ANON: anonymous_id | WEB: user_id + anonymous_id | WEB_CONTACT: WEB + email + phone
#   NEWSLETTER: anonymous_id + email | EMAIL_MSG: user_id + email | WHATSAPP_MSG: phone
#   SMS_MSG: user_id + phone
_ANON, _WEB, _WEB_CONTACT, _NEWSLETTER, _EMAIL_MSG, _WHATSAPP_MSG, _SMS_MSG = range(7)

# kinds of properties: pooled JSON texts (index = payload) or built per event
_K_EMPTY, _K_VIEW, _K_ADD, _K_MSG, _K_NPS, _K_CSAT, _K_CHECKOUT, _K_ORDER = range(8)

_E = {name: i for i, name in enumerate(EVENT_NAMES)}


@dataclass
class _Batch:
    """Numeric columns of the events being collected (strings are built once, after sorting)."""

    parts: list[dict] = field(default_factory=list)

    def add(self, person, t, event, mode, account, kind, payload, channel, value=0.0) -> None:
        k = len(person)
        if not k:
            return

        def col(x, dtype) -> np.ndarray:
            return np.broadcast_to(np.asarray(x, dtype=dtype), (k,))

        self.parts.append(
            {
                "person": np.asarray(person, dtype=np.int32),
                "t": np.asarray(t, dtype=float),
                "event": col(event, np.int8),
                "mode": col(mode, np.int8),
                "account": col(account, np.int32),
                "channel": col(channel, np.int8),
                "kind": col(kind, np.int8),
                "payload": col(payload, np.int32),
                "value": col(value, float),
            }
        )


def _json(d: dict) -> str:
    return json.dumps(d, ensure_ascii=False, separators=(",", ":"))


def _props_pool() -> tuple[list[str], dict[int, int]]:
    """Shared property texts and where each pooled kind starts in the list."""
    texts: list[str] = ["{}"]
    start = {_K_EMPTY: 0}
    for kind, qty in ((_K_VIEW, False), (_K_ADD, True)):
        start[kind] = len(texts)
        for sku, cat, name, price in ref.PRODUCTS:
            d = {"product_id": sku, "sku": sku, "category": cat, "name": name, "price": price}
            texts.append(_json({**d, "quantity": 1} if qty else d))
    start[_K_MSG] = len(texts)
    texts += [
        _json({"campaign_id": f"cmp_{i + 1:02d}", "campaign": title, "channel": ch})
        for i, (title, ch) in enumerate(ref.CAMPAIGNS)
    ]
    start[_K_NPS] = len(texts)
    texts += [_json({"survey": "nps", "score": v}) for v in range(11)]
    start[_K_CSAT] = len(texts)
    texts += [_json({"survey": "csat", "score": v}) for v in range(6)]
    return texts, start


def _num(x: np.ndarray) -> pa.Array:
    return pc.cast(pa.array(np.round(np.asarray(x, dtype=float), 2)), pa.string())


def _favourite_products(rng: np.random.Generator, people: People, person: np.ndarray) -> np.ndarray:
    cats = ref.CATEGORIES
    roll = rng.random(person.size)
    cat = np.where(
        roll < 0.7,
        people.favourite[person, 0],
        np.where(roll < 0.9, people.favourite[person, 1], rng.integers(0, len(cats), person.size)),
    )
    out = np.zeros(person.size, dtype=np.int64)
    for ci, c in enumerate(cats):
        rows = np.flatnonzero(cat == ci)
        prods = np.array([i for i, p in enumerate(ref.PRODUCTS) if p[1] == c])
        out[rows] = prods[rng.integers(0, len(prods), rows.size)]
    return out


def build_events(
    rng: np.random.Generator,
    people: People,
    orders: Orders,
    truth: PersonTruth,
    sources: Sources,
    clock: Clock,
    log: RecordLog,
) -> tuple[pa.Table, np.ndarray]:
    """The events table (sorted by time) and web events per person; records go to ``log``."""
    acc = sources.accounts
    n = people.n
    window = float(clock.days)
    track = clock.tracking_days
    primary_of = np.full(n, -1, dtype=np.int64)
    prim = np.flatnonzero(acc.primary)
    primary_of[acc.person[prim]] = prim
    created = np.full(n, np.inf)
    created[acc.person[prim]] = acc.created[prim]
    batch = _Batch()
    minute = 1 / 1440

    # --- orders in the tracking period: the checkout funnel -----------------------------------
    web = np.flatnonzero(~orders.pos & (orders.t >= track))
    op, ot, oa = orders.person[web], orders.t[web], acc.order_account[web]
    prod = orders.item_product[np.searchsorted(orders.item_order, web)]
    batch.add(op, ot, _E["Order Completed"], _WEB_CONTACT, oa, _K_ORDER, web, 0)
    m = rng.random(web.size) < 0.7
    t = ot - rng.uniform(1, 10, web.size) * minute
    batch.add(
        op[m], t[m], _E["Checkout Started"], _WEB, oa[m], _K_CHECKOUT, 0, 0, orders.subtotal[web][m]
    )
    m = rng.random(web.size) < 0.3
    t = ot - rng.uniform(11, 30, web.size) * minute
    batch.add(op[m], t[m], _E["Product Added"], _WEB, oa[m], _K_ADD, prod[m], 0)
    m = rng.random(web.size) < 0.3
    t = ot - rng.uniform(31, 60, web.size) * minute
    batch.add(op[m], t[m], _E["Product Viewed"], _WEB, oa[m], _K_VIEW, prod[m], 0)

    # --- browsing sessions without a purchase (abandoned carts among them) --------------------
    gname = people.group_name
    rate = np.array([g.browse_per_year for g in GROUPS.values()])[people.group]
    has_web = (primary_of >= 0) | sources.newsletter
    begin = np.where(
        gname == "browser", track, np.maximum(track, np.nan_to_num(truth.acquired, nan=window))
    )
    finish = np.where(np.isnan(truth.stop), window, np.minimum(truth.stop, window))
    span = np.maximum(finish - begin, 0) * has_web
    sp = np.repeat(np.arange(n), rng.poisson(rate * span / 365.0))
    st = begin[sp] + rng.random(sp.size) * span[sp]
    views = 1 + rng.poisson(0.6, sp.size)
    vp = np.repeat(sp, views)
    vt = np.repeat(st, views) + _within(rng, views) * 3 * minute
    vprod = _favourite_products(rng, people, vp)

    def who(p, t):
        known = (primary_of[p] >= 0) & (t >= created[p])
        return np.where(known, _WEB, _ANON).astype(np.int8), np.where(known, primary_of[p], -1)

    batch.add(vp, vt, _E["Product Viewed"], *who(vp, vt), _K_VIEW, vprod, 0)
    cart = rng.random(sp.size) < 0.35
    last_view = np.cumsum(views) - 1
    cp, ct = sp[cart], vt[last_view[cart]] + rng.uniform(1, 5, cart.sum()) * minute
    cprod = vprod[last_view[cart]]
    batch.add(cp, ct, _E["Product Added"], *who(cp, ct), _K_ADD, cprod, 0)
    chk = rng.random(cp.size) < 0.4
    kp, kt = cp[chk], ct[chk] + rng.uniform(1, 8, chk.sum()) * minute
    price = np.array([p[3] for p in ref.PRODUCTS])[cprod[chk]]
    batch.add(kp, kt, _E["Checkout Started"], *who(kp, kt), _K_CHECKOUT, 0, 0, price)

    # --- identify calls: sign-ups during tracking, newsletter sign-ups of browsers -------------
    sign = np.flatnonzero((primary_of >= 0) & (created >= track) & (created < window))
    batch.add(sign, created[sign], _E[None], _WEB_CONTACT, primary_of[sign], _K_EMPTY, 0, 0)
    news = np.flatnonzero(sources.newsletter)
    nt = track + rng.random(news.size) * (window - track)
    batch.add(news, nt, _E[None], _NEWSLETTER, -1, _K_EMPTY, 0, 0)

    # --- campaigns: messages to people who consented on that channel ---------------------------
    read_p = np.array([g.read_rate for g in GROUPS.values()])[people.group]
    click_p = np.array([g.click_rate for g in GROUPS.values()])[people.group]
    n_camp = len(ref.CAMPAIGNS)
    for i, (_, channel) in enumerate(ref.CAMPAIGNS):
        tc = np.floor(track + (i + 0.5) * (window - track) / n_camp) + 11 / 24
        state, tstate = sources.consent[channel]
        ok = ((state == "yes") & (tstate <= tc)) | ((state == "withdrawn") & (tstate > tc))
        if channel != "whatsapp":
            ok &= created <= tc
        to = np.flatnonzero(ok & (rng.random(n) < 0.4))
        mode = {"email": _EMAIL_MSG, "whatsapp": _WHATSAPP_MSG, "sms": _SMS_MSG}[channel]
        ch = _CHANNELS.index(channel)
        a = primary_of[to]
        t_sent = tc + rng.uniform(0, 3, to.size) / 24
        batch.add(to, t_sent, _E["Message Sent"], mode, a, _K_MSG, i, ch)
        dl = rng.random(to.size) < (0.95 if channel == "email" else 0.98)
        t_dl = t_sent + rng.uniform(0, 10, to.size) * minute
        batch.add(to[dl], t_dl[dl], _E["Message Delivered"], mode, a[dl], _K_MSG, i, ch)
        if channel == "sms":  # no read receipts for SMS
            t_rd = t_dl
            ck = dl & (rng.random(to.size) < click_p[to])
        else:
            rd = dl & (rng.random(to.size) < read_p[to])
            t_rd = t_dl + rng.exponential(0.25, to.size)
            ck = rd & (rng.random(to.size) < np.minimum(click_p[to] / read_p[to], 1))
            batch.add(to[rd], t_rd[rd], _E["Message Read"], mode, a[rd], _K_MSG, i, ch)
        t_ck = t_rd + rng.uniform(1, 60, to.size) * minute
        batch.add(to[ck], t_ck[ck], _E["Message Clicked"], mode, a[ck], _K_MSG, i, ch)

    # --- surveys: NPS once per buyer (25 % answer), CSAT after some orders --------------------
    nps_lo = np.array([g.nps[0] for g in GROUPS.values()])[people.group]
    nps_hi = np.array([g.nps[1] for g in GROUPS.values()])[people.group]
    pick = rng.random(web.size)
    best = np.full(n, -1.0)
    np.maximum.at(best, op, pick)
    ask = (pick == best[op]) & (rng.random(web.size) < 0.25)
    score = rng.integers(nps_lo[op[ask]], nps_hi[op[ask]] + 1)
    batch.add(
        op[ask],
        ot[ask] + rng.uniform(2, 5, ask.sum()),
        _E["Survey Responded"],
        _EMAIL_MSG,
        oa[ask],
        _K_NPS,
        score,
        1,
    )
    cs = rng.random(web.size) < 0.06
    lapsed = gname[op[cs]] == "lapsed"
    cscore = np.where(lapsed, rng.integers(1, 4, cs.sum()), rng.integers(3, 6, cs.sum()))
    batch.add(
        op[cs],
        ot[cs] + rng.uniform(1, 3, cs.sum()),
        _E["Survey Responded"],
        _EMAIL_MSG,
        oa[cs],
        _K_CSAT,
        cscore,
        1,
    )

    return _assemble(rng, batch, people, orders, acc, clock, log)


def _within(rng: np.random.Generator, counts: np.ndarray) -> np.ndarray:
    """0, 1+u, 2+u, … minutes offsets within each session (one per view)."""
    total = counts.sum()
    starts = np.repeat(np.cumsum(counts) - counts, counts)
    pos = np.arange(total) - starts
    return pos + rng.random(total) * (pos > 0)


def _assemble(
    rng: np.random.Generator,
    batch: _Batch,
    people: People,
    orders: Orders,
    acc,
    clock: Clock,
    log: RecordLog,
) -> tuple[pa.Table, np.ndarray]:
    """Sort the collected events by time and build the string columns.

    Identifier and property columns are dictionary arrays over the few distinct values
    (accounts, people, pooled JSON texts): no per-event string is copied.
    """
    cols = {k: np.concatenate([p[k] for p in batch.parts]) for k in batch.parts[0]}
    batch.parts.clear()
    ts = clock.epoch(cols["t"])
    keep = (cols["t"] >= 0) & (cols["t"] < clock.days)
    order = np.lexsort((cols["event"], ts))
    order = order[keep[order]]
    del keep
    for k in list(cols):  # one column at a time keeps the peak low
        cols[k] = cols[k][order]
    ts = ts[order]
    del order
    person, mode, account, kind = cols["person"], cols["mode"], cols["account"], cols["kind"]
    m = person.size
    n_acc = len(acc.person)

    # identifiers: indices into per-account / per-person values
    has_acc = account >= 0
    user_idx = np.where(
        has_acc & np.isin(mode, [_WEB, _WEB_CONTACT, _EMAIL_MSG, _SMS_MSG]), account, -1
    )
    anon_idx = np.where(np.isin(mode, [_ANON, _WEB, _WEB_CONTACT, _NEWSLETTER]), person, -1)
    email_idx = np.where(
        mode == _NEWSLETTER,
        n_acc + person,
        np.where(has_acc & np.isin(mode, [_WEB_CONTACT, _EMAIL_MSG]), account, -1),
    )
    phone_idx = np.where(
        mode == _WHATSAPP_MSG,
        n_acc + person,
        np.where(has_acc & np.isin(mode, [_WEB_CONTACT, _SMS_MSG]), account, -1),
    )
    person_e164 = s.null_where(s.e164(people.country, people.phone), people.phone <= 0)
    emails = pa.concat_arrays([acc.email.cast(pa.string()), people.email.cast(pa.string())])
    phones = pa.concat_arrays([acc.phone_key.cast(pa.string()), person_e164])
    # events only carry values that exist
    email_idx[email_idx >= 0] = np.where(
        np.asarray(emails.is_valid())[email_idx[email_idx >= 0]], email_idx[email_idx >= 0], -1
    )
    phone_idx[phone_idx >= 0] = np.where(
        np.asarray(phones.is_valid())[phone_idx[phone_idx >= 0]], phone_idx[phone_idx >= 0], -1
    )

    # properties: pooled texts, then per-event texts for checkouts and completed orders
    texts, start = _props_pool()
    pooled = np.array([start.get(k, 0) for k in range(8)], dtype=np.int64)
    prop_idx = pooled[kind] + np.where(kind < _K_CHECKOUT, cols["payload"], 0)
    rows_chk = np.flatnonzero(kind == _K_CHECKOUT)
    rows_ord = np.flatnonzero(kind == _K_ORDER)
    prop_idx[rows_chk] = len(texts) + np.arange(rows_chk.size)
    prop_idx[rows_ord] = len(texts) + rows_chk.size + np.arange(rows_ord.size)
    # every checkout has its own id (the Segment spec's checkout_id): texts stay unique
    checkout = s.join(
        '{"checkout_id":"chk_',
        s.to_str(np.arange(1, rows_chk.size + 1), 9),
        '","value":',
        _num(cols["value"][rows_chk]),
        f',"currency":"{CURRENCY}"}}',
    )
    o = cols["payload"][rows_ord]
    web_rank = np.cumsum(~orders.pos) - 1
    coupon = s.pool([f'"{c}"' for c in ref.DISCOUNT_CODES], orders.code[o]).cast(pa.string())
    completed = s.join(
        '{"order_id":"#',
        s.to_str(1001 + web_rank[o]),
        '","total":',
        _num(orders.total[o]),
        ',"discount":',
        _num(orders.discount[o]),
        ',"coupon":',
        pc.fill_null(coupon, "null"),
        f',"currency":"{CURRENCY}"}}',
    )
    props = pa.concat_arrays([pa.array(texts, pa.string()), checkout, completed])

    anon_raw = s.random_bytes(rng, people.n, 16)
    table = pa.table(
        {
            "message_id": s.uuid_column(rng, m),
            "user_id": s.dict_take(s.to_str(acc.customer_id), user_idx, unique=True),
            "anonymous_id": s.dict_take(s.uuid_of(anon_raw), anon_idx, unique=True),
            "email": s.dict_take(emails, email_idx),
            "phone": s.dict_take(phones, phone_idx),
            "event": s.pool(
                EVENT_NAMES[:-1], np.where(cols["event"] == _E[None], -1, cols["event"])
            ),
            "type": s.pool(["track", "identify"], (cols["event"] == _E[None]).astype(np.int64)),
            "timestamp": s.utc_timestamps(ts),
            "properties": s.dict_take(props, prop_idx, unique=True),
            "channel": s.pool(_CHANNELS, cols["channel"]),
        }
    )
    _log_event_records(table, person, user_idx, anon_idx, email_idx, phone_idx, log)
    web = cols["channel"] == _CHANNELS.index("web")
    return table, np.bincount(person[web], minlength=people.n)


def _log_event_records(
    table: pa.Table,
    person: np.ndarray,
    user_idx: np.ndarray,
    anon_idx: np.ndarray,
    email_idx: np.ndarray,
    phone_idx: np.ndarray,
    log: RecordLog,
) -> None:
    """One identity record per distinct (user_id, anonymous_id, email, phone) combination."""
    # the identifiers of an event follow from (person, account, mode): unique on that first
    n_acc = int(user_idx.max(initial=-1)) + 2
    n_mode = 8
    key = (person.astype(np.int64) * n_acc + (user_idx + 1)) * n_mode
    key += np.where(anon_idx >= 0, 1, 0) + np.where(email_idx >= 0, 2, 0)
    key += np.where(phone_idx >= 0, 4, 0)
    _, first = np.unique(key, return_index=True)
    stacked = np.stack([p[first] for p in (user_idx, anon_idx, email_idx, phone_idx)], axis=1)
    _, keep = np.unique(stacked, axis=0, return_index=True)
    first = np.sort(first[keep])
    idx = pa.array(first)
    user = table["user_id"].combine_chunks().take(idx).cast(pa.string())
    anon = table["anonymous_id"].combine_chunks().take(idx).cast(pa.string())
    email = table["email"].combine_chunks().take(idx).cast(pa.string())
    phone = table["phone"].combine_chunks().take(idx).cast(pa.string())
    log.add(
        "events",
        "events.parquet",
        pc.coalesce(user, anon, email, phone),
        person[first],
        email=email,
        phone=phone,
        link=s.join("shopify:", user),
        link2=s.join("anon:", anon),
        row=first + 2,
    )
