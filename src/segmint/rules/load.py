"""Read definition files into frozen specs, reporting every problem at once (layer 2).

Errors name the file and the JSON pointer of the offending key and suggest close names::

    Unknown key 'feild'. Did you mean 'field'? (segments.yaml, /segments/2/where/all/0/feild)

Example:
    >>> s = parse_specs({"slug": "vip", "title_en": "VIP", "title_zh_hant": "貴賓",
    ...                  "owner": "crm", "reviewed_on": "2025-01-15", "where": {"tag": "vip"}})
    >>> [x.slug for x in s.segments]
    ['vip']
"""

from __future__ import annotations

import json
import re
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from datetime import date
from pathlib import Path
from typing import Any

import pydantic
import yaml

from segmint.errors import DefinitionError, DefinitionProblem, close_matches
from segmint.rules import spec as spec_module
from segmint.rules.spec import (
    CONDITION_KEYS,
    CONDITION_TAGS,
    SegmentSet,
    SegmentSpec,
)

__all__ = ["dump_yaml", "json_pointer", "load_specs", "parse_specs", "to_data"]

SUFFIXES = (".yaml", ".yml", ".json")


def json_pointer(parts: Iterable[str | int]) -> str:
    """RFC 6901 pointer: ``json_pointer(["segments", 2, "where"]) == "/segments/2/where"``."""
    out = [str(p).replace("~", "~0").replace("/", "~1") for p in parts]
    return "/" + "/".join(out) if out else ""


# -- files -----------------------------------------------------------------------------------------
def _files(paths: str | Path | Iterable[str | Path]) -> list[Path]:
    items = [paths] if isinstance(paths, str | Path) else list(paths)
    found: list[Path] = []
    for item in items:
        p = Path(item)
        if p.is_dir():
            found += sorted(f for f in p.rglob("*") if f.suffix.lower() in SUFFIXES)
        else:
            found.append(p)
    return found


def _read(path: Path) -> tuple[Any, DefinitionProblem | None]:
    name = str(path)
    if not path.exists():
        return None, DefinitionProblem(name, "", f"The definition file {name} does not exist.")
    if path.suffix.lower() not in SUFFIXES:
        return None, DefinitionProblem(
            name, "", f"A definition file must end in .yaml, .yml or .json. Got '{path.name}'."
        )
    text = path.read_text(encoding="utf-8")
    try:
        if path.suffix.lower() == ".json":
            return json.loads(text), None
        return yaml.safe_load(text), None
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno}, column {exc.colno}"
        return None, DefinitionProblem(
            name, "", f"{path.name} is not valid JSON: {exc.msg}.", (), f"look at {where}"
        )
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "the file"
        problem = getattr(exc, "problem", None) or str(exc)
        return None, DefinitionProblem(
            name, "", f"{path.name} is not valid YAML: {problem}.", (), f"look at {where}"
        )


def load_specs(paths: str | Path | Iterable[str | Path]) -> tuple[SegmentSet, ...]:
    """Parse definition files (or every .yaml/.yml/.json under a folder) into frozen sets.

    A file holding a single segment becomes a set of one. Every problem in every file is
    collected first; then one :class:`~segmint.errors.DefinitionError` lists them all.

    Example:
        >>> load_specs("examples/segments")  # doctest: +SKIP
    """
    problems: list[DefinitionProblem] = []
    sets: list[SegmentSet] = []
    files = _files(paths)
    if not files:
        problems.append(DefinitionProblem(str(paths), "", "No definition files were found."))
    for path in files:
        data, problem = _read(path)
        if problem is not None:
            problems.append(problem)
            continue
        try:
            sets.append(parse_specs(data, source=str(path)))
        except DefinitionError as exc:
            problems += exc.problems
    if problems:
        raise DefinitionError(problems)
    return tuple(sets)


