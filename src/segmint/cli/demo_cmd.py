"""``segmint demo``: the whole loop on generated data — generate, import, stitch, RFM, CLV,
personas, report.

Example:
    $ segmint demo                      # ./segmint-demo with 5,000 people and report.html
    $ segmint demo shop-demo --customers 20000 --lang zh-Hant
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from segmint.cli._app import app, console
from segmint.config import CONFIG_FILE
from segmint.errors import DataError, WorkspaceError


def _bar() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description:<38}"),
        BarColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        console=console,
    )


@app.command()
def demo(
    folder: Annotated[Path, typer.Argument(help="Workspace folder to create.")] = Path(
        "segmint-demo"
    ),
    customers: Annotated[
        int, typer.Option("--customers", "-n", min=200, help="Number of true people to draw.")
    ] = 5000,
    seed: Annotated[int, typer.Option(help="Random seed: same seed, same data.")] = 7,
    lang: Annotated[str, typer.Option(help="Report language: en or zh-Hant.")] = "en",
    force: Annotated[
        bool, typer.Option("--force", help="Replace an existing demo workspace in FOLDER.")
    ] = False,
) -> None:
    """Generate demo data, import it with identity stitching, run RFM/ABC/CLV and personas,
    write a report."""
    from segmint.demo import IMPORT_PLAN, generate
    from segmint.report.i18n import check_lang
    from segmint.workspace import Workspace

    check_lang(lang)
    if (folder / CONFIG_FILE).exists():
        if not force:
            raise WorkspaceError(
                f"{folder} already holds a workspace.",
                hint=f"open it (segmint report -w {folder}), or run `segmint demo --force` "
                "to replace it.",
            )
        shutil.rmtree(folder)
    started = time.perf_counter()
    data_dir = folder / "data"

    with _bar() as bar:
        task = bar.add_task(f"Generating {customers:,} people", total=1.0)

        def gen_progress(_what: str, frac: float) -> None:
            bar.update(task, completed=frac)

        data = generate(customers, seed=seed, progress=gen_progress)
        paths = data.write(data_dir)
        bar.update(task, completed=1.0)

    ws = Workspace.create(folder, default_region="HK", currency="HKD", language=lang)
    results = []
    try:
        with _bar() as bar:
            for plan in IMPORT_PLAN:
                path = paths[plan.name]
                task = bar.add_task(f"Importing {path.name}", total=None)

                def progress(_step: str, done: int, total: int, _task=task) -> None:
                    bar.update(_task, completed=done, total=total or None)

                result = ws.import_file(
                    plan.kind,
                    path,
                    mapping=dict(plan.mapping),
                    source=plan.source,
                    progress=progress,
                )
                bar.update(task, completed=1, total=1)
                results.append(result)

            task = bar.add_task("RFM, CLV, personas and report", total=4)
            ws.rfm(save=True)
            bar.update(task, advance=1)
            try:
                ws.clv()  # BG/NBD + Gamma-Gamma: table clv, shown in the report
            except DataError as exc:  # the report goes on without the CLV section
                console.print(f"CLV skipped: {escape(str(exc))}", highlight=False)
            bar.update(task, advance=1)
            personas = ws.personas(save=True, random_state=0)  # as `segmint personas`
            bar.update(task, advance=1)
            report = ws.report(folder / "report.html", lang=lang)
            bar.update(task, advance=1)
        _print_summary(ws, results)
        names = [p.name_zh if lang == "zh-Hant" else p.name_en for p in personas.personas]
        console.print(f"Personas: {escape(' · '.join(names))}", highlight=False)
    finally:
        ws.close()
    where = escape(str(report.resolve()))
    console.print(f"Done in {time.perf_counter() - started:.0f} s. Report: [bold]{where}[/]")
    console.print(f"Explore it: segmint rfm -w {escape(str(folder))}")


def _print_summary(ws, results) -> None:
    table = Table(title="Imported", show_lines=False)
    for col in ("file", "kind", "source", "rows"):
        table.add_column(col, justify="right" if col == "rows" else "left")
    for r in results:
        table.add_row(Path(str(r.file)).name, r.kind, r.source, f"{r.rows_read:,}")
    console.print(table)
    people = ws.table("profiles").count().execute()
    records = ws.table("source_profiles").count().execute()
    console.print(
        f"{records:,} contact records from {len(results)} files became {people:,} people "
        "after identity stitching."
    )
