"""Fixed reference data for the demo generator: places, surnames, products, holidays, stores.

Everything here is plain data (tuples), so the generator stays deterministic and testable.
The holiday calendar is that of :mod:`segmint.features.occasions`:

    >>> from datetime import date
    >>> holidays(date(2025, 11, 1), date(2026, 2, 28))[:2]
    [('11.11', datetime.date(2025, 11, 11)), ('Christmas', datetime.date(2025, 12, 25))]
"""

from __future__ import annotations

from segmint.features import occasions

# --- countries -----------------------------------------------------------------------------------

#: country code → (share of people, calling code, national number length, written-phone style)
COUNTRIES: dict[str, tuple[float, str, int]] = {
    "HK": (0.45, "852", 8),
    "TW": (0.30, "886", 9),
    "SG": (0.15, "65", 8),
    "MO": (0.025, "853", 8),
    "MY": (0.02, "60", 9),
    "AU": (0.015, "61", 9),
    "GB": (0.015, "44", 10),
    "US": (0.015, "1", 10),
    "CA": (0.01, "1", 10),
}

#: first digits (or area codes) of mobile numbers per country; valid 4-digit prefixes are
#: derived from these with the phonenumbers metadata (see _strings.valid_prefixes).
MOBILE_STARTS: dict[str, tuple[str, ...]] = {
    "HK": ("5", "6", "9"),
    "TW": ("9",),
    "SG": ("8", "9"),
    "MO": ("6",),
    "MY": ("1",),
    "AU": ("4",),
    "GB": ("7",),
    "US": ("415", "212", "646", "310"),
    "CA": ("604", "416"),
}

COUNTRY_NAMES = {
    "HK": "Hong Kong",
    "TW": "Taiwan",
    "SG": "Singapore",
    "MO": "Macao",
    "MY": "Malaysia",
    "AU": "Australia",
    "GB": "United Kingdom",
    "US": "United States",
    "CA": "Canada",
}

#: (country, Shopify province code, region, city, weight)
PLACES: tuple[tuple[str, str, str, str, float], ...] = (
    ("HK", "HK", "Hong Kong Island", "Central and Western", 3),
    ("HK", "HK", "Hong Kong Island", "Wan Chai", 3),
    ("HK", "HK", "Hong Kong Island", "Eastern", 5),
    ("HK", "HK", "Hong Kong Island", "Southern", 2),
    ("HK", "KL", "Kowloon", "Yau Tsim Mong", 4),
    ("HK", "KL", "Kowloon", "Sham Shui Po", 5),
    ("HK", "KL", "Kowloon", "Kowloon City", 5),
    ("HK", "KL", "Kowloon", "Wong Tai Sin", 5),
    ("HK", "KL", "Kowloon", "Kwun Tong", 8),
    ("HK", "NT", "New Territories", "Kwai Tsing", 6),
    ("HK", "NT", "New Territories", "Tsuen Wan", 4),
    ("HK", "NT", "New Territories", "Tuen Mun", 6),
    ("HK", "NT", "New Territories", "Yuen Long", 8),
    ("HK", "NT", "New Territories", "North", 4),
    ("HK", "NT", "New Territories", "Tai Po", 4),
    ("HK", "NT", "New Territories", "Sha Tin", 9),
    ("HK", "NT", "New Territories", "Sai Kung", 6),
    ("HK", "NT", "New Territories", "Islands", 2),
    ("TW", "", "Northern Taiwan", "Taipei City", 10),
    ("TW", "", "Northern Taiwan", "New Taipei City", 12),
    ("TW", "", "Northern Taiwan", "Taoyuan City", 7),
    ("TW", "", "Northern Taiwan", "Hsinchu City", 2),
    ("TW", "", "Northern Taiwan", "Keelung City", 1),
    ("TW", "", "Central Taiwan", "Taichung City", 9),
    ("TW", "", "Central Taiwan", "Changhua County", 4),
    ("TW", "", "Southern Taiwan", "Tainan City", 6),
    ("TW", "", "Southern Taiwan", "Kaohsiung City", 9),
    ("SG", "", "Central Region", "Singapore", 4),
    ("SG", "", "East Region", "Singapore", 2),
    ("SG", "", "North-East Region", "Singapore", 2),
    ("SG", "", "West Region", "Singapore", 2),
    ("MO", "", "Macao Peninsula", "Macao", 3),
    ("MO", "", "Taipa", "Macao", 1),
    ("MY", "KUL", "Kuala Lumpur", "Kuala Lumpur", 3),
    ("MY", "PNG", "Penang", "George Town", 1),
    ("AU", "NSW", "New South Wales", "Sydney", 2),
    ("AU", "VIC", "Victoria", "Melbourne", 2),
    ("GB", "", "England", "London", 1),
    ("US", "NY", "New York", "New York", 1),
    ("US", "CA", "California", "San Francisco", 1),
    ("CA", "BC", "British Columbia", "Vancouver", 2),
    ("CA", "ON", "Ontario", "Toronto", 1),
)