def parse_specs(data: Any, *, source: str | None = None) -> SegmentSet:
    """Validate already-parsed data (a set or a single segment) into a :class:`SegmentSet`."""
    if isinstance(data, SegmentSet):
        return data
    if isinstance(data, SegmentSpec):
        return _single(data, source)
    if not isinstance(data, Mapping):
        got = "an empty file" if data is None else f"{type(data).__name__} {_short(data)}"
        raise DefinitionError(
            [
                DefinitionProblem(
                    source,
                    "",
                    "A definition must be a mapping with 'segments:' (a set) or 'slug:' "
                    f"(one segment). Got {got} instead.",
                )
            ]
        )
    single = "segments" not in data and "slug" in data
    model: type[pydantic.BaseModel] = SegmentSpec if single else SegmentSet
    try:
        parsed = model.model_validate(data)
    except pydantic.ValidationError as exc:
        raise DefinitionError(_translate(exc, data, model, source)) from None
    if single:
        return _single(parsed, source)  # type: ignore[arg-type]
    parsed._source = source  # type: ignore[union-attr]
    return parsed  # type: ignore[return-value]


def _single(spec: SegmentSpec, source: str | None) -> SegmentSet:
    out = SegmentSet(segments=(spec,))
    out._source = source
    out._single = True
    return out


# -- pydantic errors → problems --------------------------------------------------------------------
def _unwrap_model(annotation: Any) -> type[pydantic.BaseModel] | None:
    """The model class inside ``X | None``, ``tuple[X, ...]`` or ``Annotated[X, ...]``."""
    origin = typing.get_origin(annotation)
    if isinstance(annotation, type) and issubclass(annotation, pydantic.BaseModel):
        return annotation
    if origin is typing.Annotated:
        return _unwrap_model(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType, tuple, list):
        models = [m for a in typing.get_args(annotation) if (m := _unwrap_model(a)) is not None]
        return models[0] if len(models) == 1 else None
    return None


def _fields_by_key(model: type[pydantic.BaseModel]) -> dict[str, pydantic.fields.FieldInfo]:
    return {(f.alias or name): f for name, f in model.model_fields.items()}


def _walk(
    loc: tuple, root: type[pydantic.BaseModel], tags: Mapping[str, type] | None = None
) -> tuple[list, Any, Any]:
    """Strip union tags from a pydantic ``loc``; return (pointer parts, parent model, field).

    ``tags`` maps further union tags (e.g. a workflow's trigger kinds) to their models."""
    parts: list = []
    model: Any = root
    parent: Any = None
    field: Any = None
    for item in loc:
        if isinstance(item, str) and tags and item in tags:
            model = tags[item]
            continue
        if isinstance(item, str) and item in CONDITION_TAGS:
            model = getattr(spec_module, item)  # the tag of a condition is its model's name
            continue
        parts.append(item)
        if isinstance(item, int):
            continue
        parent, field = model, None
        if model is not None and isinstance(item, str):
            field = _fields_by_key(model).get(item)
            model = _unwrap_model(field.annotation) if field is not None else None
    return parts, parent, field


def _short(value: Any, limit: int = 60) -> str:
    if isinstance(value, Mapping):
        text = "a mapping with keys " + ", ".join(f"'{k}'" for k in list(value)[:6])
    elif isinstance(value, str):
        text = repr(value)
    elif isinstance(value, date):
        text = value.isoformat()
    else:
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _segment_name(data: Any, parts: list) -> str | None:
    if isinstance(data, Mapping) and "slug" in data and parts[:1] != ["segments"]:
        return str(data["slug"])
    if len(parts) >= 2 and parts[0] == "segments" and isinstance(parts[1], int):
        try:
            seg = data["segments"][parts[1]]
        except (KeyError, IndexError, TypeError):
            return None
        if isinstance(seg, Mapping) and isinstance(seg.get("slug"), str):
            return seg["slug"]
    return None


_STRIP = re.compile(r"^(Value error|Assertion failed), ")


def _translate(
    exc: pydantic.ValidationError, data: Any, root: type[pydantic.BaseModel], source: str | None
) -> list[DefinitionProblem]:
    return translate_errors(exc, data, root, source)


Explanation = tuple[str, list[str], str | None]


