"""Workflow definitions: trigger → condition → actions, as frozen pydantic models (layer 3).

A workflow file (``<workspace>/workflows/*.yaml|yml|json``) holds one workflow or a list under
``workflows:``. Like segment definitions it carries no expression strings: the condition is a
segment-spec condition tree (:data:`segmint.rules.spec.Condition`), and errors name the file and
the JSON pointer and suggest close names (the same helpers as :mod:`segmint.rules.load`)::

    Unknown key 'add_tg'. Did you mean 'add_tag'? (workflows/vip.yaml, /actions/0/add_tg)

Triggers: ``segment_entered`` / ``segment_exited`` (a slug), ``event`` (names and property
filters), ``schedule`` (``every_minutes`` or a five-field ``cron``, optionally for the members of
a ``segment``), ``date`` (a date field's anniversary, ``days_before`` it). Actions: ``add_tag``,
``remove_tag``, ``add_to_list``, ``remove_from_list``, ``set_trait``, ``webhook``.

Webhook bodies are signed like campaign sends (:mod:`segmint.activation.webhook`) and delivered
by :func:`deliver` (one try; the service retries with exponential backoff, :func:`backoff`).

Example:
    >>> wf = parse_workflows({"slug": "welcome_vip", "trigger": {"segment_entered": "vip"},
    ...                       "actions": [{"add_tag": "vip"}]})[0]
    >>> wf.trigger.segment_entered, wf.actions[0].add_tag
    ('vip', 'vip')
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Union

import httpx
import pydantic
import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    PrivateAttr,
    Tag,
    TypeAdapter,
    field_validator,
    model_validator,
)

from segmint.activation.webhook import SIGNATURE_HEADER, signature_header
from segmint.errors import DefinitionError, DefinitionProblem, ValidationError, close_matches
from segmint.rules.load import translate_errors
from segmint.rules.spec import SLUG_PATTERN, Compare, Condition, Names

__all__ = [
    "ACTION_KEYS",
    "TRIGGER_KEYS",
    "Cron",
    "Delivery",
    "Workflow",
    "WorkflowDefinitionError",
    "backoff",
    "deliver",
    "json_schema",
    "load_workflows",
    "parse_workflows",
    "workflow_files",
]

SUFFIXES = (".yaml", ".yml", ".json")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


# -- triggers --------------------------------------------------------------------------------------
class SegmentEntered(_Model):
    """When a customer enters a segment (``segment_entered: rfm_champions``)."""

    segment_entered: str = Field(min_length=1)


class SegmentExited(_Model):
    """When a customer leaves a segment (``segment_exited: active_30d``)."""

    segment_exited: str = Field(min_length=1)


class EventTrigger(_Model):
    """When an event arrives: ``event: Order Completed`` (a name, a list or ``any``), and every
    filter of ``where`` holds on it (``{field: properties.total, op: gte, value: 100}``)."""

    event: Names
    where: tuple[Compare, ...] = ()


_CRON_FIELDS = (("minute", 0, 59), ("hour", 0, 23), ("day", 1, 31), ("month", 1, 12))


class Cron:
    """A five-field cron expression (minute hour day month weekday; ``*``, lists, ranges,
    ``*/step``; weekday 0–6 with 0 = Sunday, 7 also Sunday), matched in the workspace time zone.

    >>> c = Cron("30 9 * * 1-5")
    >>> c.matches(datetime(2026, 6, 1, 9, 30)), c.matches(datetime(2026, 6, 6, 9, 30))
    (True, False)
    """

    def __init__(self, text: str) -> None:
        parts = text.split()
        if len(parts) != 5:
            raise ValueError(
                "a cron expression has five fields: minute hour day month weekday "
                f"(e.g. '0 9 * * 1'). Got {text!r} instead"
            )
        limits = (*_CRON_FIELDS, ("weekday", 0, 7))
        self.text = text
        pairs = zip(parts, limits, strict=True)
        self.sets = [_cron_field(p, name, lo, hi) for p, (name, lo, hi) in pairs]
        if 7 in self.sets[4]:
            self.sets[4] = self.sets[4] | {0}

    def matches(self, at: datetime) -> bool:
        weekday = (at.weekday() + 1) % 7  # Python: Monday 0; cron: Sunday 0
        values = (at.minute, at.hour, at.day, at.month, weekday)
        return all(v in s for v, s in zip(values, self.sets, strict=True))


def _cron_field(text: str, name: str, lo: int, hi: int) -> frozenset[int]:
    out: set[int] = set()
    for item in text.split(","):
        body, _, step_text = item.partition("/")
        try:
            step = int(step_text) if step_text else 1
            if body == "*":
                start, end = lo, hi
            elif "-" in body:
                a, b = body.split("-", 1)
                start, end = int(a), int(b)
            else:
                start = end = int(body)
        except ValueError:
            raise ValueError(
                f"cron {name} must be *, a number, a range or a list. Got {item!r}"
            ) from None
        if step < 1 or not (lo <= start <= end <= hi):
            raise ValueError(f"cron {name} must lie between {lo} and {hi}. Got {item!r}")
        out.update(range(start, end + 1, step))
    return frozenset(out)


class Every(_Model):
    """``every_minutes: 60`` or ``cron: "0 9 * * 1"`` (workspace time zone)."""

    every_minutes: int | None = Field(None, ge=1, le=527_040)
    cron: str | None = None

    @field_validator("cron")
    @classmethod
    def _cron(cls, v: str | None) -> str | None:
        if v is not None:
            Cron(v)
        return v

    @model_validator(mode="after")
    def _one(self) -> Every:
        if (self.every_minutes is None) == (self.cron is None):
            raise ValueError("a schedule needs exactly one of 'every_minutes' or 'cron'")
        return self


class ScheduleTrigger(_Model):
    """On a schedule, for the members of ``segment`` (or every profile the condition selects)."""

    schedule: Every
    segment: str | None = None


class DateTrigger(_Model):
    """``days_before`` the anniversary of a date field (``date: birth_date``), once a day at
    ``at_hour`` (workspace time zone)."""

    date: str = Field(min_length=1, description="a date column of profiles, e.g. birth_date")
    days_before: int = Field(0, ge=0, le=365)
    at_hour: int = Field(9, ge=0, le=23)


_TRIGGERS: tuple[tuple[str, type[_Model]], ...] = (
    ("segment_entered", SegmentEntered),
    ("segment_exited", SegmentExited),
    ("event", EventTrigger),
    ("schedule", ScheduleTrigger),
    ("date", DateTrigger),
)
TRIGGER_KEYS: tuple[str, ...] = tuple(k for k, _ in _TRIGGERS)


# -- actions ---------------------------------------------------------------------------------------
class AddTag(_Model):
    add_tag: str = Field(min_length=1)


class RemoveTag(_Model):
    remove_tag: str = Field(min_length=1)


class AddToList(_Model):
    add_to_list: str = Field(min_length=1, description="an audience list name")


class RemoveFromList(_Model):
    remove_from_list: str = Field(min_length=1)


class TraitValue(_Model):
    name: str = Field(min_length=1, pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
    value: str | int | float | bool | None


class SetTrait(_Model):
    """``set_trait: {name: tier, value: gold}``: a key of ``profiles.traits``."""

    set_trait: TraitValue


class WebhookCall(_Model):
    """``webhook: {url: https://…}``: POST a signed JSON body about the customer."""

    url: str = Field(min_length=1)
    include_profile: bool = Field(True, description="add the profile's columns to the body")

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        if not v.startswith(("http://", "https://")):
            raise ValueError(f"a webhook URL must start with http:// or https://. Got {v!r}")
        return v


class Webhook(_Model):
    webhook: WebhookCall


_ACTIONS: tuple[tuple[str, type[_Model]], ...] = (
    ("add_tag", AddTag),
    ("remove_tag", RemoveTag),
    ("add_to_list", AddToList),
    ("remove_from_list", RemoveFromList),
    ("set_trait", SetTrait),
    ("webhook", Webhook),
)
ACTION_KEYS: tuple[str, ...] = tuple(k for k, _ in _ACTIONS)
_TAGS = {m.__name__: k for k, m in (*_TRIGGERS, *_ACTIONS)}
_MODELS = {m.__name__: m for _, m in (*_TRIGGERS, *_ACTIONS)}


def _kind(pairs: tuple[tuple[str, type[_Model]], ...]):
    def pick(v: Any) -> str | None:
        if isinstance(v, Mapping):
            return next((m.__name__ for k, m in pairs if k in v), None)
        name = type(v).__name__
        return name if any(m.__name__ == name for _, m in pairs) else None

    return pick


def _union(pairs: tuple[tuple[str, type[_Model]], ...], what: str, error: str):
    keys = ", ".join(k for k, _ in pairs)
    return Annotated[
        Union[tuple(Annotated[m, Tag(m.__name__)] for _, m in pairs)],  # noqa: UP007
        Discriminator(
            _kind(pairs),
            custom_error_type=error,
            custom_error_message=f"{what} must start with one of: {keys}",
        ),
    ]


Trigger = _union(_TRIGGERS, "a trigger", "unknown_trigger")
Action = _union(_ACTIONS, "an action", "unknown_action")


class Workflow(_Model):
    """One workflow: when (``trigger``), for whom (``if``: a condition tree), what (``actions``).

    >>> Workflow.model_validate({"slug": "b", "trigger": {"date": "birth_date", "days_before": 7},
    ...     "actions": [{"webhook": {"url": "https://example.com/h"}}]}).trigger.days_before
    7
    """

    slug: str = Field(pattern=SLUG_PATTERN, description="lower_snake_case identifier")
    title: str = ""
    description: str = ""
    enabled: bool = True
    trigger: Trigger
    if_: Condition | None = Field(None, alias="if")
    actions: tuple[Action, ...] = Field(min_length=1)

    _source: str | None = PrivateAttr(None)
    _pointer: str = PrivateAttr("")

    @property
    def source(self) -> str | None:
        return self._source

    @property
    def pointer(self) -> str:
        """Where the workflow sits in its file (``/workflows/2``, or empty for a single one)."""
        return self._pointer

    @property
    def trigger_kind(self) -> str:
        return _TAGS[type(self.trigger).__name__]

    def needs_segment(self) -> str | None:
        """The segment slug the trigger names (entered / exited / schedule), if any."""
        t = self.trigger
        return (
            getattr(t, "segment_entered", None)
            or getattr(t, "segment_exited", None)
            or (t.segment if isinstance(t, ScheduleTrigger) else None)
        )


class WorkflowFile(_Model):
    workflows: tuple[Workflow, ...] = Field(min_length=1)


_FILE_ADAPTER: TypeAdapter = TypeAdapter(WorkflowFile | Workflow)


def json_schema() -> dict:
    """JSON Schema of a workflow file (one workflow or ``workflows: [...]``).

    >>> "Workflow" in json_schema()["$defs"]
    True
    """
    schema = _FILE_ADAPTER.json_schema(by_alias=True)
    schema["title"] = "segmint workflows"
    return schema


# -- reading files ---------------------------------------------------------------------------------
def workflow_files(folder: str | Path | None) -> list[Path]:
    """``<folder>/workflows/*.yaml|yml|json``, sorted by name (none if the folder is missing)."""
    if folder is None:
        return []
    own = Path(folder) / "workflows"
    return sorted(p for p in own.iterdir() if p.suffix in SUFFIXES) if own.is_dir() else []


def load_workflows(paths: Iterable[str | Path]) -> list[Workflow]:
    """Parse workflow files; every problem of every file is collected into one
    :class:`~segmint.errors.DefinitionError`. Slugs must be unique across the files."""
    problems: list[DefinitionProblem] = []
    out: list[Workflow] = []
    for path in map(Path, paths):
        name = str(path)
        try:
            text = path.read_text(encoding="utf-8")
            data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
        except FileNotFoundError:
            problems.append(
                DefinitionProblem(name, "", f"The workflow file {name} does not exist.")
            )
            continue
        except (json.JSONDecodeError, yaml.YAMLError) as exc:
            problems.append(DefinitionProblem(name, "", f"{path.name} cannot be read: {exc}."))
            continue
        try:
            out += parse_workflows(data, source=name)
        except DefinitionError as exc:
            problems += exc.problems
    seen: dict[str, str | None] = {}
    for wf in out:
        if wf.slug in seen:
            problems.append(
                DefinitionProblem(
                    wf.source,
                    "/slug",
                    f"Workflow slug '{wf.slug}' is defined twice (also in {seen[wf.slug]}).",
                    hint="give each workflow its own slug",
                )
            )
        seen[wf.slug] = wf.source
    if problems:
        raise WorkflowDefinitionError(problems)
    return out


def parse_workflows(data: Any, *, source: str | None = None) -> list[Workflow]:
    """Validate parsed data (one workflow or ``workflows: [...]``) into workflows."""
    if not isinstance(data, Mapping):
        got = "an empty file" if data is None else f"{type(data).__name__}"
        raise WorkflowDefinitionError(
            [
                DefinitionProblem(
                    source,
                    "",
                    "A workflow file must be a mapping with 'workflows:' (a list) or 'slug:' "
                    f"(one workflow). Got {got} instead.",
                )
            ]
        )
    single = "workflows" not in data
    model: type[BaseModel] = Workflow if single else WorkflowFile
    try:
        parsed = model.model_validate(data)
    except pydantic.ValidationError as exc:
        raise WorkflowDefinitionError(_translate(exc, data, model, source)) from None
    found = [parsed] if single else list(parsed.workflows)  # type: ignore[attr-defined]
    for i, wf in enumerate(found):
        wf._source = source
        wf._pointer = "" if single else f"/workflows/{i}"
    return found


class WorkflowDefinitionError(DefinitionError):
    """Workflow files were refused; carries every problem found (file, JSON pointer, names)."""

    type_name = "workflow_definition_error"

    def __init__(self, problems: Iterable[DefinitionProblem]) -> None:
        super().__init__(list(problems))
        if len(self.problems) > 1:
            self.message = self.message.replace(
                "problems in segment definitions:", "problems in workflow definitions:", 1
            )
            self.args = (self.render(),)


def _explain_own(err: Mapping) -> tuple[str, list[str], str | None] | None:
    """Messages for the error kinds workflows add (unknown trigger or action keys)."""
    kind = err["type"]
    if kind not in ("unknown_trigger", "unknown_action"):
        return None
    keys = TRIGGER_KEYS if kind == "unknown_trigger" else ACTION_KEYS
    value = err.get("input")
    given = list(value) if isinstance(value, Mapping) else []
    sugg = sorted({m for k in given for m in close_matches(str(k), keys, n=1)})
    what = "A trigger" if kind == "unknown_trigger" else "An action"
    got = "keys " + ", ".join(f"'{k}'" for k in given) if given else repr(value)
    message = f"{what} must have one of the keys {', '.join(keys)}. Got {got} instead."
    return message, sugg, "see docs/workflows.md"


def _translate(
    exc: pydantic.ValidationError, data: Any, root: type[BaseModel], source: str | None
) -> list[DefinitionProblem]:
    """Pydantic errors → problems with file, JSON pointer and close names (rules' helpers)."""
    return translate_errors(
        exc,
        data,
        root,
        source,
        tags=_MODELS,
        explain=_explain_own,
        name_of=_slug_of,
        label="Workflow",
    )


def _slug_of(data: Any, parts: list) -> str | None:
    if isinstance(data, Mapping) and isinstance(data.get("slug"), str):
        return data["slug"]
    if len(parts) >= 2 and parts[0] == "workflows" and isinstance(parts[1], int):
        try:
            item = data["workflows"][parts[1]]
        except (KeyError, IndexError, TypeError):
            return None
        if isinstance(item, Mapping) and isinstance(item.get("slug"), str):
            return item["slug"]
    return None


# -- webhooks --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Delivery:
    """One try of a webhook: accepted (2xx) or not, the status and the reason."""

    ok: bool
    status: int | None = None
    error: str | None = None


def deliver(
    url: str,
    body: bytes,
    secret: str,
    *,
    timeout: float = 10.0,
    client: httpx.Client | None = None,
) -> Delivery:
    """POST ``body`` signed with ``secret`` (``X-Segmint-Signature: t=…,v1=…``); one try.

    >>> deliver("ftp://x", b"{}", "s").error  # doctest: +ELLIPSIS
    'the webhook URL must start with http:// or https://...'
    """
    if not url.startswith(("http://", "https://")):
        return Delivery(False, None, f"the webhook URL must start with http:// or https://: {url}")
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        SIGNATURE_HEADER: signature_header(body, secret),
        "User-Agent": "segmint-workflows",
    }
    own = client is None
    http = client or httpx.Client(timeout=timeout, follow_redirects=False)
    try:
        resp = http.post(url, content=body, headers=headers)
    except httpx.HTTPError as exc:
        return Delivery(False, None, f"{type(exc).__name__}: {exc}")
    finally:
        if own:
            http.close()
    if 200 <= resp.status_code < 300:
        return Delivery(True, resp.status_code)
    return Delivery(False, resp.status_code, f"the webhook answered HTTP {resp.status_code}")