# --- names ---------------------------------------------------------------------------------------

#: Chinese surname → romanisation as written in Hong Kong, Taiwan and Singapore, with a weight.
SURNAMES: tuple[tuple[str, str, str, str, float], ...] = (
    ("陳", "Chan", "Chen", "Tan", 10),
    ("李", "Lee", "Lee", "Lee", 7),
    ("張", "Cheung", "Chang", "Teo", 6),
    ("黃", "Wong", "Huang", "Ng", 6),
    ("王", "Wong", "Wang", "Ong", 5),
    ("林", "Lam", "Lin", "Lim", 6),
    ("劉", "Lau", "Liu", "Low", 4),
    ("吳", "Ng", "Wu", "Goh", 4),
    ("楊", "Yeung", "Yang", "Yeo", 3),
    ("梁", "Leung", "Liang", "Leong", 3),
    ("何", "Ho", "Ho", "Ho", 3),
    ("郭", "Kwok", "Kuo", "Quek", 2),
    ("蔡", "Choi", "Tsai", "Chua", 3),
    ("鄭", "Cheng", "Cheng", "Tay", 2),
    ("謝", "Tse", "Hsieh", "Chia", 2),
    ("許", "Hui", "Hsu", "Koh", 2),
    ("曾", "Tsang", "Tseng", "Chan", 2),
    ("周", "Chow", "Chou", "Chew", 2),
    ("羅", "Law", "Lo", "Loh", 2),
    ("葉", "Yip", "Yeh", "Yap", 2),
    ("馬", "Ma", "Ma", "Ma", 1),
    ("朱", "Chu", "Chu", "Choo", 1),
    ("胡", "Wu", "Hu", "Woo", 1),
    ("高", "Ko", "Kao", "Koh", 1),
    ("麥", "Mak", "Mai", "Mak", 1),
    ("鍾", "Chung", "Chung", "Chong", 1),
    ("潘", "Poon", "Pan", "Phua", 1),
    ("蕭", "Siu", "Hsiao", "Seow", 1),
    ("袁", "Yuen", "Yuan", "Wan", 1),
    ("洪", "Hung", "Hung", "Ang", 1),
)

#: Email domains people use, per country (weights).
EMAIL_DOMAINS: dict[str, tuple[tuple[str, float], ...]] = {
    "HK": (
        ("gmail.com", 45),
        ("yahoo.com.hk", 15),
        ("hotmail.com", 12),
        ("outlook.com", 8),
        ("icloud.com", 10),
        ("netvigator.com", 5),
        ("hkbn.net", 5),
    ),
    "TW": (
        ("gmail.com", 55),
        ("yahoo.com.tw", 20),
        ("hotmail.com", 10),
        ("icloud.com", 8),
        ("msa.hinet.net", 7),
    ),
    "SG": (
        ("gmail.com", 50),
        ("hotmail.com", 15),
        ("yahoo.com.sg", 10),
        ("icloud.com", 10),
        ("singnet.com.sg", 10),
        ("outlook.com", 5),
    ),
    "other": (("gmail.com", 50), ("outlook.com", 15), ("icloud.com", 15), ("yahoo.com", 20)),
}

#: Placeholder identifiers people and staff type when they do not want to give the real one.
#: They match the default junk patterns of segmint.config.JunkIdentifiers, so they never merge.
JUNK_EMAILS = ("none@none.com", "na@na.com", "test@example.com", "abc@abc.com")
JUNK_PHONES = ("00000000", "12345678", "99999999", "88888888")