def translate_errors(
    exc: pydantic.ValidationError,
    data: Any,
    root: type[pydantic.BaseModel],
    source: str | None,
    *,
    tags: Mapping[str, type] | None = None,
    explain: Callable[[Mapping], Explanation | None] | None = None,
    name_of: Callable[[Any, list], str | None] = _segment_name,
    label: str = "Segment",
) -> list[DefinitionProblem]:
    """Pydantic errors → every problem with file, JSON pointer, close names and a hint.

    Used for segment files and, with ``tags`` (more union tags), ``explain`` (messages for
    error kinds of its own, or None) and ``name_of``/``label`` ("Workflow 'x': …"), for other
    definition files such as workflows.
    """
    problems: list[DefinitionProblem] = []
    seen: set[tuple[str, str]] = set()
    errors = exc.errors()
    for err in errors:
        loc = err["loc"]
        if err["type"] == "too_short" and any(
            len(o["loc"]) > len(loc) and o["loc"][: len(loc)] == loc for o in errors
        ):
            continue  # a list emptied by the errors of its items: those errors say it all
        parts, parent, _ = _walk(err["loc"], root, tags)
        pointer = json_pointer(parts)
        key = next((p for p in reversed(parts) if isinstance(p, str)), None)
        own = explain(err) if explain is not None else None
        message, suggestions, hint = own if own is not None else _explain(err, key, parent)
        name = name_of(data, parts)
        if name and not message.startswith(label):
            message = f"{label} '{name}': {message}"
        else:
            message = message[:1].upper() + message[1:]
        if (pointer, message) in seen:
            continue
        seen.add((pointer, message))
        problems.append(DefinitionProblem(source, pointer, message, tuple(suggestions), hint))
    return problems


def _explain(err: Mapping, key: str | None, parent: Any) -> tuple[str, list[str], str | None]:
    kind, value = err["type"], err.get("input")
    allowed = sorted(_fields_by_key(parent)) if parent is not None else []
    if kind == "extra_forbidden":
        return (
            f"Unknown key '{key}'.",
            close_matches(str(key), allowed),
            "allowed keys here: " + ", ".join(allowed) if allowed else None,
        )
    if kind == "missing":
        return f"'{key}' is required.", [], None
    if kind == "unknown_condition":
        keys = list(value) if isinstance(value, Mapping) else []
        sugg = sorted({m for k in keys for m in close_matches(str(k), CONDITION_KEYS, n=1)})
        got = _short(value)
        return (
            f"A condition must have one of the keys {', '.join(CONDITION_KEYS)}. "
            f"Got {got} instead.",
            sugg,
            "see docs/segments.md for every kind of condition",
        )
    if kind == "literal_error":
        expected = re.findall(r"'([^']*)'", err.get("ctx", {}).get("expected", ""))
        return (
            f"'{key}' must be one of {', '.join(expected)}. Got {_short(value)} instead.",
            close_matches(str(value), expected),
            None,
        )
    if kind == "string_pattern_mismatch" and key == "slug":
        fixed = re.sub(r"[^a-z0-9_]+", "_", str(value).lower()).strip("_")
        return (
            "'slug' must be lower-case letters, digits and underscores, starting with a letter. "
            f"Got {_short(value)} instead.",
            [],
            f"use '{fixed}'" if fixed and fixed[0].isalpha() else None,
        )
    msg = _STRIP.sub("", err["msg"])
    if kind in ("value_error", "assertion_error"):
        return f"{msg}.", [], None
    return f"'{key}' {msg[:1].lower()}{msg[1:]}. Got {_short(value)} instead.", [], None


# -- writing ---------------------------------------------------------------------------------------
def to_data(obj: pydantic.BaseModel) -> Any:
    """Plain data (dicts, lists, dates) of a spec, defaults left out, the kind key first.

    Loading the result with :func:`parse_specs` gives back an equal spec.
    """
    return _plain(obj.model_dump(by_alias=True, exclude_defaults=True, mode="python"))


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        keys = sorted(value, key=lambda k: k not in CONDITION_KEYS)
        return {k: _plain(value[k]) for k in keys}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


class _Dumper(yaml.SafeDumper):
    """Quotes text that a plain YAML scalar would not give back unchanged."""


_BREAKS = ("\r", "\x85", "\u2028", "\u2029")


def _str(dumper: yaml.SafeDumper, text: str) -> yaml.Node:
    style = '"' if any(b in text for b in _BREAKS) else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)


_Dumper.add_representer(str, _str)


def dump_yaml(obj: pydantic.BaseModel) -> str:
    """YAML text of a spec (a segment or a set), ready to save and load again."""
    return yaml.dump(to_data(obj), Dumper=_Dumper, allow_unicode=True, sort_keys=False, width=100)