def backoff(tries_done: int, base: float, cap: float) -> float:
    """Seconds to wait before the next try: ``base · 2^(tries_done − 1)``, at most ``cap``.

    >>> [backoff(n, 2.0, 30.0) for n in (1, 2, 3, 4, 5)]
    [2.0, 4.0, 8.0, 16.0, 30.0]
    """
    return min(cap, base * 2 ** max(tries_done - 1, 0))


def webhook_body(
    workflow: str, run_id: str, trigger: str, customer_id: str | None, at: datetime, profile: dict
) -> bytes:
    """The JSON body of a workflow webhook (UTF-8; keys sorted, so signatures are stable)."""
    data = {
        "workflow": workflow,
        "run_id": run_id,
        "trigger": trigger,
        "customer_id": customer_id,
        "at": at.isoformat(),
        "profile": profile,
    }
    return json.dumps(data, ensure_ascii=False, sort_keys=True, default=str).encode("utf-8")


def check_secret(secret: str | None) -> str:
    """The webhook secret, or an error that says where to set it."""
    if not secret:
        raise ValidationError(
            "Workflow webhooks need a secret to sign their bodies.",
            hint="set workflows.webhook_secret in segmint.yaml (e.g. env:SEGMINT_WORKFLOW_SECRET).",
        )
    return secret
