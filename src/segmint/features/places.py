"""Places as reference data: is a customer's city urban or rural? (layer 2: ibis only).

:data:`PLACES` lists the 18 districts of Hong Kong, the 22 cities and counties of Taiwan,
Singapore, Macao and the other cities the demo generates, each with an urban/rural class and
the basis it rests on. The classes are deliberately coarse (one class per district or county):

- **Hong Kong** districts are urban, except *Islands* (Lantau and the outlying islands, mostly
  country park): the least densely populated district, the only one without a dense new town
  holding most of its people (Census and Statistics Department, 2021 Population Census, district
  population and land area).
- **Taiwan**: special municipalities (直轄市) and provincial cities (市) are urban, counties
  (縣) rural — the administrative type of the Local Government Act (地方制度法, art. 3–4;
  Ministry of the Interior). Municipalities include rural districts and some counties
  (Changhua, Hsinchu) have dense towns: the class describes the unit, not every address.
- **Singapore** and **Macao** are city states, 100 % urban (UN World Urbanization Prospects).
- The other cities are the cores of metropolitan areas: urban.

Names match in English (also "Sha Tin District", "Taipei") or Chinese (traditional,
simplified, 台/臺), ignoring case and surrounding spaces, within the profile's country.
A profile without a known place has no class.

:func:`place_urbanity` is the computed metric ``places`` of segment definitions, e.g.
``{metric: places.urbanity, op: eq, value: rural}``.

Example:
    >>> import ibis
    >>> p = ibis.memtable({"customer_id": ["a", "b", "c"], "country": ["HK", "TW", "HK"],
    ...                    "city": ["Islands", "臺北市", "Atlantis"]})
    >>> place_urbanity(p).order_by("customer_id").to_pandas().values.tolist()
    [['a', 'rural'], ['b', 'urban']]
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir
import pyarrow as pa

__all__ = ["PLACES", "URBANITY", "place_urbanity", "places_table"]

#: The classes of :data:`PLACES`.
URBANITY = ("urban", "rural")

_HK = "C&SD 2021 Population Census (district population and area)"
_TW = "Local Government Act art. 3-4 (administrative type)"
_UN = "UN World Urbanization Prospects (100 % urban)"
_METRO = "core city of a metropolitan area"

#: (country, English name, Chinese names separated by '|', urbanity, basis)
PLACES: tuple[tuple[str, str, str, str, str], ...] = (
    ("HK", "Central and Western", "中西區", "urban", _HK),
    ("HK", "Wan Chai", "灣仔區|湾仔区", "urban", _HK),
    ("HK", "Eastern", "東區|东区", "urban", _HK),
    ("HK", "Southern", "南區|南区", "urban", _HK),
    ("HK", "Yau Tsim Mong", "油尖旺區|油尖旺区", "urban", _HK),
    ("HK", "Sham Shui Po", "深水埗區|深水埗区", "urban", _HK),
    ("HK", "Kowloon City", "九龍城區|九龙城区", "urban", _HK),
    ("HK", "Wong Tai Sin", "黃大仙區|黄大仙区", "urban", _HK),
    ("HK", "Kwun Tong", "觀塘區|观塘区", "urban", _HK),
    ("HK", "Kwai Tsing", "葵青區|葵青区", "urban", _HK),
    ("HK", "Tsuen Wan", "荃灣區|荃湾区", "urban", _HK),
    ("HK", "Tuen Mun", "屯門區|屯门区", "urban", _HK),
    ("HK", "Yuen Long", "元朗區|元朗区", "urban", _HK),
    ("HK", "North", "北區|北区", "urban", _HK),
    ("HK", "Tai Po", "大埔區|大埔区", "urban", _HK),
    ("HK", "Sha Tin", "沙田區|沙田区", "urban", _HK),
    ("HK", "Sai Kung", "西貢區|西贡区", "urban", _HK),
    ("HK", "Islands", "離島區|离岛区", "rural", _HK),
    ("TW", "Taipei City", "臺北市|台北市", "urban", _TW),
    ("TW", "New Taipei City", "新北市", "urban", _TW),
    ("TW", "Taoyuan City", "桃園市|桃园市", "urban", _TW),
    ("TW", "Taichung City", "臺中市|台中市", "urban", _TW),
    ("TW", "Tainan City", "臺南市|台南市", "urban", _TW),
    ("TW", "Kaohsiung City", "高雄市", "urban", _TW),
    ("TW", "Keelung City", "基隆市", "urban", _TW),
    ("TW", "Hsinchu City", "新竹市", "urban", _TW),
    ("TW", "Chiayi City", "嘉義市|嘉义市", "urban", _TW),
    ("TW", "Hsinchu County", "新竹縣|新竹县", "rural", _TW),
    ("TW", "Miaoli County", "苗栗縣|苗栗县", "rural", _TW),
    ("TW", "Changhua County", "彰化縣|彰化县", "rural", _TW),
    ("TW", "Nantou County", "南投縣|南投县", "rural", _TW),
    ("TW", "Yunlin County", "雲林縣|云林县", "rural", _TW),
    ("TW", "Chiayi County", "嘉義縣|嘉义县", "rural", _TW),
    ("TW", "Pingtung County", "屏東縣|屏东县", "rural", _TW),
    ("TW", "Yilan County", "宜蘭縣|宜兰县", "rural", _TW),
    ("TW", "Hualien County", "花蓮縣|花莲县", "rural", _TW),
    ("TW", "Taitung County", "臺東縣|台東縣|台东县", "rural", _TW),
    ("TW", "Penghu County", "澎湖縣|澎湖县", "rural", _TW),
    ("TW", "Kinmen County", "金門縣|金门县", "rural", _TW),
    ("TW", "Lienchiang County", "連江縣|连江县", "rural", _TW),
    ("SG", "Singapore", "新加坡", "urban", _UN),
    ("MO", "Macao", "澳門|澳门|Macau", "urban", _UN),
    ("MY", "Kuala Lumpur", "吉隆坡", "urban", _METRO),
    ("MY", "George Town", "喬治市|乔治市", "urban", _METRO),
    ("AU", "Sydney", "悉尼|雪梨", "urban", _METRO),
    ("AU", "Melbourne", "墨爾本|墨尔本", "urban", _METRO),
    ("GB", "London", "倫敦|伦敦", "urban", _METRO),
    ("US", "New York", "紐約|纽约", "urban", _METRO),
    ("US", "San Francisco", "三藩市|舊金山|旧金山", "urban", _METRO),
    ("CA", "Vancouver", "溫哥華|温哥华", "urban", _METRO),
    ("CA", "Toronto", "多倫多|多伦多", "urban", _METRO),
)


def _variants(country: str, city: str) -> tuple[str, ...]:
    """Other ways the English name is written: "Sha Tin District", "Taipei" (not for Hsinchu
    and Chiayi, where the bare name could be the city or the county)."""
    if country == "HK":
        return (f"{city} District",)
    bare = city.removesuffix(" City").removesuffix(" County")
    if country == "TW" and bare != city and bare not in ("Hsinchu", "Chiayi"):
        return (bare,)
    return ()


def places_table() -> pa.Table:
    """One row per name a place is written as: ``country``, ``name`` (lower case),
    ``city`` (the English name), ``urbanity``, ``basis``.

    >>> t = places_table().to_pylist()
    >>> [r for r in t if r["name"] == "台北市"][0]["city"]
    'Taipei City'
    """
    rows = []
    for country, city, zh, urbanity, basis in PLACES:
        for name in (city, *zh.split("|"), *_variants(country, city)):
            rows.append((country, name.strip().lower(), city, urbanity, basis))
    cols = ("country", "name", "city", "urbanity", "basis")
    return pa.table({c: [r[i] for r in rows] for i, c in enumerate(cols)})


def place_urbanity(profiles: ir.Table) -> ir.Table:
    """``customer_id`` and ``urbanity`` (``urban`` / ``rural``) of profiles with a known place."""
    ref = ibis.memtable(places_table())
    p = profiles.select(
        customer_id=profiles.customer_id,
        place_country=profiles.country.strip().upper(),
        place_name=profiles.city.strip().lower(),
    )
    on = [p.place_country == ref.country, p.place_name == ref.name]
    return p.join(ref, on).select(customer_id=p.customer_id, urbanity=ref.urbanity)
