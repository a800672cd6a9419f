"""File import (layer 2, pure): read, map columns, parse, validate, normalise.

Nothing here runs a query: :func:`prepare` returns Arrow tables and every problem found; the
workspace (``segmint.importer``) stitches identities and writes them in one transaction.

Example:
    >>> from segmint.ingest import read_table, prepare, resolve_mapping
"""

from segmint.ingest.fields import (
    FIELDS,
    IDENTIFIER_FIELDS,
    KINDS,
    PRESETS,
    ColumnMapping,
    normalise_header,
    resolve_mapping,
)
from segmint.ingest.prepare import ORDER_STATUSES, Prepared, default_source, prepare
from segmint.ingest.readers import RawTable, detect_encoding, read_table, sniff_delimiter
from segmint.ingest.values import (
    normalise_emails,
    normalise_phones,
    parse_bools,
    parse_money,
    parse_timestamps,
)

__all__ = [
    "FIELDS",
    "IDENTIFIER_FIELDS",
    "KINDS",
    "ORDER_STATUSES",
    "PRESETS",
    "ColumnMapping",
    "Prepared",
    "RawTable",
    "default_source",
    "detect_encoding",
    "normalise_emails",
    "normalise_header",
    "normalise_phones",
    "parse_bools",
    "parse_money",
    "parse_timestamps",
    "prepare",
    "read_table",
    "resolve_mapping",
    "sniff_delimiter",
]
