"""Time units of buy-till-you-die summaries: days or weeks."""

from __future__ import annotations

from segmint.errors import ValidationError, close_matches

#: unit → its length in days
UNIT_DAYS = {"D": 1, "W": 7}
_ALIASES = {"d": "D", "day": "D", "days": "D", "w": "W", "week": "W", "weeks": "W"}

#: time units per month in :func:`customer_lifetime_value` — the conventions of lifetimes'
#: ``customer_lifetime_value`` (30 days; 4.345 weeks), so that results can be compared.
PERIODS_PER_MONTH = {"D": 30.0, "W": 4.345}


def normalise_unit(unit: object, where: str) -> str:
    """``"D"`` or ``"W"`` from ``"D"``, ``"day"``, ``"days"``, ``"W"``, ``"week"``, ``"weeks"``."""
    key = None
    if isinstance(unit, str):
        key = unit if unit in UNIT_DAYS else _ALIASES.get(unit.lower())
    if key is None:
        raise ValidationError(
            f"The 'unit' argument of {where} must be one of 'D' (days), 'W' (weeks). "
            f"Got {unit!r} instead.",
            suggestions=close_matches(str(unit), [*UNIT_DAYS, *_ALIASES]),
        )
    return key
