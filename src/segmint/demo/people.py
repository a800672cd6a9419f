"""The true people behind the demo data: groups, demographics, names, identifiers, firmographics.

Everything is drawn column by column with numpy; names come from small pools made once with Faker
(zh_TW and en_US), so a million people cost the same Faker time as a thousand.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from segmint.demo import _reference as ref
from segmint.demo import _strings as s
from segmint.demo.params import GROUPS

__all__ = ["Companies", "People", "make_people"]

#: Faker pool size per kind of name
_POOL = 600


@dataclass
class Companies:
    """The B2B accounts (one row per company)."""

    name: pa.Array
    domain: np.ndarray
    industry: pa.Array
    employees: np.ndarray
    revenue: np.ndarray
    country: np.ndarray


@dataclass
class People:
    """Column arrays, one element per true person (index = person number)."""

    n: int
    person_id: pa.Array
    group: np.ndarray  # int8 code into tuple(GROUPS)
    country: np.ndarray  # ISO code strings
    place: np.ndarray  # index into _reference.PLACES
    gender: np.ndarray  # "female" | "male" | "non-binary"
    birth_date: np.ndarray  # datetime64[D]
    language: np.ndarray
    income_band: np.ndarray
    chinese_name: np.ndarray  # bool
    surname_zh: pa.Array
    given_zh: pa.Array
    first_en: pa.Array
    last_en: pa.Array
    name_zh: pa.Array
    name_en: pa.Array
    email: pa.Array  # primary e-mail, lower case, unique; null if the person has none
    phone: np.ndarray  # national mobile number, 0 if none
    company: np.ndarray  # index into companies, -1 if none
    companies: Companies
    favourite: np.ndarray  # (n, 2) category indexes
    interests: pa.Array
    lifestyle: pa.Array
    values: pa.Array

    def mask(self, *groups: str) -> np.ndarray:
        """Boolean mask of people in any of ``groups``."""
        codes = [list(GROUPS).index(g) for g in groups]
        return np.isin(self.group, codes)

    @property
    def group_name(self) -> np.ndarray:
        return np.array(list(GROUPS), dtype=object)[self.group]

    @property
    def has_phone(self) -> np.ndarray:
        return self.phone > 0

    @property
    def has_email(self) -> np.ndarray:
        return np.asarray(self.email.is_valid())


def _counts(n: int, shares: list[float]) -> np.ndarray:
    """Split ``n`` into integer counts proportional to ``shares`` (largest remainder)."""
    w = np.asarray(shares, dtype=float) / np.sum(shares)
    raw = w * n
    base = np.floor(raw).astype(np.int64)
    left = n - base.sum()
    base[np.argsort(-(raw - base), kind="stable")[:left]] += 1
    return base


def _pick(rng: np.random.Generator, weights, size) -> np.ndarray:
    w = np.asarray(weights, dtype=float)
    return rng.choice(len(w), size=size, p=w / w.sum())


def _faker_pools(seed: int) -> dict[str, list[str]]:
    from faker import Faker

    zh = Faker("zh_TW")
    en = Faker("en_US")
    zh.seed_instance(seed)
    en.seed_instance(seed + 1)

    def pool(fn) -> list[str]:
        # dict.fromkeys keeps first-seen order: sets would make the output depend on hashing
        return list(dict.fromkeys(fn() for _ in range(_POOL)))

    return {
        "zh_female": pool(zh.first_name_female),
        "zh_male": pool(zh.first_name_male),
        "en_female": pool(en.first_name_female),
        "en_male": pool(en.first_name_male),
        "en_last": [n for n in pool(en.last_name) if re.fullmatch(r"[A-Za-z]+", n)],
    }


def repeats(values: pa.Array) -> np.ndarray:
    """True for every element equal to an earlier one (nulls are never repeats)."""
    idx = np.asarray(pc.dictionary_encode(values).indices.fill_null(-1))
    _, first = np.unique(idx, return_index=True)
    out = np.ones(len(idx), dtype=bool)
    out[first] = False
    return out & (idx >= 0)


def unique_strings(values: pa.Array, serial: np.ndarray, sep: str = "") -> pa.Array:
    """Make strings unique by appending ``sep`` and the serial number to every repeat."""
    rep = repeats(values)
    if not rep.any():
        return values
    return pc.if_else(pa.array(rep), s.join(values, sep, s.to_str(serial)), values)


def _gumbel_top2(rng: np.random.Generator, weights: np.ndarray) -> np.ndarray:
    """Two distinct categories per row, drawn with row-specific weights."""
    logw = np.log(np.maximum(weights, 1e-12))
    keys = logw + rng.gumbel(size=weights.shape)
    return np.argsort(-keys, axis=1, kind="stable")[:, :2]


def make_people(n: int, rng: np.random.Generator, *, end: date, seed: int) -> People:
    """Draw ``n`` people: groups (exact shares), places, demographics, names and identifiers."""
    names = list(GROUPS)
    counts = _counts(n, [g.share for g in GROUPS.values()])
    group = np.repeat(np.arange(len(names), dtype=np.int8), counts)
    rng.shuffle(group)
    gname = np.array(names, dtype=object)[group]

    # --- where -----------------------------------------------------------------------------
    codes = list(ref.COUNTRIES)
    country = np.array(codes, dtype="<U2")[_pick(rng, [ref.COUNTRIES[c][0] for c in codes], n)]
    # business buyers and their leads are in the three main markets
    b2b_like = (gname == "b2b") | ((gname == "prospect") & (rng.random(n) < 0.3))
    main = np.array(["HK", "TW", "SG"], dtype="<U2")
    fix = b2b_like & ~np.isin(country, main)
    country[fix] = main[_pick(rng, [0.5, 0.3, 0.2], fix.sum())]
    place = np.zeros(n, dtype=np.int64)
    for c in codes:
        rows = np.flatnonzero(country == c)
        cand = [i for i, p in enumerate(ref.PLACES) if p[0] == c]
        place[rows] = np.array(cand)[_pick(rng, [ref.PLACES[i][4] for i in cand], len(rows))]

    # --- who -------------------------------------------------------------------------------
    gender = np.array(["female", "male", "non-binary"], dtype=object)[
        _pick(rng, [0.64, 0.34, 0.02], n)
    ]
    mean_age = np.select(
        [gname == "b2b", gname == "browser", gname == "new", gname == "vip_loyal"],
        [41.0, 28.0, 30.0, 37.0],
        34.0,
    )
    age = rng.normal(mean_age, 9.0)
    # out-of-range ages are redrawn near the bounds (clipping would pile birthdays on one day)
    age = np.where(
        age < 18, 18 + rng.uniform(0, 4, n), np.where(age > 75, 75 - rng.uniform(0, 4, n), age)
    )
    end64 = np.datetime64(end, "D")
    birth_date = end64 - np.round(age * 365.25).astype("timedelta64[D]")

    lang_p = {
        "HK": [0.65, 0.35, 0.0],
        "TW": [0.95, 0.05, 0.0],
        "SG": [0.0, 0.8, 0.2],
        "MO": [0.9, 0.1, 0.0],
    }
    language = np.full(n, "en", dtype=object)
    for c, p in lang_p.items():
        rows = np.flatnonzero(country == c)
        language[rows] = np.array(ref.LANGUAGES, dtype=object)[_pick(rng, p, len(rows))]

    income_p = {
        "vip_loyal": [0.05, 0.2, 0.4, 0.35],
        "discount_hunter": [0.4, 0.4, 0.15, 0.05],
        "b2b": [0.05, 0.25, 0.4, 0.3],
    }
    income = np.empty(n, dtype=object)
    for g in names:
        rows = np.flatnonzero(gname == g)
        p = income_p.get(g, [0.2, 0.4, 0.3, 0.1])
        income[rows] = np.array(ref.INCOME_BANDS, dtype=object)[_pick(rng, p, len(rows))]

    # --- names -----------------------------------------------------------------------------
    pools = _faker_pools(seed)
    female = gender == "female"
    male = gender == "male"
    other = ~(female | male)
    chinese_name = np.isin(country, ["HK", "TW", "MO"]) | (
        (country == "SG") & (rng.random(n) < 0.75)
    )
    chinese_name |= ~np.isin(country, ["HK", "TW", "MO", "SG"]) & (rng.random(n) < 0.15)
    sur = _pick(rng, [x[4] for x in ref.SURNAMES], n)
    surname_zh = s.take([x[0] for x in ref.SURNAMES], sur)
    roman_col = np.where(country == "TW", 2, np.where(country == "SG", 3, 1))
    romans = pa.array([x[c] for c in (1, 2, 3) for x in ref.SURNAMES])
    roman = romans.take(pa.array((roman_col - 1) * len(ref.SURNAMES) + sur))

    def by_gender(f_pool: list[str], m_pool: list[str]) -> pa.Array:
        fi = rng.integers(0, len(f_pool), n)
        mi = rng.integers(0, len(m_pool), n)
        use_f = female | (other & (rng.random(n) < 0.5))
        return pc.if_else(pa.array(use_f), s.take(f_pool, fi), s.take(m_pool, mi))

    given_zh = by_gender(pools["zh_female"], pools["zh_male"])
    first_en = by_gender(pools["en_female"], pools["en_male"])
    last_pool = s.take(pools["en_last"], rng.integers(0, len(pools["en_last"]), n))
    last_en = pc.if_else(pa.array(chinese_name), roman, last_pool)
    name_zh = s.null_where(s.join(surname_zh, given_zh), ~chinese_name)
    name_en = s.join(first_en, " ", last_en)

    # --- companies (B2B buyers and leads) --------------------------------------------------
    company = np.full(n, -1, dtype=np.int64)
    companies = _make_companies(rng, country, b2b_like, company)

    # --- e-mail ----------------------------------------------------------------------------
    serial = np.arange(1, n + 1)
    fl = pc.replace_substring_regex(pc.utf8_lower(first_en), r"[^a-z]", "")
    ll = pc.replace_substring_regex(pc.utf8_lower(last_en), r"[^a-z]", "")
    yy = s.to_str(birth_date.astype("datetime64[Y]").astype(int) % 100, 2)
    num2 = s.to_str(rng.integers(1, 100, n))
    num4 = s.to_str(rng.integers(1, 10000, n))
    locals_ = [
        s.join(fl, ".", ll),
        s.join(fl, ll, num2),
        s.join(fl, "_", ll),
        s.join(fl, pc.utf8_slice_codeunits(ll, 0, 1), num4),
        s.join(ll, ".", fl, yy),
    ]
    local = s.choose(_pick(rng, [3, 3, 1, 2, 2], n), locals_)
    domain = np.empty(n, dtype=object)
    for c in codes:
        rows = np.flatnonzero(country == c)
        doms = ref.EMAIL_DOMAINS.get(c, ref.EMAIL_DOMAINS["other"])
        domain[rows] = np.array([d for d, _ in doms], dtype=object)[
            _pick(rng, [w for _, w in doms], len(rows))
        ]
    work = company >= 0
    domain[work] = companies.domain[company[work]]
    local = pc.if_else(pa.array(work), s.join(fl, ".", ll), local)
    domain = pa.array(domain, pa.string())
    email = s.join(local, "@", domain)
    sep = ""
    while (rep := repeats(email)).any():  # append the serial to repeats until all are unique
        local = pc.if_else(pa.array(rep), s.join(local, sep, s.to_str(serial)), local)
        email = s.join(local, "@", domain)
        sep = "_"
    email = pc.utf8_lower(email)
    # prospects known from chat apps often never gave an e-mail
    no_email = (gname == "prospect") & ~b2b_like & (rng.random(n) < 0.45)
    email = s.null_where(email, no_email)

    # --- phone -----------------------------------------------------------------------------
    phone = s.mobile_numbers(rng, country)
    no_phone = rng.random(n) < np.where(gname == "prospect", 0.0, 0.07)
    no_phone &= ~no_email  # everybody can be reached somehow
    phone[no_phone] = 0

    # --- psychographics --------------------------------------------------------------------
    weights = np.array([GROUPS[g].category_weights for g in names], dtype=float)[group]
    favourite = _gumbel_top2(rng, weights)
    interest_of = [ref.CATEGORY_INTEREST[c] for c in ref.CATEGORIES]
    i1 = s.take(interest_of, favourite[:, 0])
    i2 = s.take(interest_of, favourite[:, 1])
    extra = s.take(ref.EXTRA_INTERESTS, rng.integers(0, len(ref.EXTRA_INTERESTS), n))
    interests = pc.if_else(
        pa.array(rng.random(n) < 0.5), s.join(i1, ", ", i2, ", ", extra), s.join(i1, ", ", i2)
    )
    life_w = np.tile(np.array([3, 1, 1, 1, 1, 1, 1], dtype=float), (n, 1))
    life_w[age < 24, 1] = 8  # students
    life_w[(age > 28) & (age < 42), 2] = 2.5  # new parents
    lifestyle = s.take(ref.LIFESTYLES, _gumbel_top2(rng, life_w)[:, 0])
    val_w = np.tile(np.array([2, 2, 1, 2, 2, 1, 1], dtype=float), (n, 1))
    val_w[gname == "vip_loyal", 0] = 12
    val_w[gname == "discount_hunter", 1] = 12
    val_w[gname == "b2b", 4] = 8
    vtop = _gumbel_top2(rng, val_w)
    v1, v2 = s.take(ref.VALUES, vtop[:, 0]), s.take(ref.VALUES, vtop[:, 1])
    values = pc.if_else(pa.array(rng.random(n) < 0.4), s.join(v1, ", ", v2), v1)

    width = max(7, len(str(n)))
    return People(
        n=n,
        person_id=s.join("P", s.to_str(serial, width)),
        group=group,
        country=country,
        place=place,
        gender=gender,
        birth_date=birth_date,
        language=language,
        income_band=income,
        chinese_name=chinese_name,
        surname_zh=surname_zh,
        given_zh=given_zh,
        first_en=first_en,
        last_en=last_en,
        name_zh=name_zh,
        name_en=name_en,
        email=email,
        phone=phone,
        company=company,
        companies=companies,
        favourite=favourite,
        interests=interests,
        lifestyle=lifestyle,
        values=values,
    )


def _make_companies(
    rng: np.random.Generator, country: np.ndarray, b2b_like: np.ndarray, company: np.ndarray
) -> Companies:
    """Companies for the B2B people (written into ``company``); ~30 % share a company."""
    names: list[str] = []
    domains: list[str] = []
    industries: list[str] = []
    ccs: list[str] = []
    ind_w = [w for *_, w in ref.INDUSTRIES]
    seen: dict[str, int] = {}
    start = 0
    for c in ("HK", "TW", "SG"):
        rows = np.flatnonzero(b2b_like & (country == c))
        m = max(1, int(np.ceil(len(rows) * 0.7))) if len(rows) else 0
        if not m:
            continue
        w1 = rng.integers(0, len(ref.COMPANY_WORDS), m)
        w2 = rng.integers(0, len(ref.COMPANY_WORDS), m)
        ind = _pick(rng, ind_w, m)
        tld = {"HK": ".com.hk", "TW": ".com.tw", "SG": ".com.sg"}[c]
        for a, b, k in zip(w1.tolist(), w2.tolist(), ind.tolist(), strict=True):
            words = [ref.COMPANY_WORDS[a]]
            if b != a:
                words.append(ref.COMPANY_WORDS[b])
            noun = ref.INDUSTRIES[k][1]
            base = " ".join([*words, noun])
            slug = re.sub(r"[^a-z]", "", "".join(words).lower() + noun.lower())
            dup = seen.get(base, 0)
            seen[base] = dup + 1
            if dup:
                base += f" {dup + 1}"
                slug += str(dup + 1)
            names.append(f"{base} {ref.COMPANY_SUFFIX[c]}")
            domains.append(slug + tld)
            industries.append(ref.INDUSTRIES[k][0])
            ccs.append(c)
        # the first m people get their own company, the rest join a random one
        own = rng.permutation(len(rows))
        assign = np.where(own < m, own, rng.integers(0, m, len(rows)))
        company[rows] = start + assign
        start += m
    size = _pick(rng, [x[2] for x in ref.COMPANY_SIZES], len(names))
    lo = np.array([ref.COMPANY_SIZES[i][0] for i in size])
    hi = np.array([ref.COMPANY_SIZES[i][1] for i in size])
    rlo = np.array([ref.COMPANY_SIZES[i][3] for i in size])
    rhi = np.array([ref.COMPANY_SIZES[i][4] for i in size])
    employees = rng.integers(lo, hi + 1) if len(names) else np.zeros(0, dtype=np.int64)
    revenue = (
        np.round(np.exp(rng.uniform(np.log(rlo), np.log(rhi))), -5) if len(names) else (np.zeros(0))
    )
    return Companies(
        name=pa.array(names, pa.string()),
        domain=np.array(domains, dtype=object),
        industry=pa.array(industries, pa.string()),
        employees=np.asarray(employees, dtype=np.int64),
        revenue=np.asarray(revenue, dtype=float),
        country=np.array(ccs, dtype="<U2"),
    )
