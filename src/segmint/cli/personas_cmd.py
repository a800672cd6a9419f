"""``segmint personas``: cluster the buyers into 3–5 personas, print the cards, save the tables.

Example:
    $ segmint personas -w shop
    $ segmint personas -w shop --min-k 3 --max-k 6 --seed 1 --lang zh-Hant
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from segmint.cli._app import WorkspaceOpt, app, console, open_workspace
from segmint.cli.analysis_cmds import AsOfOpt, LangOpt, _check_lang

#: words of the printout: (English, Traditional Chinese)
_WORDS = {
    "k": ("Choice of k", "分群數目 k 的選擇"),
    "chosen": ("chosen", "已選"),
    "stability": ("stability", "穩定度"),
    "people": ("{n:,} people ({share})", "{n:,} 人（{share}）"),
    "value": ("{share} of revenue", "營業額佔 {share}"),
    "apart": ("What sets them apart", "與眾不同之處"),
    "rules": ("How to recognise them", "如何辨認"),
    "auc": (
        "held-out AUC: tree {tree:.3f}, LDA {lda:.3f}",
        "保留樣本 AUC：決策樹 {tree:.3f}，LDA {lda:.3f}",
    ),
    "saved": (
        "Saved tables [bold]clusters[/] (use clusters.persona in segment definitions) and "
        "[bold]personas[/]; `segmint report` shows the cards.",
        "已儲存 [bold]clusters[/]（可在分群定義中使用 clusters.persona）及 [bold]personas[/] "
        "資料表；`segmint report` 會顯示角色卡。",
    ),
}  # fmt: skip


def _w(key: str, zh: bool, **values: Any) -> str:
    return _WORDS[key][1 if zh else 0].format(**values)


@app.command()
def personas(
    workspace: WorkspaceOpt = Path("."),
    as_of: AsOfOpt = None,
    min_k: Annotated[int, typer.Option("--min-k", min=2, help="Fewest personas to try.")] = 3,
    max_k: Annotated[int, typer.Option("--max-k", min=2, help="Most personas to try.")] = 5,
    seed: Annotated[
        int, typer.Option("--seed", min=0, help="Random seed (same seed, same result).")
    ] = 0,
    lang: LangOpt = None,
) -> None:
    """Cluster the customers with an order into personas (k chosen in --min-k … --max-k by
    stability and a vote of three indices), print a card per persona (plus one for the people
    without an order) and save tables `clusters` and `personas`."""
    from segmint.errors import ValidationError
    from segmint.features.purchases import parse_as_of

    day = parse_as_of(as_of) if as_of is not None else None  # refuse bad input before any work
    if max_k < min_k:
        raise ValidationError(
            f"--max-k must be ≥ --min-k ({min_k}). Got {max_k} instead.",
            hint=f"e.g. --min-k {min_k} --max-k {min_k + 2}",
        )
    ws = open_workspace(workspace)
    try:
        zh = _check_lang(lang, ws.config.language) == "zh-Hant"
        with console.status("Clustering customers and describing the personas…"):
            result = ws.personas(
                as_of=day, save=True, min_clusters=min_k, max_clusters=max_k, random_state=seed
            )
            stored = ws.table("personas").to_pandas()
    finally:
        ws.close()
    _print_k_table(result.model, zh)
    rules = dict(zip(stored["cluster"], stored["explanation_json"], strict=True))
    for card in result.personas:
        console.print(_card_panel(card, rules.get(card.cluster), zh))
    console.print(_w("saved", zh))


def _print_k_table(model: Any, zh: bool) -> None:
    from rich.table import Table

    table = Table(title=_w("k", zh), title_justify="left")
    heads = ("k", "silhouette", "Calinski–Harabasz", "Davies–Bouldin", _w("stability", zh), "")
    for head in heads:
        table.add_column(head, justify="right")
    for k, s in model.k_scores_.items():
        table.add_row(
            k,
            f"{s['silhouette']:.3f}",
            f"{s['calinski_harabasz']:,.0f}",
            f"{s['davies_bouldin']:.3f}",
            f"{s['stability']:.2f}",
            f"← {_w('chosen', zh)}" if int(k) == model.n_clusters_ else "",
        )
    console.print(table)


def _card_panel(card: Any, explanation_json: str | None, zh: bool) -> Any:
    """One persona as a rich panel (text in the chosen language)."""
    import json

    from rich.panel import Panel

    lines = [
        _w("people", zh, n=card.size, share=f"{100 * card.share:.0f}%")
        + (
            " · " + _w("value", zh, share=f"{100 * card.value_share:.0f}%")
            if card.value_share is not None
            else ""
        ),
        "",
        escape(card.description_zh if zh else card.description_en),
    ]
    if card.features:
        lines += ["", f"[bold]{_w('apart', zh)}[/]"]
        for f in card.features:
            label = f.label_zh if zh else f.label_en
            lines.append(f"  • {escape(label)}{'：' if zh else ': '}d = {f.effect_size:+.2f}")
    # null (a cluster too small to explain) comes back from pandas as NaN
    e = json.loads(explanation_json) if isinstance(explanation_json, str) else {}
    rules = e.get("rules_zh_hant" if zh else "rules") or []
    if rules:
        lines += ["", f"[bold]{_w('rules', zh)}[/]"]
        if e.get("tree_auc") is not None:
            lines.append("  " + _w("auc", zh, tree=e["tree_auc"], lda=e["lda_auc"]))
        lines += [f"  • {escape(r)}" for r in rules]
    title = f"[bold]{escape(card.name_zh if zh else card.name_en)}[/]"
    return Panel("\n".join(lines), title=title, title_align="left", expand=False)
