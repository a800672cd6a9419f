"""``segmint segments …``: the library, validation, preview, runs with history, diff, explain.

Example:
    $ segmint segments library --copy segments/      # start from the built-in definitions
    $ segmint segments validate segments/mine.yaml
    $ segmint segments preview segments/mine.yaml
    $ segmint segments run
    $ segmint segments diff --from 2026-05-31 --to 2026-06-30 --prefix rfm_
    $ segmint segments explain rfm_champions c_0055723805834352
    $ segmint segments check --min-size 100 --strict
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from segmint.cli._app import WorkspaceOpt, app, console, open_workspace

segments_app = typer.Typer(
    name="segments",
    help="Segment definitions: library, validate, preview, run (with history), diff, explain, "
    "check.",
    no_args_is_help=True,
)
app.add_typer(segments_app, name="segments")

AsOfOpt = Annotated[
    str | None,
    typer.Option(
        "--as-of",
        help="YYYY-MM-DD (the end of that day) or YYYY-MM-DDTHH:MM:SS in UTC "
        "(default: the end of the latest order's day).",
    ),
]


@segments_app.command("library")
def library(
    copy: Annotated[
        Path | None,
        typer.Option("--copy", help="Copy the library files into this folder to adapt them."),
    ] = None,
) -> None:
    """List the built-in segment definitions (or copy them with --copy DIR)."""
    from segmint.errors import WorkspaceError
    from segmint.rules import load_specs
    from segmint.segments import library_files

    files = library_files()
    if copy is not None:
        copy.mkdir(parents=True, exist_ok=True)
        clashes = [f.name for f in files if (copy / f.name).exists()]
        if clashes:
            raise WorkspaceError(
                f"{copy} already holds {', '.join(clashes)}.",
                hint="copy into an empty folder, or remove those files first.",
            )
        for f in files:
            shutil.copyfile(f, copy / f.name)
        console.print(f"Copied {len(files)} files to {escape(str(copy))}.")
        console.print(
            "Rename the slugs you change: a workspace's own definitions sit next to the library "
            "and slugs must be unique."
        )
        return
    table = Table(title="Built-in segment library")
    for col in ("file", "slug", "title", "中文"):
        table.add_column(col)
    count = 0
    for f in files:
        for st in load_specs(f):
            for seg in st.segments:
                table.add_row(f.stem, seg.slug, escape(seg.title_en), seg.title_zh_hant)
                count += 1
    console.print(table)
    console.print(
        f"{count} segments in {len(files)} files. Copy them: segmint segments library "
        "--copy segments/"
    )


def _workspace_or_memory(workspace: Path):
    """The workspace at ``workspace``, or an empty in-memory one when there is none."""
    from segmint.config import CONFIG_FILE
    from segmint.workspace import Workspace

    if (workspace / CONFIG_FILE).exists():
        return open_workspace(workspace)
    return Workspace()


@segments_app.command("validate")
def validate(
    file: Annotated[Path, typer.Argument(help="A YAML or JSON definition file.")],
    workspace: WorkspaceOpt = Path("."),
) -> None:
    """Check a definition file: shape, fields, events, metrics, references, cycles."""
    from segmint.errors import NotFoundError
    from segmint.rules import load_specs
    from segmint.segments import definition_files

    if not file.exists():
        raise NotFoundError(f"There is no file {file}.")
    with _workspace_or_memory(workspace) as ws:
        others = [p for p in definition_files(ws.path) if p.resolve() != file.resolve()]
        mine = load_specs(file)
        resolved = ws.segment_definitions([*others, *mine])
    slugs = [x.slug for st in mine for x in st.segments]
    console.print(
        f"OK: {escape(str(file))} defines {len(slugs)} segment(s): {', '.join(slugs)} "
        f"({len(resolved)} definitions checked together)."
    )


@segments_app.command("preview")
def preview(
    target: Annotated[str, typer.Argument(help="A definition file or a segment slug.")],
    workspace: WorkspaceOpt = Path("."),
    limit: Annotated[int, typer.Option("--limit", min=0, help="Sample size.")] = 20,
    as_of: AsOfOpt = None,
) -> None:
    """Count and a sample of members of a definition (nothing is saved)."""
    with open_workspace(workspace) as ws:
        p = ws.segment_preview(target, limit=limit, as_of=as_of)
    console.print(f"[bold]{p.slug}[/]: {p.count:,} customers")
    if limit and len(p.sample):
        table = Table()
        for col in p.sample.columns:
            table.add_column(col)
        for row in p.sample.itertuples(index=False):
            table.add_row(*("" if v is None or v != v else escape(str(v)) for v in row))
        console.print(table)


@segments_app.command("run")
def run(workspace: WorkspaceOpt = Path("."), as_of: AsOfOpt = None) -> None:
    """Evaluate the library and the workspace's segments/ and record membership history."""
    with open_workspace(workspace) as ws:
        result = ws.segments_run(as_of=as_of)
    table = Table(title=f"Segments as of {result.as_of:%Y-%m-%d %H:%M} UTC")
    for col in ("segment", "members", "entered", "exited"):
        table.add_column(col, justify="left" if col == "segment" else "right")
    frame = result.to_frame()
    for r in frame.itertuples(index=False):
        table.add_row(r.segment, f"{r.members:,}", f"{r.entered:,}", f"{r.exited:,}")
    console.print(table)
    console.print(f"{len(frame)} segments evaluated; history saved in table segment_membership.")


