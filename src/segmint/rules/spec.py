"""Segment definitions as frozen pydantic models: the first of two stages (layer 2).

A definition file (YAML or JSON) holds one :class:`SegmentSet` (``segments: [...]``) or a single
:class:`SegmentSpec`. Conditions form a tree: the combinators ``all`` / ``any`` / ``not``
and leaves, each recognised by its first key (``field``, ``performed``, ``not_performed``,
``ordered``, ``first``, ``in_segment``, ``metric``, ``consent``, ``anniversary``, ``sample``,
``tag``).
Values are plain values (text, numbers, true/false, dates): there is no expression or SQL
string anywhere, so user input can only ever reach an engine as a literal.

This stage checks the shape of a definition only; :func:`segmint.rules.resolve` checks it against
the workspace (fields, types, event names, segment references and cycles).

Example:
    >>> spec = SegmentSpec(
    ...     slug="hk_buyers", title_en="HK buyers", title_zh_hant="香港買家", owner="crm",
    ...     reviewed_on="2025-01-15",
    ...     where=AllOf(all=[
    ...         Compare(field="country", op="eq", value="HK"),
    ...         Performed(performed="Order Completed", within_last=Duration(days=90))]))
    >>> spec.where.all[1].op, spec.where.all[1].value
    ('gte', 1)
"""

from __future__ import annotations

import math
import re
from datetime import date, datetime, timedelta
from typing import Annotated, Any, Literal, Union

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    PrivateAttr,
    Tag,
    TypeAdapter,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from segmint.schema import CONSENT_CHANNELS

__all__ = [
    "AGGREGATE_OPS",
    "COMPARE_OPS",
    "CONDITION_KEYS",
    "MEASURES",
    "AllOf",
    "Anniversary",
    "AnyOf",
    "Compare",
    "Condition",
    "Consent",
    "Duration",
    "EventSequence",
    "HasTag",
    "InSegment",
    "Metric",
    "Not",
    "NotPerformed",
    "Ordered",
    "Performed",
    "Sample",
    "SegmentSet",
    "SegmentSpec",
    "Step",
    "json_schema",
]

#: Operators of a field comparison (trait leaves, event/order filters and metrics).
COMPARE_OPS = (
    "eq",
    "ne",
    "in",
    "not_in",
    "gt",
    "gte",
    "lt",
    "lte",
    "between",
    "contains",
    "starts_with",
    "ends_with",
    "exists",
    "is_null",
    "before",
    "after",
    "within_last",
    "within_next",
)
#: Operators comparing an aggregate (count, sum, …) with a number.
AGGREGATE_OPS = ("eq", "ne", "gt", "gte", "lt", "lte", "between")
#: What a performed/ordered leaf measures over the matching rows of its window.
MEASURES = ("count", "sum", "avg", "min", "max")

CompareOp = Literal[COMPARE_OPS]  # type: ignore[valid-type]
AggregateOp = Literal[AGGREGATE_OPS]  # type: ignore[valid-type]
MeasureName = Literal[MEASURES]  # type: ignore[valid-type]

_NO_VALUE_OPS = frozenset({"exists", "is_null", "within_last", "within_next"})
_LIST_OPS = frozenset({"in", "not_in"})
_DURATION_OPS = frozenset({"within_last", "within_next"})
SLUG_PATTERN = r"^[a-z][a-z0-9_]{0,62}$"
_SLUG_RE = re.compile(SLUG_PATTERN)

#: The reserved name meaning "any event" (``performed: any``) or "any status" (``ordered: any``).
ANY = "any"


# -- plain values ----------------------------------------------------------------------------------
_SCALAR_TYPES = (str, bool, int, float, date)  # datetime is a date


def _scalar(x: Any) -> Any:
    if isinstance(x, float) and not math.isfinite(x):
        raise ValueError(f"a number must be finite. Got {x!r} instead")
    if isinstance(x, _SCALAR_TYPES):
        return x
    raise ValueError(
        "a value must be plain text, a number, true/false or a date. "
        f"Got {type(x).__name__} {x!r} instead"
    )


