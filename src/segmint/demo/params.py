"""Generating parameters of the demo data: the planted customer groups and their processes.

Time is measured in **days**. Purchases of the BG/NBD groups follow Fader–Hardie–Lee (2005):
each person has a purchase rate ``λ ~ Gamma(r, rate=alpha)`` (purchases per day) and a dropout
probability ``p ~ Beta(a, b)``; after the first purchase (at the acquisition time) repeat purchases
arrive as a Poisson process with rate ``λ`` and after each repeat purchase the person becomes
inactive with probability ``p``. Order values follow Gamma-Gamma (Fader–Hardie–Lee 2005b): each
person has ``ν ~ Gamma(q, rate=gamma)`` and every order value is ``z ~ Gamma(p, rate=ν)``, so the
person's mean order value is ``p / ν`` and the group mean is ``p·gamma / (q − 1)``.

Example:
    >>> GROUPS["vip_loyal"].bgnbd.mean_rate * 365 > 30
    True
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

__all__ = ["GROUPS", "BetaGeo", "GammaGamma", "Group", "group_names"]


@dataclass(frozen=True)
class BetaGeo:
    """BG/NBD parameters on a daily time scale (``alpha`` in days)."""

    r: float
    alpha: float
    a: float
    b: float

    @property
    def mean_rate(self) -> float:
        """Mean purchases per day while alive, ``r / alpha``."""
        return self.r / self.alpha


@dataclass(frozen=True)
class GammaGamma:
    """Gamma-Gamma spend parameters (HKD)."""

    p: float
    q: float
    gamma: float

    @property
    def mean_order_value(self) -> float:
        """Population mean order value, ``p·gamma / (q − 1)``."""
        return self.p * self.gamma / (self.q - 1)


@dataclass(frozen=True)
class Group:
    """A planted customer group: its share of people and how its members behave."""

    name: str
    share: float
    description: str
    bgnbd: BetaGeo | None = None
    spend: GammaGamma | None = None
    #: first purchase between these many days before the end (older, newer); None = window start
    acquired_days_before_end: tuple[float | None, float] | None = None
    #: lapsed only: the last possible purchase is this many days before the end at the latest
    silent_last_days: float | None = None
    #: share of orders that use a discount code
    discount_share: float = 0.1
    #: mean number of line items per order
    items_mean: float = 1.5
    #: quantity range of each line item
    quantity: tuple[int, int] = (1, 2)
    #: browsing sessions (with product views, without a purchase) per year while active
    browse_per_year: float = 4.0
    #: holiday shoppers: mean chance to buy before each gift-giving holiday
    holiday_buy_rate: float | None = None
    #: weights of the favourite categories (skincare, makeup, fragrance, haircare, body care,
    #: desserts, tea, gift sets)
    category_weights: tuple[float, ...] = (5, 4, 2, 2, 2, 2, 1, 1)
    #: NPS score range answered by members of this group (inclusive)
    nps: tuple[int, int] = (6, 10)
    #: chance that a delivered message is read / clicked
    read_rate: float = 0.5
    click_rate: float = 0.1

    def to_json(self) -> dict:
        """The parameters as a JSON-ready dict (for ``ground_truth/params.json``)."""
        d = asdict(self)
        if self.bgnbd is not None:
            d["bgnbd"]["mean_purchases_per_year"] = round(self.bgnbd.mean_rate * 365, 3)
        if self.spend is not None:
            d["spend"]["mean_order_value"] = round(self.spend.mean_order_value, 2)
        return d


GROUPS: dict[str, Group] = {
    g.name: g
    for g in (
        Group(
            "vip_loyal",
            0.05,
            "High frequency, high spend, bought recently; joined at least a year ago.",
            bgnbd=BetaGeo(r=12.0, alpha=108.0, a=1.0, b=1500.0),
            spend=GammaGamma(p=8.0, q=12.0, gamma=1650.0),
            acquired_days_before_end=(None, 365),
            discount_share=0.08,
            items_mean=2.2,
            browse_per_year=6,
            category_weights=(6, 4, 5, 2, 2, 1, 1, 2),
            nps=(9, 10),
            read_rate=0.8,
            click_rate=0.35,
        ),
        Group(
            "regular",
            0.26,
            "Buys about monthly at ordinary prices; the pure BG/NBD reference group.",
            bgnbd=BetaGeo(r=12.0, alpha=420.0, a=1.0, b=800.0),
            spend=GammaGamma(p=6.0, q=5.0, gamma=280.0),
            acquired_days_before_end=(None, 180),
            discount_share=0.10,
            items_mean=1.6,
            browse_per_year=3,
            nps=(7, 10),
            read_rate=0.5,
            click_rate=0.12,
        ),
        Group(
            "discount_hunter",
            0.11,
            "Buys often but almost always with a discount code, small baskets.",
            bgnbd=BetaGeo(r=8.0, alpha=240.0, a=1.0, b=120.0),
            spend=GammaGamma(p=6.0, q=8.0, gamma=152.0),
            acquired_days_before_end=(None, 180),
            discount_share=0.92,
            items_mean=1.3,
            browse_per_year=5,
            category_weights=(4, 6, 1, 2, 2, 3, 1, 0.5),
            nps=(6, 9),
            read_rate=0.6,
            click_rate=0.25,
        ),
        Group(
            "holiday_shopper",
            0.07,
            "Buys gifts only in the two weeks before Lunar New Year, Valentine's, Mother's Day, "
            "11.11 and Christmas.",
            spend=GammaGamma(p=6.0, q=6.0, gamma=540.0),
            discount_share=0.25,
            items_mean=1.8,
            browse_per_year=2,
            holiday_buy_rate=0.6,
            category_weights=(1, 1, 4, 0.5, 1, 4, 2, 6),
            nps=(7, 9),
            read_rate=0.4,
            click_rate=0.1,
        ),
        Group(
            "new",
            0.07,
            "First purchase in the last 60 days.",
            bgnbd=BetaGeo(r=4.0, alpha=100.0, a=1.0, b=60.0),
            spend=GammaGamma(p=6.0, q=5.0, gamma=253.0),
            acquired_days_before_end=(60, 0),
            discount_share=0.1,
            items_mean=1.5,
            browse_per_year=4,
            nps=(7, 10),
            read_rate=0.6,
            click_rate=0.15,
        ),
        Group(
            "lapsed",
            0.16,
            "Was active for months, then stopped buying more than 240 days before the end.",
            bgnbd=BetaGeo(r=6.0, alpha=150.0, a=1.0, b=60.0),
            spend=GammaGamma(p=6.0, q=5.0, gamma=267.0),
            acquired_days_before_end=(None, 420),
            silent_last_days=240,
            discount_share=0.12,
            items_mean=1.5,
            browse_per_year=2,
            nps=(0, 6),
            read_rate=0.2,
            click_rate=0.02,
        ),
        Group(
            "b2b",
            0.06,
            "Business buyers (spas, hotels, retailers): large wholesale orders every few weeks.",
            bgnbd=BetaGeo(r=5.0, alpha=200.0, a=1.0, b=100.0),
            spend=GammaGamma(p=5.0, q=8.0, gamma=8400.0),
            acquired_days_before_end=(None, 120),
            discount_share=0.05,
            items_mean=3.0,
            quantity=(6, 48),
            browse_per_year=1,
            category_weights=(5, 1, 1, 3, 5, 0.5, 3, 1),
            nps=(7, 9),
            read_rate=0.5,
            click_rate=0.1,
        ),
        Group(
            "browser",
            0.12,
            "Visits and views products, sometimes fills a cart, never buys.",
            browse_per_year=10,
            nps=(5, 8),
            read_rate=0.4,
            click_rate=0.15,
        ),
        Group(
            "prospect",
            0.10,
            "Known only from contact lists (WhatsApp, LINE, Instagram, HubSpot leads): no orders, "
            "no web events.",
            browse_per_year=0,
            read_rate=0.3,
            click_rate=0.05,
        ),
    )
}


def group_names() -> tuple[str, ...]:
    """Names of the planted groups in a fixed order (their integer codes)."""
    return tuple(GROUPS)