@segments_app.command("diff")
def diff(
    date_from: Annotated[str, typer.Option("--from", help="First date, YYYY-MM-DD.")],
    date_to: Annotated[str, typer.Option("--to", help="Second date, YYYY-MM-DD.")],
    workspace: WorkspaceOpt = Path("."),
    segment: Annotated[
        list[str] | None, typer.Option("--segment", "-s", help="Compare only these (repeat).")
    ] = None,
    prefix: Annotated[
        str | None, typer.Option("--prefix", help="Compare segments whose slug starts so.")
    ] = None,
) -> None:
    """Migration matrix of recorded membership: rows then, columns later."""
    with open_workspace(workspace) as ws:
        names = list(segment) if segment else None
        if prefix is not None:
            known = ws.table("segment_membership").select("segment").distinct().to_pyarrow()
            found = [s for s in known.column("segment").to_pylist() if s.startswith(prefix)]
            names = sorted({*(names or []), *found})
        matrix = ws.segment_diff(date_from, date_to, segments=names)
    table = Table(title=f"From {escape(date_from)} (rows) to {escape(date_to)} (columns)")
    table.add_column("from \\ to")
    for col in matrix.columns:
        table.add_column(escape(str(col)), justify="right")
    for name, row in matrix.iterrows():
        table.add_row(escape(str(name)), *(f"{v:,}" for v in row))
    console.print(table)


@segments_app.command("explain")
def explain(
    slug: Annotated[str, typer.Argument(help="Segment slug.")],
    customer_id: Annotated[str, typer.Argument(help="Customer id.")],
    workspace: WorkspaceOpt = Path("."),
    as_of: AsOfOpt = None,
) -> None:
    """Which conditions held for one customer, and the values seen."""
    with open_workspace(workspace) as ws:
        e = ws.explain_segment(slug, customer_id, as_of=as_of)
    console.print(escape(e.render()))


# -- segmint segments check (issue 3, "Diagnostics") ----------------------------------------------
_SEVERITY_STYLE = {"error": "bold red", "warning": "yellow", "info": "cyan"}


def _share(text: str | None) -> float | None:
    """``0.005`` or ``0.5%`` → 0.005 (the --min-share option)."""
    from segmint.errors import ValidationError

    if text is None:
        return None
    raw = text.strip()
    try:
        value = float(raw.removesuffix("%")) / (100 if raw.endswith("%") else 1)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 1:
        raise ValidationError(
            f"--min-share must be a share between 0 and 1 or a percent. Got {text!r} instead.",
            hint="e.g. --min-share 0.005 or --min-share 0.5%",
        )
    return value


@segments_app.command("check")
def check(
    workspace: WorkspaceOpt = Path("."),
    as_of: AsOfOpt = None,
    min_size: Annotated[
        int | None, typer.Option("--min-size", min=0, help="Fewest members (default 50).")
    ] = None,
    min_share: Annotated[
        str | None,
        typer.Option("--min-share", help="Smallest share of profiles: 0.005 or 0.5% (default)."),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the findings as JSON (machine-readable).")
    ] = False,
    strict: Annotated[
        bool, typer.Option("--strict", help="Exit with code 1 when there are warnings or errors.")
    ] = False,
) -> None:
    """Diagnose segments: too small or coarse, overlaps, demographic-only, missing or
    disagreeing data, stale reviews, unused personal fields (thresholds: segmint.yaml)."""
    import json

    overrides = {"min_size": min_size, "min_share": _share(min_share)}
    with open_workspace(workspace) as ws:
        report = ws.segments_check(
            as_of=as_of, **{k: v for k, v in overrides.items() if v is not None}
        )
    counts = report.counts()
    if as_json:
        typer.echo(json.dumps(report.to_dict(), ensure_ascii=False, indent=2))
    else:
        _print_check(report)
    if strict and (counts["warning"] or counts["error"]):
        raise SystemExit(1)  # not typer.Exit: main() runs click with standalone_mode=False