# --- B2B -----------------------------------------------------------------------------------------

COMPANY_WORDS = (
    "Harbour",
    "Golden",
    "Pacific",
    "Lotus",
    "Jade",
    "Summit",
    "Evergreen",
    "Orient",
    "Sunrise",
    "Silverline",
    "Bamboo",
    "Pearl",
    "Phoenix",
    "Crescent",
    "Lumen",
    "Cedar",
    "Maple",
    "Azure",
    "Kowloon",
    "Formosa",
    "Lion City",
    "Victoria",
    "Peak",
    "Tidal",
)
#: (industry label as HubSpot exports it, company-name noun, weight)
INDUSTRIES: tuple[tuple[str, str, float], ...] = (
    ("Hospitality", "Hotels", 4),
    ("Health, Wellness and Fitness", "Wellness", 3),
    ("Cosmetics", "Beauty", 4),
    ("Retail", "Retail", 4),
    ("Food & Beverages", "Foods", 3),
    ("Leisure, Travel & Tourism", "Travel", 2),
    ("Events Services", "Events", 1),
    ("Airlines/Aviation", "Air Services", 1),
)
COMPANY_SUFFIX = {"HK": "Limited", "TW": "Co., Ltd.", "SG": "Pte. Ltd.", "other": "Ltd"}
#: (number of employees low, high, weight) and matching annual revenue range (HKD)
COMPANY_SIZES: tuple[tuple[int, int, float, float, float], ...] = (
    (2, 10, 4, 1e6, 8e6),
    (11, 50, 4, 5e6, 4e7),
    (51, 200, 3, 3e7, 2e8),
    (201, 1000, 2, 1.5e8, 1e9),
    (1001, 5000, 1, 8e8, 5e9),
)

# --- psychographics ------------------------------------------------------------------------------

CATEGORIES = (
    "skincare",
    "makeup",
    "fragrance",
    "haircare",
    "body care",
    "desserts",
    "tea",
    "gift sets",
)
#: category → interest it signals
CATEGORY_INTEREST = {
    "skincare": "skincare",
    "makeup": "makeup",
    "fragrance": "fragrance",
    "haircare": "haircare",
    "body care": "wellness",
    "desserts": "desserts",
    "tea": "tea",
    "gift sets": "gifting",
}
EXTRA_INTERESTS = ("travel", "fitness", "fashion", "k-beauty", "cooking", "pets", "music", "hiking")
LIFESTYLES = (
    "busy professional",
    "student",
    "new parent",
    "fitness enthusiast",
    "frequent traveller",
    "homebody",
    "foodie",
)
VALUES = (
    "premium quality",
    "value for money",
    "sustainability",
    "natural ingredients",
    "convenience",
    "cruelty-free",
    "local brands",
)
INCOME_BANDS = ("<15k", "15k-30k", "30k-60k", "60k+")
LANGUAGES = ("zh-Hant", "en", "zh-Hans")

# --- catalogue -----------------------------------------------------------------------------------

