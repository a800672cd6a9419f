"""``segmint campaigns …``: broadcasts with personalised messages, and whether they worked.

Example:
    $ segmint campaigns create spring.yaml
    $ segmint campaigns preview cmp_20260301_spring_vip --customer c42
    $ segmint campaigns export cmp_20260301_spring_vip --format csv
    $ segmint campaigns kpis cmp_20260301_spring_vip --lang zh-Hant
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from segmint.cli._app import WorkspaceOpt, app, console, open_workspace

campaigns_app = typer.Typer(
    name="campaigns",
    help="Broadcasts: create, preview, export or send, and measure (KPIs, A/B tests).",
    no_args_is_help=True,
)
app.add_typer(campaigns_app, name="campaigns")

CampaignArg = Annotated[str, typer.Argument(metavar="CAMPAIGN_ID", help="The campaign id.")]
AsOfOpt = Annotated[
    str | None,
    typer.Option("--as-of", help="Evaluate segments at this date (default: the latest order)."),
]
#: How the reasons for leaving someone out read.
REASON_LABELS = {
    "excluded": "in an excluded segment",
    "no_consent": "no consent recorded",
    "withdrawn": "consent refused or withdrawn",
    "consent_in_future": "consent time after the as-of date",
    "no_contact": "no valid phone / e-mail",
    "frequency_cap": "frequency cap reached",
}


@campaigns_app.command("create")
def create(
    file: Annotated[Path, typer.Argument(help="Campaign definition (YAML or JSON).")],
    campaign_id: Annotated[
        str | None, typer.Option("--id", help="Campaign id (default: from name and date).")
    ] = None,
    by: Annotated[
        str | None, typer.Option("--by", help="Who creates it (default: OS user).")
    ] = None,
    workspace: WorkspaceOpt = Path("."),
) -> None:
    """Check a campaign definition (templates, segments, shares) and store it; sends nothing."""
    with open_workspace(workspace) as ws:
        row = ws.campaign_create(file, campaign_id=campaign_id, by=by)
    variants = json.loads(row["variants"])
    shares = ", ".join(f"{v['name']} {v['share']:g}" for v in variants)
    console.print(f"Created campaign [bold]{escape(row['campaign_id'])}[/] ({row['channel']}).")
    console.print(f"Variants: {escape(shares)}; attribution window {row['attribution_days']} days.")
    console.print(f"Next: segmint campaigns preview {row['campaign_id']}")


@campaigns_app.command("list")
def list_(workspace: WorkspaceOpt = Path(".")) -> None:
    """Every campaign, newest first."""
    with open_workspace(workspace) as ws:
        frame = ws.campaigns().to_pyarrow().to_pandas()
    if frame.empty:
        console.print("No campaigns yet. Try: segmint campaigns create campaign.yaml")
        return
    table = Table(title="Campaigns", title_justify="left")
    for head in ("id", "name", "channel", "created", "sent"):
        table.add_column(head)
    for r in frame.itertuples(index=False):
        sent = "—" if r.sent_at is None or r.sent_at != r.sent_at else f"{r.sent_at:%Y-%m-%d %H:%M}"
        table.add_row(
            escape(r.campaign_id), escape(r.name), r.channel, f"{r.created_at:%Y-%m-%d}", sent
        )
    console.print(table)


def _print_dropped(dropped: dict[str, int]) -> None:
    left_out = {k: v for k, v in dropped.items() if v}
    if not left_out:
        return
    table = Table(title=f"Left out: {sum(left_out.values()):,}", title_justify="left")
    table.add_column("reason")
    table.add_column("people", justify="right")
    for reason, n in left_out.items():
        table.add_row(REASON_LABELS.get(reason, reason), f"{n:,}")
    console.print(table)


def _print_failures(failures) -> None:
    if not failures:
        return
    console.print(f"[bold red]{len(failures):,} message(s) could not be rendered:[/]")
    for f in failures[:20]:
        console.print(f"  - {escape(f.render())}", soft_wrap=True)
    if len(failures) > 20:
        console.print(f"  … and {len(failures) - 20:,} more")


@campaigns_app.command("preview")
def preview(
    campaign_id: CampaignArg,
    customer: Annotated[
        list[str] | None, typer.Option("--customer", "-c", help="Preview for this customer id.")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="How many recipients.")] = 5,
    as_of: AsOfOpt = None,
    workspace: WorkspaceOpt = Path("."),
) -> None:
    """Show the personalised message a few recipients would get; sends nothing."""
    with open_workspace(workspace) as ws:
        p = ws.campaign_preview(campaign_id, customer_ids=customer, limit=limit, as_of=as_of)
    for r in p.recipients:
        head = f"[bold]{escape(r['customer_id'])}[/] · {r['variant']}"
        if r["language"]:
            head += f" · {r['language']}"
        if r["offer_code"]:
            head += f" · code {r['offer_code']}"
        console.print(head)
        if r["status"] == "holdout":
            console.print("  (holdout: gets no message)")
        elif r["status"] == "failed":
            console.print(f"  [red]cannot render:[/] {escape(r['error'])}", soft_wrap=True)
        else:
            for line in str(r["text"]).splitlines():
                console.print(f"  {escape(line)}", soft_wrap=True)
    if not p.recipients:
        console.print("Nobody would receive this campaign.")
    _print_dropped(p.dropped)


def _print_result(result) -> None:
    parts = ", ".join(f"{n:,} {status}" for status, n in sorted(result.statuses.items()))
    console.print(f"Campaign [bold]{escape(result.campaign_id)}[/]: {parts or 'nobody'}.")
    if result.path is not None:
        console.print(f"File: {escape(str(result.path))}")
    console.print(f"Recorded {result.events_recorded:,} Message Sent event(s).")
    _print_dropped(result.dropped)
    _print_failures(result.failures)


@campaigns_app.command("export")
def export(
    campaign_id: CampaignArg,
    fmt: Annotated[str, typer.Option("--format", "-f", help="csv or json.")] = "csv",
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="File or folder (default: <workspace>/exports/)."),
    ] = None,
    allow_failures: Annotated[
        bool, typer.Option("--allow-failures", help="Export the others if some fail to render.")
    ] = False,
    as_of: AsOfOpt = None,
    workspace: WorkspaceOpt = Path("."),
) -> None:
    """Render every message and write them for the channel's tool; the campaign is then sent."""
    with open_workspace(workspace) as ws:
        result = ws.campaign_export(
            campaign_id, format=fmt, path=output, allow_failures=allow_failures, as_of=as_of
        )
    _print_result(result)