def _plain_value(v: Any) -> Any:
    """A scalar, or a list of scalars (kept as a tuple so specs stay hashable)."""
    if v is None:
        return None
    if isinstance(v, list | tuple):
        return tuple(_scalar(x) for x in v)
    return _scalar(v)


_SCALAR_SCHEMA = {
    "anyOf": [
        {"type": "string"},
        {"type": "number"},
        {"type": "boolean"},
        {"type": "string", "format": "date"},
        {"type": "string", "format": "date-time"},
    ]
}
Value = Annotated[
    Any,
    AfterValidator(_plain_value),
    WithJsonSchema(
        {
            "anyOf": [*_SCALAR_SCHEMA["anyOf"], {"type": "array", "items": _SCALAR_SCHEMA}],
            "description": "a plain value, or a list of them for in/not_in/between",
        }
    ),
]


def _names(v: Any) -> Any:
    """An event name (or order status), or a non-empty list of them."""
    items = list(v) if isinstance(v, list | tuple) else [v]
    if not items:
        raise ValueError("the list of names must not be empty")
    for x in items:
        if not isinstance(x, str) or not x.strip():
            raise ValueError(f"a name must be non-empty text. Got {x!r} instead")
    return tuple(items) if isinstance(v, list | tuple) else v


Names = Annotated[
    Any,
    AfterValidator(_names),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "minLength": 1},
                {"type": "array", "items": {"type": "string", "minLength": 1}, "minItems": 1},
            ]
        }
    ),
]


def _date_or_datetime(v: Any) -> Any:
    if v is None or isinstance(v, date):
        return v
    if isinstance(v, str):
        try:
            return date.fromisoformat(v) if len(v) == 10 else datetime.fromisoformat(v)
        except ValueError:
            pass
    raise ValueError(f"must be a date (YYYY-MM-DD) or a date and time. Got {v!r} instead")


DateOrDatetime = Annotated[
    Any,
    AfterValidator(_date_or_datetime),
    WithJsonSchema(
        {"anyOf": [{"type": "string", "format": "date"}, {"type": "string", "format": "date-time"}]}
    ),
]


# -- building blocks -------------------------------------------------------------------------------
class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Duration(_Model):
    """A length of time: ``{days: 30}``, ``{hours: 24}`` or both (added up).

    >>> Duration(days=1, hours=12).to_timedelta()
    datetime.timedelta(days=1, seconds=43200)
    """

    days: int = Field(0, ge=0, le=36_600)
    hours: int = Field(0, ge=0, le=878_400)

    @model_validator(mode="after")
    def _not_zero(self) -> Duration:
        if self.days == 0 and self.hours == 0:
            raise ValueError("a duration must have days or hours greater than 0")
        return self

    def to_timedelta(self) -> timedelta:
        return timedelta(days=self.days, hours=self.hours)


def _check_compare_value(op: str | None, value: Any) -> Any:
    """Shape rules shared by :class:`Compare` and :class:`Metric` (types are checked later)."""
    if op is None:  # the op itself was invalid; its own error says so
        return value
    if op in _NO_VALUE_OPS:
        if value is not None:
            raise ValueError(f"op '{op}' takes no value. Got {value!r} instead")
    elif value is None:
        raise ValueError(f"op '{op}' needs a value")
    elif op in _LIST_OPS:
        if not isinstance(value, tuple) or not value:
            raise ValueError(f"op '{op}' needs a non-empty list of values. Got {value!r} instead")
    elif op == "between":
        if not isinstance(value, tuple) or len(value) != 2:
            raise ValueError(f"op 'between' needs a list of two values [low, high]. Got {value!r}")
    elif isinstance(value, tuple):
        raise ValueError(f"op '{op}' needs one value, not a list. Got {list(value)!r} instead")
    return value


