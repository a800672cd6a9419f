"""``segmint clv``: fit BG/NBD + Gamma-Gamma, score every customer and save table ``clv``.

Example:
    $ segmint clv -w shop --horizon 12
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from segmint.cli._app import WorkspaceOpt, app, console, open_workspace
from segmint.cli.analysis_cmds import AsOfOpt

#: churn-risk bands, safest first
_BANDS = ("low", "medium", "high")


@app.command()
def clv(
    workspace: WorkspaceOpt = Path("."),
    as_of: AsOfOpt = None,
    horizon: Annotated[int, typer.Option("--horizon", min=1, help="CLV horizon in months.")] = 12,
    discount: Annotated[
        float, typer.Option("--discount", min=0.0, help="Monthly discount rate, e.g. 0.01.")
    ] = 0.01,
    penalizer: Annotated[
        float | None,
        typer.Option("--penalizer", min=0.0, help="L2 penalty of the fits (default: automatic)."),
    ] = None,
) -> None:
    """Predict each customer's lifetime value and churn risk (BG/NBD + Gamma-Gamma) and save
    them as table `clv` (usable in segments as metric clv.p_alive, clv.clv, clv.churn_risk)."""
    from rich.table import Table

    from segmint.features.purchases import parse_as_of

    day = parse_as_of(as_of) if as_of is not None else None
    ws = open_workspace(workspace)
    try:
        with console.status("Fitting BG/NBD and Gamma-Gamma…"):
            result = ws.clv(
                as_of=day,
                horizon_months=horizon,
                discount_rate_monthly=discount,
                save=True,
                penalizer=penalizer,
            )
            t = result.table
            stats = t.aggregate(customers=t.count(), total=t.clv.sum(), mean=t.clv.mean())
            stats = stats.to_pandas().iloc[0]
            bands = t.group_by("churn_risk").aggregate(n=t.count()).to_pandas()
    finally:
        ws.close()
    params = Table(title=f"CLV models as of {result.as_of} (time unit: days)", title_justify="left")
    for head in ("Model", "Parameter", "Estimate", "± SE"):
        params.add_column(head, justify="left" if head in ("Model", "Parameter") else "right")
    for r in result.params.itertuples():
        params.add_row(r.model, r.parameter, f"{r.estimate:,.4g}", f"{r.std_error:,.2g}")
    console.print(params)
    for model, pen in result.penalizers.items():
        if pen:
            console.print(
                f"{model} did not converge by plain maximum likelihood: fitted with an L2 "
                f"penalty of {pen:g} (estimates shrunk a little; treat the ± SE as rough)."
            )
    n = int(stats["customers"])
    counts = {str(b): int(k) for b, k in zip(bands["churn_risk"], bands["n"], strict=True)}
    risk = Table(title=f"Churn risk · {n:,} customers", title_justify="left")
    for head in ("Band", "Customers", "Share"):
        risk.add_column(head, justify="left" if head == "Band" else "right")
    for band in _BANDS:
        k = counts.get(band, 0)
        risk.add_row(band, f"{k:,}", f"{100 * k / n:.1f}%" if n else "–")
    console.print(risk)
    console.print(
        f"{horizon}-month CLV (discount {discount:g}/month): total {stats['total']:,.0f}, "
        f"mean {stats['mean']:,.2f} per customer."
    )
    console.print("Saved table [bold]clv[/] in the workspace.")