@campaigns_app.command("send")
def send(
    campaign_id: CampaignArg,
    url: Annotated[
        str | None, typer.Option("--webhook-url", help="Default: campaigns.webhook_url.")
    ] = None,
    allow_failures: Annotated[
        bool, typer.Option("--allow-failures", help="Send the others if some fail to render.")
    ] = False,
    as_of: AsOfOpt = None,
    workspace: WorkspaceOpt = Path("."),
) -> None:
    """Render every message and POST them, signed, to the configured webhook."""
    with open_workspace(workspace) as ws:
        result = ws.campaign_send(campaign_id, url=url, allow_failures=allow_failures, as_of=as_of)
    _print_result(result)


def _kpi_table(title: str, frame, key: str) -> Table:
    table = Table(title=title, title_justify="left")
    cols = ("recipients", "sent", "delivered", "read", "clicked", "converted", "revenue", "roi")
    table.add_column(key)
    for c in cols:
        table.add_column(c, justify="right")
    for r in frame.to_dict("records"):
        cells = [f"{int(r[c]):,}" for c in cols[:6]]
        cells[5] += f" ({100 * r['conversion_rate']:.1f} %)"
        roi = r["roi"]
        cells += [f"{r['revenue']:,.2f}", "—" if roi is None or roi != roi else f"{roi:+.0%}"]
        table.add_row(escape(str(r[key])), *cells)
    return table


@campaigns_app.command("kpis")
def kpis(
    campaign_id: CampaignArg,
    lang: Annotated[str, typer.Option("--lang", help="Verdicts in en or zh-Hant.")] = "en",
    workspace: WorkspaceOpt = Path("."),
) -> None:
    """Sent, delivered, read, clicked, converted, revenue and ROI; A/B verdicts and lift."""
    with open_workspace(workspace) as ws:
        k = ws.campaign_kpis(campaign_id)
        ab = ws.campaign_ab(campaign_id, kpis=k)
    days = k.campaign["attribution_days"]
    console.print(
        f"[bold]{escape(k.campaign['name'])}[/] ({escape(campaign_id)}), sent "
        f"{k.campaign['sent_at']:%Y-%m-%d %H:%M} UTC; orders attributed within {days} days."
    )
    console.print(_kpi_table("By variant", k.by_variant, "variant"))
    if len(k.by_segment) > 1:
        console.print(_kpi_table("By segment", k.by_segment, "segment"))
    for name, value in k.lift.items():
        if value is not None:
            console.print(f"Lift of {escape(name)} over the holdout: {value:+.1%}")
    for verdict in ab.verdicts(lang):
        console.print(f"• {escape(verdict)}", soft_wrap=True)