def _check_compare_duration(op: str | None, days: int | None, hours: int | None) -> None:
    if op is None:
        return
    if op in _DURATION_OPS:
        if not days and not hours:
            raise ValueError(f"op '{op}' needs 'days' or 'hours' greater than 0")
    elif days is not None or hours is not None:
        raise ValueError(f"'days'/'hours' go only with within_last/within_next, not op '{op}'")


class Compare(_Model):
    """A field compared with a plain value: a trait leaf, or a filter of a performed/ordered leaf.

    ``field`` is a column (``country``, ``birth_date``) or a key inside a JSON column
    (``traits.income_band``, ``properties.category``).

    >>> Compare(field="traits.interests", op="contains", value="yoga").op
    'contains'
    """

    field: str = Field(min_length=1)
    op: CompareOp
    value: Value = Field(None, validate_default=True)
    days: int | None = Field(None, ge=0, le=36_600)
    hours: int | None = Field(None, ge=0, le=878_400)

    @field_validator("value")
    @classmethod
    def _value_shape(cls, v: Any, info: ValidationInfo) -> Any:
        return _check_compare_value(info.data.get("op"), v)

    @model_validator(mode="after")
    def _duration_shape(self) -> Any:
        _check_compare_duration(self.op, self.days, self.hours)
        return self

    def duration(self) -> timedelta | None:
        if self.days is None and self.hours is None:
            return None
        return timedelta(days=self.days or 0, hours=self.hours or 0)


class _Window(_Model):
    """Time window of an activity: ``within_last: {days: 30}`` or ``from``/``to`` dates."""

    within_last: Duration | None = None
    from_: DateOrDatetime = Field(None, alias="from")
    to: DateOrDatetime = Field(None, validate_default=True)

    @field_validator("to")
    @classmethod
    def _window_shape(cls, v: Any, info: ValidationInfo) -> Any:
        start = info.data.get("from_")
        if info.data.get("within_last") is not None and (start is not None or v is not None):
            raise ValueError("use either within_last or from/to, not both")
        if start is not None and v is not None and _as_datetime(start) > _as_datetime(v):
            raise ValueError(f"'from' ({start}) must not be after 'to' ({v})")
        return v


def _as_datetime(v: date) -> datetime:
    return v if isinstance(v, datetime) else datetime(v.year, v.month, v.day)


class _Measured(_Window):
    measure: MeasureName = "count"
    of: str | None = Field(None, validate_default=True)
    op: AggregateOp = "gte"
    value: Value = Field(None, validate_default=True)

    @field_validator("of")
    @classmethod
    def _of_shape(cls, v: str | None, info: ValidationInfo) -> str | None:
        measure = info.data.get("measure")
        if measure == "count" and v is not None:
            raise ValueError("'of' goes with sum/avg/min/max, not with count")
        if measure not in (None, "count") and not v:
            raise ValueError(f"measure '{measure}' needs 'of': the number to {measure}")
        return v

    @field_validator("value")
    @classmethod
    def _aggregate_value(cls, v: Any, info: ValidationInfo) -> Any:
        op, measure = info.data.get("op"), info.data.get("measure")
        if v is None:
            if measure == "count" and op == "gte":
                return 1  # "performed at least once"
            if op is not None and measure is not None:
                raise ValueError(f"'{measure} {op}' needs a value")
            return v
        items = v if isinstance(v, tuple) else (v,)
        for x in items:
            if isinstance(x, bool) or not isinstance(x, int | float):
                raise ValueError(f"an aggregate is compared with numbers. Got {x!r} instead")
        if op == "between" and len(items) != 2:
            raise ValueError(f"op 'between' needs a list of two numbers [low, high]. Got {v!r}")
        if op not in (None, "between") and isinstance(v, tuple):
            raise ValueError(f"op '{op}' needs one number, not a list. Got {list(v)!r} instead")
        return v


class Performed(_Measured):
    """Performed an event (``performed: Order Completed``, or a list, or ``any``).

    By default "at least once, ever": ``measure: count, op: gte, value: 1``. ``where`` filters the
    events (all must hold); ``measure``/``of``/``op``/``value`` compare an aggregate over them.

    >>> Performed(performed=["Product Viewed"], within_last={"days": 7}, op="gte", value=3).value
    3
    """

    performed: Names
    where: tuple[Compare, ...] = ()