def _print_check(report) -> None:
    rate = report.purchase_rate
    bought = "" if rate is None else f", {rate:.0%} bought in the last "
    bought += f"{report.thresholds.purchase_days} days" if bought else ""
    console.print(
        f"[bold]Segment check[/] as of {report.as_of:%Y-%m-%d %H:%M} UTC: "
        f"{report.population:,} profiles{bought}, {len(report.sizes)} segments."
    )
    for severity in ("error", "warning", "info"):
        found = [f for f in report.findings if f.severity == severity]
        if not found:
            continue
        style = _SEVERITY_STYLE[severity]
        table = Table(title=f"[{style}]{severity.capitalize()}s ({len(found)})[/]", show_lines=True)
        for col in ("check", "segments / fields", "finding"):
            table.add_column(col, overflow="fold")
        last_hint = None
        for f in found:
            names = ", ".join(f.segments) if len(f.segments) <= 3 else f"{len(f.segments)} segments"
            where = "\n".join(x for x in (names, ", ".join(f.fields)) if x)
            text = escape(f.message)
            if f.hint and f.hint != last_hint:  # the same advice once per run of findings
                text += f"\n[dim]Hint: {escape(f.hint)}[/]"
            last_hint = f.hint
            table.add_row(f"[{style}]{f.code}[/]", escape(where), text)
        console.print(table)
    limit = report.thresholds.max_jaccard
    pairs = report.overlap_pairs(limit)
    if len(pairs):
        sets = dict(zip(report.sizes["segment"], report.sizes["set"], strict=True))
        table = Table(title=f"Overlapping pairs (Jaccard ≥ {limit:.2f}), any set")
        for col in ("segment", "segment", "Jaccard", "same set"):
            table.add_column(col, justify="right" if col == "Jaccard" else "left")
        for r in pairs.itertuples(index=False):
            same = sets.get(r.a) if sets.get(r.a) == sets.get(r.b) else ""
            table.add_row(r.a, r.b, f"{r.jaccard:.2f}", escape(str(same)))
        console.print(table)
    c = report.counts()
    console.print(f"{c['error']} error(s), {c['warning']} warning(s), {c['info']} note(s).")


# -- segmint tags … -------------------------------------------------------------------------------
tags_app = typer.Typer(
    name="tags",
    help="Manual tags (usable in conditions as {tag: NAME}); segment runs add auto-tags.",
    no_args_is_help=True,
)
app.add_typer(tags_app, name="tags")


@tags_app.command("add")
def tags_add(
    tag: Annotated[str, typer.Argument(help="Tag name.")],
    customer_ids: Annotated[list[str], typer.Argument(help="Customer ids.")],
    workspace: WorkspaceOpt = Path("."),
) -> None:
    """Give TAG to customers."""
    with open_workspace(workspace) as ws:
        n = ws.tags_add(tag, customer_ids)
    console.print(f"Tagged {n:,} customer(s) with {escape(tag)!r}.")


@tags_app.command("remove")
def tags_remove(
    tag: Annotated[str, typer.Argument(help="Tag name.")],
    customer_ids: Annotated[list[str] | None, typer.Argument(help="Customer ids.")] = None,
    everyone: Annotated[bool, typer.Option("--all", help="Take the tag from everyone.")] = False,
    workspace: WorkspaceOpt = Path("."),
) -> None:
    """Take TAG from customers (or from everyone with --all)."""
    from segmint.errors import ValidationError

    if not customer_ids and not everyone:
        raise ValidationError(
            "tags remove needs customer ids or --all. Got neither.",
            hint=f"segmint tags remove {tag} CUSTOMER_ID … or segmint tags remove {tag} --all",
        )
    with open_workspace(workspace) as ws:
        n = ws.tags_remove(tag, None if everyone else customer_ids)
    console.print(f"Removed {escape(tag)!r} from {n:,} customer(s).")


@tags_app.command("list")
def tags_list(workspace: WorkspaceOpt = Path(".")) -> None:
    """Customers per tag and source."""
    from segmint.segments import tag_counts

    with open_workspace(workspace) as ws:
        counts = tag_counts(ws.con)
    table = Table(title="Tags")
    for col in ("tag", "source", "customers"):
        table.add_column(col, justify="right" if col == "customers" else "left")
    for r in counts.itertuples(index=False):
        table.add_row(escape(str(r.tag)), escape(str(r.source)), f"{r.customers:,}")
    console.print(table)
