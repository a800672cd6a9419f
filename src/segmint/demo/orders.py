"""Purchases of the demo people: BG/NBD timing, Gamma-Gamma values, baskets, channels.

All arrays are per order (sorted by time) or per line item; times are float days since the start
of the window, in Hong Kong local time (midnight = whole number).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from segmint.demo import _reference as ref
from segmint.demo.params import GROUPS
from segmint.demo.people import People

__all__ = ["Orders", "PersonTruth", "simulate_orders"]


@dataclass
class PersonTruth:
    """True per-person process parameters (NaN where the group has no such parameter)."""

    rate: np.ndarray  # λ, purchases per day
    dropout: np.ndarray  # p
    nu: np.ndarray  # Gamma-Gamma ν (mean order value = p / ν)
    acquired: np.ndarray  # day of the first purchase (NaN if none)
    stop: np.ndarray  # day the person became inactive (NaN if still active at the end)
    pos_member: np.ndarray  # bool: has a POS loyalty card
    pos_only: np.ndarray  # bool: buys only in shops


@dataclass
class Orders:
    """One element per order, sorted by time."""

    person: np.ndarray
    t: np.ndarray  # days since window start (local time)
    value: np.ndarray  # Gamma-Gamma draw z (≈ Total)
    pos: np.ndarray  # bool: bought in a shop
    code: np.ndarray  # discount code index into DISCOUNT_CODES, -1 if none
    status: np.ndarray  # 0 paid, 1 refunded, 2 partially_refunded
    subtotal: np.ndarray
    discount: np.ndarray
    total: np.ndarray
    # line items
    item_order: np.ndarray  # order index of each line item
    item_product: np.ndarray
    item_qty: np.ndarray
    item_price: np.ndarray

    def __len__(self) -> int:
        return len(self.person)


STATUSES = ("paid", "refunded", "partially_refunded")


def _bgnbd(
    rng: np.random.Generator,
    rows: np.ndarray,
    group_params,
    window: float,
    truth: PersonTruth,
) -> tuple[np.ndarray, np.ndarray]:
    """BG/NBD purchase days of the people ``rows`` (first purchase included)."""
    g = group_params
    n = len(rows)
    older, newer = g.acquired_days_before_end
    lo = 0.0 if older is None else max(0.0, window - older)
    hi = window - newer
    t0 = rng.uniform(lo, hi, n)
    lam = rng.gamma(g.bgnbd.r, 1.0 / g.bgnbd.alpha, n)
    p = rng.beta(g.bgnbd.a, g.bgnbd.b, n)
    stop = np.full(n, window)
    if g.silent_last_days is not None:
        # lapsed: active at least 120 days, silent for the last `silent_last_days` at least
        stop = rng.uniform(
            np.minimum(t0 + 120, window - g.silent_last_days), window - g.silent_last_days
        )
    horizon = stop - t0
    big_n = rng.poisson(lam * horizon)
    j = rng.geometric(np.maximum(p, 1e-12))
    x = np.minimum(big_n, j)  # repeat purchases made
    # the first x of big_n sorted uniform points on (0, horizon], from exponential spacings
    owner = np.repeat(np.arange(n), x)
    e = rng.exponential(1.0, owner.size)
    csum = np.cumsum(e)
    starts = np.concatenate([[0], np.cumsum(x)[:-1]])
    base = np.where(starts > 0, csum[np.maximum(starts - 1, 0)], 0.0)
    within = csum - np.repeat(base, x)
    last = np.zeros(n)
    has = x > 0
    last[has] = within[np.cumsum(x)[has] - 1]
    total = last + rng.gamma(np.maximum(big_n - x + 1, 1).astype(float))
    t_rep = t0[owner] + within / total[owner] * horizon[owner]

    died = j <= big_n
    end_active = np.where(died, np.nan, np.where(g.silent_last_days is not None, stop, np.nan))
    last_t = np.full(n, np.nan)
    last_t[has] = t_rep[np.cumsum(x)[has] - 1]
    end_active = np.where(died, last_t, end_active)
    truth.rate[rows] = lam
    truth.dropout[rows] = p
    truth.acquired[rows] = t0
    truth.stop[rows] = end_active
    people_idx = np.concatenate([rows, rows[owner]])
    times = np.concatenate([t0, t_rep])
    return people_idx, times


def _holiday(
    rng: np.random.Generator,
    rows: np.ndarray,
    group_params,
    holiday_days: np.ndarray,
    truth: PersonTruth,
) -> tuple[np.ndarray, np.ndarray]:
    """Gift purchases in the two weeks before each holiday (at least one per person)."""
    n, h = len(rows), len(holiday_days)
    rate = rng.beta(
        6.0 * group_params.holiday_buy_rate, 6.0 * (1 - group_params.holiday_buy_rate), n
    )
    buys = rng.random((n, h)) < rate[:, None]
    none = ~buys.any(axis=1)
    if h:
        buys[np.flatnonzero(none), rng.integers(0, h, none.sum())] = True
    pi, hi = np.nonzero(buys)
    t = holiday_days[hi] - rng.uniform(0, ref.HOLIDAY_LEAD_DAYS - 1, pi.size)
    t = np.maximum(t, 0.0)
    truth.acquired[rows] = _group_min(pi, t, n)
    return rows[pi], t


def _group_min(owner: np.ndarray, t: np.ndarray, n: int) -> np.ndarray:
    out = np.full(n, np.inf)
    np.minimum.at(out, owner, t)
    out[np.isinf(out)] = np.nan
    return out


def simulate_orders(
    rng: np.random.Generator,
    people: People,
    *,
    window: float,
    holiday_days: np.ndarray,
    sale_days: np.ndarray,
) -> tuple[Orders, PersonTruth]:
    """Draw every order of every person, then values, channels, discounts and line items."""
    n = people.n
    nan = np.full(n, np.nan)
    truth = PersonTruth(
        rate=nan.copy(),
        dropout=nan.copy(),
        nu=nan.copy(),
        acquired=nan.copy(),
        stop=nan.copy(),
        pos_member=np.zeros(n, dtype=bool),
        pos_only=np.zeros(n, dtype=bool),
    )
    who, when = [], []
    for code, g in enumerate(GROUPS.values()):
        rows = np.flatnonzero(people.group == code)
        if not len(rows):
            continue
        if g.bgnbd is not None:
            pi, t = _bgnbd(rng, rows, g, window, truth)
        elif g.holiday_buy_rate is not None:
            pi, t = _holiday(rng, rows, g, holiday_days, truth)
        else:
            continue
        who.append(pi)
        when.append(t)
        if g.spend is not None:
            truth.nu[rows] = rng.gamma(g.spend.q, 1.0 / g.spend.gamma, len(rows))
    person = np.concatenate(who) if who else np.zeros(0, dtype=np.int64)
    t = np.concatenate(when) if when else np.zeros(0)

    # shops: a third of Hong Kong buyers have a loyalty card; some of them never buy online
    buyer_groups = [c for c, (nm, g) in enumerate(GROUPS.items()) if g.spend and nm != "b2b"]
    member = (people.country == "HK") & np.isin(people.group, buyer_groups)
    member &= rng.random(n) < 0.35
    truth.pos_member = member
    truth.pos_only = member & (rng.random(n) < 0.3)
    pos_share = np.array([0.5 for _ in GROUPS])
    pos_share[list(GROUPS).index("discount_hunter")] = 0.3
    is_pos = truth.pos_member[person] & (
        truth.pos_only[person] | (rng.random(person.size) < pos_share[people.group[person]])
    )
    # shop orders happen in opening hours (11:00–22:00) on the same day
    day = np.floor(t)
    t = np.where(is_pos, day + (11 + 11 * (t - day)) / 24, t)

    order = np.lexsort((person, t))
    person, t, is_pos = person[order], t[order], is_pos[order]
    m = person.size

    # values: Gamma-Gamma
    gp = np.array([g.spend.p if g.spend else np.nan for g in GROUPS.values()])
    value = rng.gamma(gp[people.group[person]], 1.0 / truth.nu[person])
    value = np.maximum(np.round(value, 2), 10.0)

    # discount codes
    dshare = np.array([g.discount_share for g in GROUPS.values()])
    has_code = rng.random(m) < dshare[people.group[person]]
    codes = list(ref.DISCOUNT_CODES)
    pct = np.array(list(ref.DISCOUNT_CODES.values()))
    general = [codes.index(c) for c in ("SALE20", "FLASH15", "FREESHIP", "BDAY15")]
    code = np.array(general)[rng.integers(0, len(general), m)]
    first_of_person = np.zeros(m, dtype=bool)
    if m:
        by_person = np.lexsort((t, person))
        fp = np.r_[True, person[by_person][1:] != person[by_person][:-1]]
        first_of_person[by_person[fp]] = True
    code = np.where(first_of_person, codes.index("WELCOME10"), code)
    grp = people.group[person]
    code = np.where(grp == list(GROUPS).index("vip_loyal"), codes.index("VIP10"), code)
    code = np.where(grp == list(GROUPS).index("b2b"), codes.index("B2B5"), code)
    # 11.11 orders use the 11.11 code
    code = np.where(_is_1111(t, sale_days), codes.index("1111SALE"), code)
    code = np.where(has_code & ~is_pos, code, -1)

    status = np.where(is_pos, 0, _pick3(rng, m, [0.97, 0.015, 0.015]))

    # line items
    gi = np.array([g.items_mean for g in GROUPS.values()])
    k = 1 + rng.poisson(gi[grp] - 1)
    k = np.minimum(k, 6)
    item_order = np.repeat(np.arange(m), k)
    ip = person[item_order]
    cats = np.array(ref.CATEGORIES)
    roll = rng.random(item_order.size)
    cat = np.where(
        roll < 0.6,
        people.favourite[ip, 0],
        np.where(roll < 0.9, people.favourite[ip, 1], rng.integers(0, len(cats), item_order.size)),
    )
    by_cat = [np.array([i for i, p in enumerate(ref.PRODUCTS) if p[1] == c]) for c in cats]
    product = np.zeros(item_order.size, dtype=np.int64)
    for ci, prods in enumerate(by_cat):
        rows = np.flatnonzero(cat == ci)
        product[rows] = prods[rng.integers(0, len(prods), rows.size)]
    qlo = np.array([g.quantity[0] for g in GROUPS.values()])
    qhi = np.array([g.quantity[1] for g in GROUPS.values()])
    ig = people.group[ip]
    qty = np.where(
        qhi[ig] > 2,
        rng.integers(qlo[ig], qhi[ig] + 1),
        1 + (rng.random(item_order.size) < 0.15).astype(np.int64),
    )
    # the basket is priced so that Total ≈ z: each line gets its list-price share of the
    # subtotal (the charged unit price therefore varies a little, as with promotions)
    list_price = np.array([p[3] for p in ref.PRODUCTS])[product]
    weight = list_price * qty
    wsum = np.bincount(item_order, weights=weight, minlength=m)
    off = np.where(code >= 0, pct[np.maximum(code, 0)], 0.0)
    target_sub = value / (1 - off)
    unit = np.round(target_sub[item_order] * weight / wsum[item_order] / qty, 2)
    unit = np.maximum(unit, 1.0)
    subtotal = np.round(np.bincount(item_order, weights=unit * qty, minlength=m), 2)
    discount = np.round(subtotal * off, 2)
    total = np.round(subtotal - discount, 2)

    # compact dtypes: at a million customers these arrays hold ~10M orders and ~18M line items
    return (
        Orders(
            person=person.astype(np.int32),
            t=t,
            value=value,
            pos=is_pos,
            code=code.astype(np.int8),
            status=status.astype(np.int8),
            subtotal=subtotal,
            discount=discount,
            total=total,
            item_order=item_order.astype(np.int32),
            item_product=product.astype(np.int16),
            item_qty=qty.astype(np.int32),
            item_price=unit,
        ),
        truth,
    )


def _pick3(rng: np.random.Generator, m: int, p: list[float]) -> np.ndarray:
    return rng.choice(len(p), size=m, p=np.asarray(p) / np.sum(p))


def _is_1111(t: np.ndarray, sale_days: np.ndarray) -> np.ndarray:
    """True for orders in the 11.11 shopping season (the two weeks up to 11 November)."""
    if not len(sale_days) or not len(t):
        return np.zeros(len(t), dtype=bool)
    idx = np.minimum(np.searchsorted(sale_days, t, side="left"), len(sale_days) - 1)
    d = sale_days[idx]
    return (t < d + 1) & (t > d - ref.HOLIDAY_LEAD_DAYS)