class Ordered(_Measured):
    """Placed orders (``ordered: completed``, a list of statuses, or ``any``), from ``orders``.

    >>> Ordered(ordered="completed", measure="sum", of="amount", op="gte", value=5000).of
    'amount'
    """

    ordered: Names
    where: tuple[Compare, ...] = ()


class NotPerformed(_Window):
    """Did not perform an event in the window (``not_performed: Order Completed``)."""

    not_performed: Names
    where: tuple[Compare, ...] = ()


class Step(_Model):
    """One step of a sequence: an event name (or list) and its property filters."""

    performed: Names
    where: tuple[Compare, ...] = ()


class EventSequence(_Window):
    """``first`` A, ``then`` B within T — or ``then_not`` B within T (abandoned cart).

    The window (``within_last`` / ``from`` / ``to``) applies to the first step.

    >>> s = EventSequence(first=Step(performed="Checkout Started"),
    ...              then_not=Step(performed="Order Completed"), within=Duration(hours=24))
    >>> s.then is None
    True
    """

    first: Step
    then: Step | None = None
    then_not: Step | None = Field(None, validate_default=True)
    within: Duration

    @field_validator("then_not")
    @classmethod
    def _one_then(cls, v: Step | None, info: ValidationInfo) -> Step | None:
        if (v is None) == (info.data.get("then") is None):
            raise ValueError("a sequence needs exactly one of 'then' or 'then_not'")
        return v


class InSegment(_Model):
    """Member of another segment (``in_segment: vip``); cycles are refused."""

    in_segment: str = Field(min_length=1)


class Metric(_Model):
    """A computed metric compared with a value (``metric: rfm.segment``, ``op: eq``, ...).

    The metric is ``<provider>.<column>`` of a table keyed by customer_id that the workspace
    supplies (RFM, ABC class; later CLV, p_alive, cluster).
    """

    metric: str = Field(min_length=1)
    op: CompareOp
    value: Value = Field(None, validate_default=True)
    days: int | None = Field(None, ge=0, le=36_600)
    hours: int | None = Field(None, ge=0, le=878_400)

    @field_validator("value")
    @classmethod
    def _value_shape(cls, v: Any, info: ValidationInfo) -> Any:
        return _check_compare_value(info.data.get("op"), v)

    @model_validator(mode="after")
    def _duration_shape(self) -> Any:
        _check_compare_duration(self.op, self.days, self.hours)
        return self


class Consent(_Model):
    """Consent for a channel is given and current (optionally given within a recent period)."""

    consent: Literal[CONSENT_CHANNELS]  # type: ignore[valid-type]
    given_within_last: Duration | None = None


class Anniversary(_Model):
    """Birthday or signup anniversary from today through the next ``within_next_days`` days."""

    anniversary: Literal["birthday", "signup"]
    within_next_days: int = Field(0, ge=0, le=365)


class Sample(_Model):
    """A stable pseudo-random ``sample`` percent of customers (hash of salt and customer_id).

    The salt defaults to the segment's slug; use the same salt to get the same customers.
    """

    sample: float = Field(gt=0, le=100)
    salt: str | None = None


class HasTag(_Model):
    """Carries a tag (manual or added by a rule)."""

    tag: str = Field(min_length=1)


class AllOf(_Model):
    """Every condition holds (``all: [...]``)."""

    all: tuple[Condition, ...] = Field(min_length=1)


class AnyOf(_Model):
    """At least one condition holds (``any: [...]``)."""

    any: tuple[Condition, ...] = Field(min_length=1)


class Not(_Model):
    """The condition does not hold (``not: {...}``)."""

    not_: Condition = Field(alias="not")


