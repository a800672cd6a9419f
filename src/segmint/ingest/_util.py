"""Helpers shared by the ingest modules: problem collection and JSON building (layer 2)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from segmint.errors import ImportProblem

__all__ = ["MAX_PER_CHECK", "ProblemLog", "join_present", "json_objects", "trait_key"]

#: At most this many problems (or warnings) are listed per check and column; the rest are
#: counted in one closing line, so a file where every row is wrong still fails quickly.
MAX_PER_CHECK = 10_000


class ProblemLog:
    """Collects problems and warnings with spreadsheet row numbers.

    Example:
        >>> log = ProblemLog("orders.csv", np.array([2, 3, 4]))
        >>> log.rows(np.array([False, True, False]), "Total",
        ...          lambda i: f"'amount' must be a number. Got {['1', 'x', '2'][i]!r} instead.")
        1
        >>> log.problems[0].render()
        "orders.csv row 3, column 'Total': 'amount' must be a number. Got 'x' instead."
    """

    def __init__(self, file: str, rownums: np.ndarray, *, cap: int = MAX_PER_CHECK):
        self.file = file
        self.rownums = rownums
        self.cap = cap
        self.problems: list[ImportProblem] = []
        self.warnings: list[str] = []

    def file_problem(self, message: str, column: str | None = None) -> None:
        self.problems.append(ImportProblem(self.file, None, column, message))

    def rows(
        self,
        mask: np.ndarray,
        column: str | None,
        render: Callable[[int], str],
        *,
        warn: bool = False,
    ) -> int:
        """Add one problem (or warning) per row where ``mask`` is true; returns how many."""
        idx = np.flatnonzero(mask)
        if not len(idx):
            return 0
        shown = idx[: self.cap]
        for i in shown:
            p = ImportProblem(self.file, int(self.rownums[i]), column, render(int(i)))
            if warn:
                self.warnings.append(p.render())
            else:
                self.problems.append(p)
        more = len(idx) - len(shown)
        if more:
            first = render(int(idx[0]))
            line = ImportProblem(
                self.file,
                None,
                column,
                f"… and {more:,} more row(s) with the same kind of problem as: {first}",
            )
            (self.warnings.append(line.render()) if warn else self.problems.append(line))
        return len(idx)

    def warn(self, message: str) -> None:
        self.warnings.append(message)


def values_at(arr: pa.Array) -> Callable[[int], object]:
    """A lookup ``i → raw value`` that converts only the rows asked for."""
    cache: dict[int, object] = {}

    def get(i: int) -> object:
        if i not in cache:
            cache[i] = arr[i].as_py()
        return cache[i]

    return get


def trait_key(header: str) -> str:
    """The key a column gets in ``traits``: snake_case for Latin headers, as is otherwise.

    >>> trait_key("Total Spent"), trait_key("Lifecycle Stage"), trait_key("會員等級")
    ('total_spent', 'lifecycle_stage', '會員等級')
    """
    key = re.sub(r"[^\w]+", "_", header.strip().lower(), flags=re.UNICODE).strip("_")
    return key or header


def _escape(values: pa.Array) -> pa.Array:
    v = values if pa.types.is_string(values.type) else values.cast(pa.string())
    v = pc.replace_substring(v, "\\", "\\\\")
    v = pc.replace_substring(v, '"', '\\"')
    v = pc.replace_substring(v, "\n", "\\n")
    v = pc.replace_substring(v, "\r", "\\r")
    v = pc.replace_substring(v, "\t", "\\t")
    return pc.replace_substring_regex(v, r"[\x00-\x1f]", " ")


def join_present(parts: Sequence[pa.Array], sep: str) -> pa.Array:
    """Join the non-null values of each row with ``sep``; ``""`` where all are null.

    (pyarrow 26's ``binary_join_element_wise(null_handling="skip")`` drops rows, so the
    separator is appended to each present value and the last one trimmed instead.)

    >>> join_present([pa.array(["a", None, None]), pa.array(["b", "c", None])], "+").to_pylist()
    ['a+b', 'c', '']
    """
    pieces = [pc.fill_null(pc.binary_join_element_wise(p, sep, ""), "") for p in parts]
    joined = pc.binary_join_element_wise(*pieces, "") if len(pieces) > 1 else pieces[0]
    if not sep:
        return joined
    return pc.replace_substring_regex(joined, re.escape(sep) + "$", "", max_replacements=1)


def json_objects(keys: Sequence[str], columns: Sequence[pa.Array], n: int) -> pa.Array:
    """Build one JSON object text per row from string columns; null where every value is null.

    Built with Arrow string kernels, not a Python loop per row.

    >>> json_objects(["tier", "note"], [pa.array(["gold", None]), pa.array(['a "b"', None])], 2
    ...              ).to_pylist()
    ['{"tier":"gold","note":"a \\\\"b\\\\""}', None]
    """
    if not keys:
        return pa.nulls(n, pa.string())
    parts = []
    for key, col in zip(keys, columns, strict=True):
        prefix = json.dumps(key, ensure_ascii=False) + ':"'
        parts.append(pc.binary_join_element_wise(prefix, _escape(col), '"', ""))
    body = join_present(parts, ",")
    any_value = np.zeros(n, dtype=bool)
    for col in columns:
        any_value |= pc.fill_null(pc.is_valid(col), False).to_numpy(zero_copy_only=False)
    obj = pc.binary_join_element_wise("{", body, "}", "")
    return pc.if_else(pa.array(any_value), obj, pa.scalar(None, pa.string()))
