"""Turning user inputs (arrays, pandas, ibis tables) into checked numpy columns.

- arrays / pandas Series: used as given, one row per customer (or per pattern with ``weights``);
- a pandas DataFrame: columns taken by name;
- an ibis table: the engine condenses it to distinct patterns with a count (``GROUP BY``), and
  only those come back (``to_pyarrow``), so a million customers cost a few thousand rows.

Predictions on an ibis table come back as an ibis table: the distinct patterns are scored in numpy
and joined back to the table in the engine (:func:`score_table`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from segmint.errors import DataError, NotFoundError, ValidationError, close_matches

WEIGHT = "_segmint_weight"


def is_table(obj: Any) -> bool:
    """Whether ``obj`` is an ibis table expression (without importing ibis eagerly)."""
    try:
        import ibis.expr.types as ir
    except ImportError:  # pragma: no cover - ibis is a dependency
        return False
    return isinstance(obj, ir.Table)


def require_columns(columns: Sequence[str], names: Sequence[str], where: str) -> None:
    for name in names:
        if name not in columns:
            raise NotFoundError(
                f"{where} needs a column '{name}'.",
                suggestions=close_matches(name, columns),
                hint=f"rename the column to '{name}' (available: {', '.join(map(str, columns))}).",
            )


def reject_arrays_with_table(rest: Sequence[Any], names: Sequence[str], where: str) -> None:
    """A table carries every column: refuse extra arrays next to it."""
    extra = [n for n, v in zip(names[1:], rest, strict=True) if v is not None]
    if extra:
        raise ValidationError(
            f"{where}: pass either a table or arrays, not both. Got a table and "
            f"{', '.join(extra)} instead.",
            hint=f"with a table, its columns {', '.join(names)} are used.",
        )


def gather(
    data: Any,
    rest: Sequence[Any],
    names: Sequence[str],
    weights: Any,
    *,
    where: str,
    table_filter: Callable[[Any], Any] | None = None,
    condense: bool = True,
) -> tuple[dict[str, np.ndarray], np.ndarray | None, bool]:
    """Return ``(columns, weights, condensed)`` from a table/DataFrame or from arrays.

    ``data`` is the first positional argument (an ibis table, a DataFrame or the first array);
    ``rest`` the other positional arrays (must be ``None`` when ``data`` is a table). With
    ``condense=False`` an ibis table's rows come back as they are (no GROUP BY).
    """
    if is_table(data) or isinstance(data, pd.DataFrame):
        reject_arrays_with_table(rest, names, where)
    if is_table(data):
        table = data
        require_columns(list(table.columns), names, where)
        if isinstance(weights, str):
            require_columns(list(table.columns), [weights], where)
        elif weights is not None:
            raise ValidationError(
                f"{where}: with an ibis table, weights must be a column name or None. "
                f"Got {type(weights).__name__} instead."
            )
        if table_filter is not None:
            table = table.filter(table_filter(table))
        if not condense:  # continuous columns: grouping would cost more than it saves
            extra = [weights] if isinstance(weights, str) else []
            rows = table.select(*names, *extra).to_pyarrow()
            cols = {
                n: np.asarray(rows.column(n).to_numpy(zero_copy_only=False), dtype=float)
                for n in names
            }
            w = (
                np.asarray(rows.column(weights).to_numpy(zero_copy_only=False), dtype=float)
                if extra
                else None
            )
            return cols, w, False
        agg = table[weights].sum() if isinstance(weights, str) else table.count()
        patterns = table.group_by(list(names)).aggregate(**{WEIGHT: agg}).to_pyarrow()
        cols = {n: patterns.column(n).to_numpy(zero_copy_only=False) for n in names}
        cols = {n: np.asarray(v, dtype=float) for n, v in cols.items()}
        w = np.asarray(patterns.column(WEIGHT).to_numpy(zero_copy_only=False), dtype=float)
        return cols, w, True
    if isinstance(data, pd.DataFrame):
        require_columns(list(data.columns), names, where)
        cols = {n: data[n].to_numpy(dtype=float, na_value=np.nan) for n in names}
        if isinstance(weights, str):
            require_columns(list(data.columns), [weights], where)
            weights = data[weights]
        w = None if weights is None else np.asarray(weights, dtype=float)
        return cols, w, False
    values = [data, *rest]
    missing = [n for n, v in zip(names, values, strict=True) if v is None]
    if missing:
        raise ValidationError(
            f"{where} needs {', '.join(names)}. Got no {', '.join(missing)} instead.",
            hint="pass arrays for each, or one table (ibis or pandas) with these columns.",
        )
    cols = {}
    for n, v in zip(names, values, strict=True):
        try:
            cols[n] = np.atleast_1d(np.asarray(v, dtype=float))
        except (TypeError, ValueError):
            shown = repr(v) if len(repr(v)) <= 40 else repr(v)[:37] + "..."
            raise ValidationError(f"{n} must be numbers. Got {shown} instead. ({where})") from None
    w = None if weights is None else np.atleast_1d(np.asarray(weights, dtype=float))
    return cols, w, False


def _row(i: int, condensed: bool, cols: dict[str, np.ndarray]) -> str:
    if condensed:
        desc = ", ".join(f"{n}={cols[n][i]:g}" for n in cols)
        return f"pattern {desc}"
    return f"position {i:,}"


def check_lengths(cols: dict[str, np.ndarray], w: np.ndarray | None, where: str) -> None:
    lengths = {n: len(v) for n, v in cols.items()}
    if w is not None:
        lengths["weights"] = len(w)
    if len(set(lengths.values())) > 1:
        listed = ", ".join(f"{n}={k}" for n, k in lengths.items())
        raise ValidationError(
            f"{', '.join(lengths)} must have the same length. Got {listed} instead. ({where})"
        )


def check_finite(cols: dict[str, np.ndarray], condensed: bool, where: str) -> None:
    for n, v in cols.items():
        bad = np.nonzero(~np.isfinite(v))[0]
        if bad.size:
            i = int(bad[0])
            raise ValidationError(
                f"{n} must be a finite number. Got {v[i]} instead. "
                f"({where}, {_row(i, condensed, cols)})",
                hint="drop customers with missing values before fitting.",
            )


def check_rft(
    cols: dict[str, np.ndarray],
    w: np.ndarray | None,
    condensed: bool,
    where: str,
    *,
    min_rows: int = 1,
) -> np.ndarray:
    """Check frequency / recency / T (and weights); return the weights (ones if None)."""
    check_lengths(cols, w, where)
    n = len(next(iter(cols.values())))
    if n < min_rows:
        raise DataError(
            f"{where} needs at least {min_rows} customer(s). Got {n} instead.",
            hint="check the filter or the calibration period.",
        )
    check_finite(cols, condensed, where)
    x, tx, T = cols["frequency"], cols["recency"], cols["T"]

    def fail(mask: np.ndarray, message: str, hint: str) -> None:
        i = int(np.nonzero(mask)[0][0])
        raise ValidationError(
            message.format(i=i) + f" ({where}, {_row(i, condensed, cols)})", hint=hint
        )

    bad = (x < 0) | (x != np.round(x))
    if bad.any():
        fail(
            bad,
            "frequency must be a whole number ≥ 0 (repeat purchases). Got "
            + f"{x[np.nonzero(bad)[0][0]]:g} instead.",
            "frequency counts repeat transactions: distinct purchase days minus 1.",
        )
    if (tx < 0).any():
        fail(
            tx < 0,
            f"recency must be ≥ 0. Got {tx[np.nonzero(tx < 0)[0][0]]:g} instead.",
            "recency is the time from the first to the last purchase.",
        )
    over = tx > T * (1 + 1e-9) + 1e-12
    if over.any():
        i = int(np.nonzero(over)[0][0])
        fail(
            over,
            f"recency must be ≤ T. Got recency={tx[i]:g} and T={T[i]:g} instead.",
            "measure recency and T up to the same date (the end of the calibration period).",
        )
    odd = (x == 0) & (tx != 0)
    if odd.any():
        fail(
            odd,
            f"recency must be 0 when frequency is 0. Got {tx[np.nonzero(odd)[0][0]]:g} instead.",
            "recency is the time from the first to the last purchase; with no repeat purchase "
            "it is 0.",
        )
    return check_weights(w, n, where)


def check_weights(w: np.ndarray | None, n: int, where: str) -> np.ndarray:
    if w is None:
        return np.ones(n)
    bad = ~np.isfinite(w) | (w < 0)
    if bad.any():
        i = int(np.nonzero(bad)[0][0])
        raise ValidationError(
            f"weights must be finite numbers ≥ 0. Got {w[i]:g} instead. ({where}, position {i:,})",
            hint="weights count the customers sharing a (frequency, recency, T) pattern.",
        )
    if w.sum() <= 0:
        raise DataError(
            f"{where} needs a positive total weight. Got {w.sum():g} instead.",
            hint="weights count the customers sharing a pattern; at least one must be > 0.",
        )
    return w


def score_table(
    table: Any,
    names: Sequence[str],
    compute: Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]],
    *,
    where: str,
    counts: bool = False,
) -> Any:
    """Score the distinct ``names`` patterns of an ibis ``table`` and join the results back.

    With ``counts=True`` the patterns carry how many rows share them (``cols[WEIGHT]``).
    Returns ``table`` with the new columns added (an ibis expression; nothing else executes).
    """
    import ibis
    import pyarrow as pa

    require_columns(list(table.columns), names, where)
    if counts:
        patterns = table.group_by(list(names)).aggregate(**{WEIGHT: table.count()}).to_pyarrow()
    else:
        patterns = table.select(list(names)).distinct().to_pyarrow()
    cols = {
        n: np.asarray(patterns.column(n).to_numpy(zero_copy_only=False), dtype=float)
        for n in patterns.column_names
    }
    out = compute(cols)
    clash = [c for c in out if c in table.columns]
    if clash:
        raise ValidationError(
            f"{where}: the table already has a column '{clash[0]}'.",
            hint=f"drop or rename '{clash[0]}' before scoring.",
        )
    scored = ibis.memtable(
        pa.table({**{n: patterns.column(n) for n in names}, **{k: v for k, v in out.items()}})
    )
    joined = table.left_join(scored, list(names))
    return joined.select(*table.columns, *out)
