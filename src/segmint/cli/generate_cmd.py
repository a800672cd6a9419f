"""``segmint generate``: write realistic demo data (and its ground truth) for tests and benchmarks.

Example:
    $ segmint generate --customers 5000 --out demo-data
    $ segmint generate --customers 1000000 --format parquet --no-events --out big
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from segmint.cli._app import app, console


@app.command()
def generate(
    customers: Annotated[
        int, typer.Option("--customers", "-n", min=50, help="Number of true people to draw.")
    ] = 5000,
    seed: Annotated[int, typer.Option(help="Random seed: same seed, same bytes.")] = 7,
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder to write into.")] = Path(
        "demo-data"
    ),
    events: Annotated[
        bool, typer.Option("--events/--no-events", help="Also generate events.parquet.")
    ] = True,
    fmt: Annotated[
        str,
        typer.Option(
            "--format",
            help="csv, parquet, or auto (CSV up to 100,000 customers, Parquet above).",
        ),
    ] = "auto",
    end: Annotated[
        str, typer.Option(help="Last day of the data, YYYY-MM-DD (Hong Kong time).")
    ] = "2026-06-30",
    years: Annotated[float, typer.Option(help="Years of history before the end.")] = 2.0,
    canonical_orders: Annotated[
        bool,
        typer.Option(
            "--canonical-orders/--no-canonical-orders",
            help="Also write orders.parquet in segmint's canonical schema (for benchmarks).",
        ),
    ] = False,
) -> None:
    """Generate demo data: Shopify, HubSpot, WhatsApp, LINE, Instagram, POS and events files."""
    from datetime import date

    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from segmint.demo import generate as generate_data
    from segmint.errors import ValidationError

    if fmt not in ("csv", "parquet", "auto"):
        raise ValidationError(
            f"--format must be csv, parquet or auto. Got '{fmt}' instead.",
            hint="use --format parquet for more than 100,000 customers.",
        )
    try:
        end_date = date.fromisoformat(end)
    except ValueError:
        raise ValidationError(
            f"--end must be a date like 2026-06-30. Got '{end}' instead."
        ) from None

    started = time.perf_counter()
    with Progress(
        TextColumn("[bold]{task.description:<34}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as bar:
        gen = bar.add_task("generating", total=1.0)
        data = generate_data(
            customers,
            seed=seed,
            end=end_date,
            years=years,
            events=events,
            progress=lambda what, frac: bar.update(
                gen, completed=frac, description=f"generating: {what}"
            ),
        )
        bar.update(gen, completed=1.0, description="generated")
        wr = bar.add_task("writing", total=1.0)
        paths = data.write(
            out,
            format=fmt,
            canonical_orders=canonical_orders,
            progress=lambda what, frac: bar.update(wr, completed=frac, description=what),
        )
        bar.update(wr, completed=1.0, description="written")

    counts = data.summary()
    console.print(
        f"Wrote {len(paths)} files to [bold]{out}[/] in {time.perf_counter() - started:,.1f} s: "
        f"{customers:,} people, {counts['orders']:,} orders, "
        f"{counts['events rows']:,} events, {counts['records']:,} source records "
        f"({counts['expected profiles']:,} profiles after correct stitching)."
    )
    console.print(f"Ground truth: {out / 'ground_truth'} (persons, records, orders, params.json)")