#: first key of a condition → its model. The order decides when several keys are present.
_KINDS: tuple[tuple[str, type[_Model]], ...] = (
    ("all", AllOf),
    ("any", AnyOf),
    ("not", Not),
    ("field", Compare),
    ("performed", Performed),
    ("not_performed", NotPerformed),
    ("ordered", Ordered),
    ("first", EventSequence),
    ("in_segment", InSegment),
    ("metric", Metric),
    ("consent", Consent),
    ("anniversary", Anniversary),
    ("sample", Sample),
    ("tag", HasTag),
)
#: The keys that say which kind a condition is.
CONDITION_KEYS: tuple[str, ...] = tuple(k for k, _ in _KINDS)
CONDITION_TAGS: frozenset[str] = frozenset(m.__name__ for _, m in _KINDS)


def _condition_kind(v: Any) -> str | None:
    if isinstance(v, dict):
        for key, model in _KINDS:
            if key in v:
                return model.__name__
        return None
    name = type(v).__name__
    return name if name in CONDITION_TAGS else None


Condition = Annotated[
    Union[tuple(Annotated[m, Tag(m.__name__)] for _, m in _KINDS)],  # noqa: UP007
    Discriminator(
        _condition_kind,
        custom_error_type="unknown_condition",
        custom_error_message="a condition must start with one of: " + ", ".join(CONDITION_KEYS),
    ),
]

for _, _model in _KINDS:
    _model.model_rebuild()


# -- segments and sets -----------------------------------------------------------------------------
class SegmentSpec(_Model):
    """One segment: who, in words and as a condition tree, and who answers for it.

    >>> SegmentSpec.model_validate({"slug": "vip", "title_en": "VIP", "title_zh_hant": "貴賓",
    ...     "owner": "crm", "reviewed_on": "2025-01-15", "where": {"tag": "vip"}}).where
    HasTag(tag='vip')
    """

    slug: str = Field(pattern=SLUG_PATTERN, description="lower_snake_case identifier")
    title_en: str = Field(min_length=1)
    title_zh_hant: str = Field(min_length=1)
    description: str = ""
    owner: str = Field(min_length=1)
    reviewed_on: date = Field(description="when the definition was last re-examined")
    where: Condition
    tags_add: tuple[str, ...] = Field((), description="tags given to members (auto-tags)")
    tags_remove: tuple[str, ...] = Field((), description="tags taken from members (auto-tags)")


class SegmentSet(_Model):
    """Segments defined together; ``exclusive`` puts each customer in at most one of them.

    With ``exclusive: true`` a customer matching several segments lands in the first one of
    ``priorities`` (slugs, highest first); segments not listed follow in file order.
    """

    version: Literal[1] = 1
    segments: tuple[SegmentSpec, ...] = Field(min_length=1)
    exclusive: bool = False
    priorities: tuple[str, ...] = ()

    _source: str | None = PrivateAttr(None)
    _single: bool = PrivateAttr(False)

    def __eq__(self, other: object) -> bool:  # where a set was read from is not part of it
        if not isinstance(other, SegmentSet):
            return NotImplemented
        return self.__dict__ == other.__dict__

    __hash__ = _Model.__hash__

    @property
    def source(self) -> str | None:
        """The file this set was read from, if any."""
        return self._source

    def ordered_slugs(self) -> tuple[str, ...]:
        """Slugs by priority (highest first): ``priorities``, then the rest in file order."""
        listed = [s for s in self.priorities if any(x.slug == s for x in self.segments)]
        return tuple(listed + [x.slug for x in self.segments if x.slug not in listed])


_FILE_ADAPTER: TypeAdapter = TypeAdapter(SegmentSet | SegmentSpec)


def json_schema() -> dict:
    """JSON Schema of a definition file (a segment set or a single segment), for editors and UIs.

    >>> sorted(json_schema()["$defs"])[:3]
    ['AllOf', 'Anniversary', 'AnyOf']
    """
    schema = _FILE_ADAPTER.json_schema(by_alias=True)
    schema["title"] = "segmint segment definitions"
    return schema


def is_slug(text: str) -> bool:
    """True when ``text`` is a valid segment slug (``lower_snake_case``)."""
    return bool(_SLUG_RE.match(text))
