"""``segmint rfm`` and ``segmint abc``: score customers, print the segments, save the result."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from segmint.cli._app import WorkspaceOpt, app, console, open_workspace

AsOfOpt = Annotated[
    str | None,
    typer.Option("--as-of", help="Reference day, YYYY-MM-DD (default: the latest order's day)."),
]
LangOpt = Annotated[
    str | None,
    typer.Option("--lang", help="Language of titles and actions: en or zh-Hant (default: config)."),
]

#: column headers: segment, customers, share, revenue share, mean recency / frequency / spend
_HEADERS = {
    "en": ("Segment", "Customers", "Share", "Revenue", "Days", "Orders", "Spend",
           "Recommended action"),
    "zh-Hant": ("分群", "客戶", "佔比", "營業額", "日數", "訂單", "消費", "建議行動"),
}  # fmt: skip
_CAPTIONS = {
    "en": "Share: of customers · Revenue: share of revenue · Days (since the last order), "
    "Orders and Spend: means per customer",
    "zh-Hant": "佔比：客戶佔比 · 營業額：營業額佔比 · 日數（距上次購買）、訂單及消費：每位客戶平均",
}


def _check_lang(lang: str | None, default: str) -> str:
    from segmint.errors import ValidationError

    lang = default if lang is None else lang
    if lang not in _HEADERS:
        raise ValidationError(
            f"The language must be 'en' or 'zh-Hant'. Got '{lang}' instead.", hint="--lang zh-Hant"
        )
    return lang


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def _share(x: float) -> str:
    """A threshold as a percentage without noise: 0.8 → '80%', 0.125 → '12.5%'."""
    return f"{round(100 * x, 2):g}%"


@app.command()
def rfm(
    workspace: WorkspaceOpt = Path("."),
    as_of: AsOfOpt = None,
    bins: Annotated[
        int | None, typer.Option("--bins", help="Score bands: 3, 4 or 5 (default: rfm_bins).")
    ] = None,
    lang: LangOpt = None,
) -> None:
    """Score customers by recency, frequency and spend, show the 11 named RFM segments and save
    the scores as table `rfm` in the workspace."""
    from rich.table import Table

    from segmint.features.purchases import parse_as_of
    from segmint.features.rfm import RFM_SEGMENTS, check_bins, segment_summary

    day = parse_as_of(as_of) if as_of is not None else None  # refuse bad input before any work
    if bins is not None:
        check_bins(bins)
    ws = open_workspace(workspace)
    try:
        lang = _check_lang(lang, ws.config.language)
        with console.status("Scoring customers…"):
            stored = ws.rfm(as_of=day, bins=bins, save=True)
            day = day or ws.default_as_of()
            summary = segment_summary(stored).to_pandas().set_index("segment")
        n_bins = bins or ws.config.rfm_bins
    finally:
        ws.close()
    n = int(summary["customers"].sum()) if len(summary) else 0
    if not n:
        console.print(f"No completed orders on or before {day}: nothing to score.")
        return
    zh = lang == "zh-Hant"
    heads = _HEADERS[lang]
    wide = console.width >= 120  # else the actions follow the table, one line each
    table = Table(
        title=f"RFM as of {day} · {n:,} customers · {n_bins} bins",
        title_justify="left",
        caption=_CAPTIONS[lang],
        caption_justify="left",
    )
    table.add_column(heads[0], no_wrap=True)
    for head in heads[1:7]:
        table.add_column(head, justify="right", no_wrap=True)
    if wide:
        table.add_column(heads[7], ratio=1)
    actions = []
    for slug, seg in RFM_SEGMENTS.items():
        title = seg.title_zh if zh else seg.title_en
        action = seg.action_zh if zh else seg.action_en
        if slug not in summary.index:
            cells = [title, "0", _pct(0), _pct(0), "–", "–", "–"]
            table.add_row(*cells, *([action] if wide else []), style="dim")
            continue
        row = summary.loc[slug]
        cells = [
            title,
            f"{int(row['customers']):,}",
            _pct(row["share"]),
            _pct(row["revenue_share"]),
            f"{row['mean_recency']:,.0f}",
            f"{row['mean_frequency']:,.1f}",
            f"{row['mean_monetary']:,.0f}",
        ]
        table.add_row(*cells, *([action] if wide else []))
        actions.append(f"[bold]{title}[/]: {action}")
    console.print(table)
    if not wide:
        console.print(f"[bold]{heads[7]}[/]")
        for line in actions:
            console.print(f"  • {line}")
    console.print("Saved table [bold]rfm[/] in the workspace.")


@app.command()
def abc(
    workspace: WorkspaceOpt = Path("."),
    as_of: AsOfOpt = None,
    thresholds: Annotated[
        tuple[float, float],
        typer.Option("--thresholds", help="Revenue shares closing class A and class B."),
    ] = (0.8, 0.95),
) -> None:
    """Classify customers A/B/C by their share of revenue (Pareto) and save table `abc`."""
    from rich.table import Table

    from segmint.features.abc import abc_summary, check_thresholds
    from segmint.features.purchases import parse_as_of

    day = parse_as_of(as_of) if as_of is not None else None
    limits = check_thresholds(thresholds)
    ws = open_workspace(workspace)
    try:
        with console.status("Classifying customers…"):
            stored = ws.abc(as_of=day, thresholds=limits, save=True)
            day = day or ws.default_as_of()
            summary = abc_summary(stored).to_pandas().set_index("abc_class")
    finally:
        ws.close()
    n = int(summary["customers"].sum()) if len(summary) else 0
    if not n:
        console.print(f"No completed orders on or before {day}: nothing to classify.")
        return
    a, b = limits
    table = Table(title=f"ABC as of {day} · {n:,} customers", title_justify="left")
    for head in ("Class", "Rule", "Customers", "Share", "Revenue", "Revenue share"):
        left = head in ("Class", "Rule")
        table.add_column(head, justify="left" if left else "right", no_wrap=True)
    rules = {
        "A": f"first {_share(a)} of revenue",
        "B": f"next {_share(b - a)}",
        "C": "the rest",
    }
    for cls, rule in rules.items():
        row = summary.loc[cls] if cls in summary.index else None
        table.add_row(
            cls,
            rule,
            f"{int(row['customers']):,}" if row is not None else "0",
            _pct(row["customer_share"]) if row is not None else _pct(0),
            f"{row['revenue']:,.0f}" if row is not None else "0",
            _pct(row["revenue_share"]) if row is not None else _pct(0),
        )
    console.print(table)
    console.print("Saved table [bold]abc[/] in the workspace.")