#: (sku, category, name, list price HKD)
PRODUCTS: tuple[tuple[str, str, str, float], ...] = (
    ("SK-101", "skincare", "Hydrating Serum 30ml", 380),
    ("SK-102", "skincare", "Vitamin C Brightening Essence", 460),
    ("SK-103", "skincare", "Gentle Foaming Cleanser", 168),
    ("SK-104", "skincare", "Night Repair Cream", 520),
    ("SK-105", "skincare", "Sunscreen SPF50 50ml", 198),
    ("SK-106", "skincare", "Sheet Mask Set (5)", 120),
    ("MU-201", "makeup", "Velvet Matte Lipstick", 220),
    ("MU-202", "makeup", "Cushion Foundation", 340),
    ("MU-203", "makeup", "Waterproof Mascara", 180),
    ("MU-204", "makeup", "Eyeshadow Palette 12 Shades", 390),
    ("MU-205", "makeup", "Brow Pencil", 120),
    ("MU-206", "makeup", "Setting Spray", 210),
    ("FR-301", "fragrance", "Eau de Parfum Osmanthus 50ml", 880),
    ("FR-302", "fragrance", "Eau de Toilette Citrus 30ml", 520),
    ("FR-303", "fragrance", "Rollerball Jasmine 10ml", 260),
    ("FR-304", "fragrance", "Discovery Set 5x2ml", 320),
    ("FR-305", "fragrance", "Scented Candle Oolong", 290),
    ("FR-306", "fragrance", "Body Mist Peach", 180),
    ("HC-401", "haircare", "Repair Shampoo 250ml", 160),
    ("HC-402", "haircare", "Scalp Serum", 320),
    ("HC-403", "haircare", "Hair Mask 200ml", 210),
    ("HC-404", "haircare", "Leave-in Oil", 240),
    ("BC-501", "body care", "Body Lotion Yuzu", 160),
    ("BC-502", "body care", "Hand Cream Trio", 150),
    ("BC-503", "body care", "Bath Salts Hinoki", 190),
    ("BC-504", "body care", "Body Scrub", 220),
    ("DS-601", "desserts", "Egg Roll Gift Tin", 168),
    ("DS-602", "desserts", "Mango Mochi Box (6)", 98),
    ("DS-603", "desserts", "Pineapple Cake Box (10)", 238),
    ("DS-604", "desserts", "Mooncake Set (4)", 428),
    ("DS-605", "desserts", "Matcha Almond Cookies", 128),
    ("DS-606", "desserts", "Salted Egg Yolk Fish Skin", 88),
    ("TE-701", "tea", "Oolong Tea Gift Box", 320),
    ("TE-702", "tea", "Jasmine Pearls 50g", 180),
    ("TE-703", "tea", "Earl Grey Tin", 150),
    ("TE-704", "tea", "Tieguanyin 100g", 260),
    ("GS-801", "gift sets", "Lunar New Year Hamper", 1280),
    ("GS-802", "gift sets", "Valentine's Rose Set", 680),
    ("GS-803", "gift sets", "Skincare Discovery Gift Set", 580),
    ("GS-804", "gift sets", "Christmas Advent Calendar", 890),
)

#: discount code → fraction off
DISCOUNT_CODES: dict[str, float] = {
    "WELCOME10": 0.10,
    "SALE20": 0.20,
    "FLASH15": 0.15,
    "1111SALE": 0.25,
    "BDAY15": 0.15,
    "FREESHIP": 0.05,
    "VIP10": 0.10,
    "B2B5": 0.05,
}

# --- stores (POS, Hong Kong) ---------------------------------------------------------------------

#: (store code, store name, region of Hong Kong it serves)
STORES: tuple[tuple[str, str, str], ...] = (
    ("CWB", "銅鑼灣店", "Hong Kong Island"),
    ("CEN", "中環店", "Hong Kong Island"),
    ("MK", "旺角店", "Kowloon"),
    ("TST", "尖沙咀店", "Kowloon"),
    ("KT", "觀塘店", "Kowloon"),
    ("ST", "沙田店", "New Territories"),
    ("YL", "元朗店", "New Territories"),
)
PAYMENT_METHODS: tuple[tuple[str, float], ...] = (
    ("信用卡", 35),
    ("八達通", 20),
    ("現金", 15),
    ("PayMe", 12),
    ("支付寶HK", 10),
    ("WeChat Pay", 8),
)

# --- holidays ------------------------------------------------------------------------------------

# The calendar lives in segmint.features.occasions, so the holiday shoppers are planted on the
# same dates the `occasions` metric (and the holiday_buyers segments) read.
#: Lunar New Year's day by year.
LUNAR_NEW_YEAR = occasions.LUNAR_NEW_YEAR
#: days before a holiday that count as its shopping season (the holiday itself included)
HOLIDAY_LEAD_DAYS = occasions.LEAD_DAYS
#: gift-giving holidays between two dates (inclusive) as (name, date), oldest first
holidays = occasions.holidays


#: campaign names for message events (name, channel)
CAMPAIGNS: tuple[tuple[str, str], ...] = (
    ("Summer glow edit", "email"),
    ("Mid-Autumn gift guide", "whatsapp"),
    ("11.11 early access", "sms"),
    ("Christmas gift sets", "email"),
    ("Lunar New Year hampers", "whatsapp"),
    ("Valentine's picks", "email"),
    ("Mother's Day thank-you", "whatsapp"),
    ("New serum launch", "sms"),
)
