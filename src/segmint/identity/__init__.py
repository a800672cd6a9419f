"""Identity stitching (layer 2, pure): junk identifiers, union-find over records, profiles.

Example:
    >>> from segmint.identity import stitch, junk_mask, profiles_from_sources
"""

from segmint.identity.junk import junk_mask, national_number
from segmint.identity.profiles import profiles_from_sources
from segmint.identity.stitch import StitchResult, customer_id_for, stitch

__all__ = [
    "StitchResult",
    "customer_id_for",
    "junk_mask",
    "national_number",
    "profiles_from_sources",
    "stitch",
]
