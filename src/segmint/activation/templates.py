"""Message templates: personalised broadcast texts rendered in a sandbox (layer 3, pure).

A template is Jinja2 text with personalisation fields (:data:`FIELDS`)::

    Hi {{ first_name | default("friend") }}, your {{ points }} points are waiting.
    Show code {{ offer_code }} in store.

Safety. Templates are written by marketers and rendered for thousands of people, so they run
in Jinja2's ``ImmutableSandboxedEnvironment`` with no globals (no ``range``, ``lipsum``,
``namespace``…), no loader (no ``include`` / ``import`` / ``extends``), and the output is
plain text (autoescape off: the message is not HTML). Reaching into Python internals —
``{{ ''.__class__.__mro__ }}``, ``{{ first_name['__class__'] }}``,
``{{ first_name|attr('__class__') }}`` — is refused **up front** by :func:`compile_template`
(a ``ValidationError`` naming the attribute and the line), and the sandbox refuses anything
that slips past at render time. Repeating text (``'x' * 10**9``) is capped.

Missing values. A field that is empty for a recipient is *undefined* in the template, so
``{{ first_name | default("friend") }}`` works as written; a ``fallbacks:`` mapping
(``{"first_name": "friend"}``) fills fields for every template of a campaign. A field that is
empty, has no fallback and is printed anyway makes that recipient **fail** with a reason
("the field 'first_name' is empty for this recipient and has no fallback") — it is never sent
as "Hi ," and never dropped silently. ``{% if points %}`` is allowed on a missing field.

Validation up front (:func:`compile_template`): syntax errors give the line; unknown fields give
"did you mean" against :data:`FIELDS`; fallbacks must name known fields.

Languages: a variant has one template per language (``en``, ``zh-Hant``); a recipient gets the
template of their profile language (any ``zh…`` → ``zh-Hant``, anything else → ``en``) and the
other one when theirs is missing.

Example:
    >>> t = compile_template("Hi {{ first_name | default('friend') }}! {{ points }} pts")
    >>> t.render({"first_name": "Ann", "points": 120.0})
    'Hi Ann! 120 pts'
    >>> t.render({"points": 5})
    'Hi friend! 5 pts'
    >>> compile_template("{{ ''.__class__.__mro__ }}")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    segmint.errors.ValidationError: The template may not use '__class__', '__mro__': ...
"""

from __future__ import annotations

import math
import operator
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from jinja2 import TemplateSyntaxError, Undefined, meta, nodes
from jinja2.exceptions import SecurityError, UndefinedError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from segmint.errors import ValidationError, close_matches

__all__ = [
    "FIELDS",
    "LANGUAGES",
    "MAX_LENGTH",
    "CompiledTemplate",
    "RenderFailure",
    "RenderResult",
    "compile_template",
    "compile_templates",
    "message_language",
    "render_all",
]

#: Personalisation fields a template may use, with what they hold.
FIELDS: dict[str, str] = {
    "customer_id": "the customer id",
    "first_name": "first name",
    "last_name": "last name",
    "name": "full name",
    "city": "city",
    "country": "country code, e.g. HK",
    "language": "profile language",
    "last_product": "product id of the most expensive item of the latest order",
    "last_order_date": "day of the latest order (YYYY-MM-DD)",
    "favourite_category": "category bought most often (by quantity)",
    "points": "loyalty points (profile trait 'points')",
    "rfm_segment": "RFM segment title in the recipient's language, e.g. Champions / 冠軍客戶",
    "persona": "persona name in the recipient's language (after `segmint personas --save`)",
    "offer_code": "the recipient's unique offer code (campaigns with offer codes)",
    "campaign": "the campaign name",
}
#: Template languages; recipients' profile languages map onto these.
LANGUAGES = ("en", "zh-Hant")
#: Longest message per channel (characters); longer renders fail for that recipient.
MAX_LENGTH = {"whatsapp": 4096, "sms": 1600, "email": 100_000}
#: Longest text ``*`` may build (``'x' * n``) and largest power ``**`` may raise to.
_MAX_REPEAT = 10_000
_MAX_EXPONENT = 100


class _Missing(Undefined):
    """An empty field: false in ``{% if %}``, replaced by ``default()``, an error when printed."""

    __slots__ = ()

    def _fail_with_undefined_error(self, *args: Any, **kwargs: Any):
        if self._undefined_exception is SecurityError:  # the sandbox refused an attribute
            raise SecurityError(str(self._undefined_hint or "unsafe access"))
        name = self._undefined_name
        if name in FIELDS:
            raise UndefinedError(
                f"the field '{name}' is empty for this recipient and has no fallback"
            )
        raise UndefinedError(f"'{name}' is not available here")

    __str__ = __iter__ = __len__ = _fail_with_undefined_error  # type: ignore[assignment]
    __add__ = __radd__ = __mul__ = __rmul__ = _fail_with_undefined_error  # type: ignore


class _Sandbox(ImmutableSandboxedEnvironment):
    """The sandbox of message templates (see the module docstring)."""

    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context: Any, op: str, left: Any, right: Any) -> Any:
        if op == "**":
            if isinstance(right, int | float) and abs(right) > _MAX_EXPONENT:
                raise SecurityError(f"the power {right} is larger than {_MAX_EXPONENT}")
            return operator.pow(left, right)
        for seq, times in ((left, right), (right, left)):
            repeated = isinstance(seq, str | list | tuple) and isinstance(times, int)
            if repeated and len(seq) * max(times, 0) > _MAX_REPEAT:
                raise SecurityError(f"the text would be longer than {_MAX_REPEAT:,} characters")
        return operator.mul(left, right)


def _environment() -> _Sandbox:
    env = _Sandbox(autoescape=False, undefined=_Missing, keep_trailing_newline=False)
    env.globals.clear()  # no range / lipsum / cycler / joiner / namespace / dict
    return env


_ENV = _environment()
_NO_NESTING = (nodes.Extends, nodes.Include, nodes.Import, nodes.FromImport)
#: Filters whose text arguments name attributes.
_ATTRIBUTE_FILTERS = frozenset(
    {
        "attr",
        "map",
        "sort",
        "groupby",
        "selectattr",
        "rejectattr",
        "sum",
        "min",
        "max",
        "unique",
        "dictsort",
    }
)
#: Names Jinja gives every template that are not fields (``self`` reaches the template object).
_SPECIAL_NAMES = frozenset({"self", "caller", "varargs", "kwargs"})


@dataclass(frozen=True)
class RenderFailure:
    """A recipient whose message could not be rendered, and why."""

    customer_id: str
    reason: str
    language: str | None = None
    variant: str | None = None

    def render(self) -> str:
        where = f" (variant {self.variant}, {self.language})" if self.variant else ""
        return f"{self.customer_id}{where}: {self.reason}"


@dataclass(frozen=True)
class CompiledTemplate:
    """A checked template, ready to render (see :func:`compile_template`)."""

    source: str
    fields: frozenset[str]
    fallbacks: Mapping[str, Any]
    max_length: int
    _template: Any = field(repr=False, compare=False)

    def render(self, values: Mapping[str, Any]) -> str:
        """The message for one recipient; raises ``ValidationError`` with the reason on failure.

        Empty values (``None``, NaN, blank text) become the fallback or stay undefined.
        """
        context = {}
        for name in self.fields:
            value = _clean(values.get(name))
            if value is None:
                value = self.fallbacks.get(name)
            if value is not None:
                context[name] = value
        try:
            text = self._template.render(context)
        except UndefinedError as exc:
            raise ValidationError(str(exc)) from None
        except SecurityError as exc:
            raise ValidationError(f"the sandbox refused the template: {exc}") from None
        except Exception as exc:  # a template error for this recipient's values (e.g. 1 / 0)
            raise ValidationError(f"{type(exc).__name__}: {exc}") from None
        text = text.strip()
        if not text:
            raise ValidationError("the message is empty for this recipient")
        if len(text) > self.max_length:
            raise ValidationError(
                f"the message has {len(text):,} characters, more than the {self.max_length:,} "
                "the channel accepts"
            )
        return text


def compile_template(
    source: str,
    *,
    fallbacks: Mapping[str, Any] | None = None,
    fields: Iterable[str] = FIELDS,
    channel: str = "whatsapp",
    where: str = "template",
) -> CompiledTemplate:
    """Parse and check ``source`` once: syntax, internals, unknown fields, fallbacks.

    ``where`` names the template in errors (e.g. ``campaign.yaml, /variants/0/templates/en``).

    >>> compile_template("Hi {{ frist_name }}")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    segmint.errors.ValidationError: The template uses the unknown field 'frist_name'. \
Did you mean 'first_name', 'last_name'? (template, line 1) Hint: the fields are ...
    """
    if not isinstance(source, str) or not source.strip():
        raise ValidationError(
            f"A message template must be non-empty text. Got {source!r} instead.",
            location=where,
            hint="e.g. 'Hi {{ first_name | default(\"friend\") }}, …'",
        )
    known = tuple(fields)
    try:
        tree = _ENV.parse(source)
    except TemplateSyntaxError as exc:
        raise ValidationError(
            f"The template has a syntax error: {exc.message}.",
            location=f"{where}, line {exc.lineno}",
            hint="fields are written {{ first_name }}, blocks {% if points %}…{% endif %}.",
        ) from None
    _refuse_internals(tree, known, where)
    used = meta.find_undeclared_variables(tree)
    unknown = sorted(used - set(known))
    if unknown:
        first = unknown[0]
        more = f" (and {', '.join(repr(u) for u in unknown[1:])})" if len(unknown) > 1 else ""
        raise ValidationError(
            f"The template uses the unknown field '{first}'{more}.",
            location=f"{where}, line {_line_of(tree, first)}",
            suggestions=close_matches(first, known),
            hint=f"the fields are {', '.join(known)}.",
        )
    fb = _check_fallbacks(fallbacks or {}, known, where)
    return CompiledTemplate(
        source=source,
        fields=frozenset(known),
        fallbacks=fb,
        max_length=MAX_LENGTH.get(channel, MAX_LENGTH["email"]),
        _template=_ENV.from_string(tree),
    )


def compile_templates(
    templates: Mapping[str, str],
    *,
    fallbacks: Mapping[str, Any] | None = None,
    channel: str = "whatsapp",
    where: str = "templates",
) -> dict[str, CompiledTemplate]:
    """One :func:`compile_template` per language of ``templates`` ({language: text}).

    >>> sorted(compile_templates({"en": "Hi", "zh-Hant": "你好"}))
    ['en', 'zh-Hant']
    """
    if not templates:
        raise ValidationError(
            "A variant needs at least one template.",
            location=where,
            hint="templates: {en: 'Hi {{ first_name }}', zh-Hant: '{{ first_name }} 你好'}",
        )
    out = {}
    for lang, text in templates.items():
        if lang not in LANGUAGES:
            raise ValidationError(
                f"Template languages must be {' or '.join(LANGUAGES)}. Got {lang!r} instead.",
                location=where,
                suggestions=close_matches(str(lang), LANGUAGES),
            )
        out[lang] = compile_template(
            text, fallbacks=fallbacks, channel=channel, where=f"{where}/{lang}"
        )
    return out


def message_language(profile_language: Any, available: Iterable[str] = LANGUAGES) -> str:
    """The template language for a recipient: ``zh…`` → ``zh-Hant``, else ``en``; if that
    template is missing, the first available one.

    >>> message_language("zh-TW"), message_language("EN"), message_language(None)
    ('zh-Hant', 'en', 'en')
    >>> message_language("zh-HK", ["en"])
    'en'
    """
    have = list(available)
    text = str(profile_language or "").strip().lower()
    wanted = "zh-Hant" if text.startswith("zh") else "en"
    return wanted if wanted in have else have[0]


@dataclass
class RenderResult:
    """Messages rendered for many recipients: ``messages`` (customer_id → text) and
    ``failures`` (one :class:`RenderFailure` per recipient that could not be rendered)."""

    messages: dict[str, str] = field(default_factory=dict)
    failures: list[RenderFailure] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures


def render_all(
    templates: Mapping[str, CompiledTemplate],
    recipients: Iterable[Mapping[str, Any]],
    *,
    variant: str | None = None,
) -> RenderResult:
    """Render for every recipient (a mapping with ``customer_id``, ``language`` and the fields);
    a failure for one recipient is recorded with the reason, and the others go on.

    >>> t = compile_templates({"en": "Hi {{ first_name }}"})
    >>> r = render_all(t, [{"customer_id": "a", "first_name": "Ann"}, {"customer_id": "b"}])
    >>> r.messages, [f.render() for f in r.failures]
    ({'a': 'Hi Ann'}, ["b: the field 'first_name' is empty for this recipient and has no fallback"])
    """
    out = RenderResult()
    for row in recipients:
        cid = str(row["customer_id"])
        lang = message_language(row.get("language"), templates)
        try:
            out.messages[cid] = templates[lang].render(row)
        except ValidationError as exc:
            out.failures.append(RenderFailure(cid, exc.message, lang, variant))
    return out


# -- checks ---------------------------------------------------------------------------------------
def _refuse_internals(tree: nodes.Template, known: tuple[str, ...], where: str) -> None:
    refused: dict[str, int] = {}
    for node in tree.find_all((nodes.Getattr, nodes.Getitem, nodes.Filter, nodes.Name)):
        names: list[Any] = []
        if isinstance(node, nodes.Getattr):
            names = [node.attr]
        elif isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const):
            names = [node.arg.value]
        elif isinstance(node, nodes.Filter) and node.name in _ATTRIBUTE_FILTERS:
            args = [*node.args, *(kw.value for kw in node.kwargs)]
            names = [a.value for a in args if isinstance(a, nodes.Const)]
        elif isinstance(node, nodes.Name) and node.name in _SPECIAL_NAMES:
            names = [node.name]
        for name in names:
            if not isinstance(name, str):
                continue
            if name in _SPECIAL_NAMES or name.startswith("_") or "._" in name:
                refused.setdefault(name, node.lineno)
    for node in tree.find_all(_NO_NESTING):
        raise ValidationError(
            "A message template cannot include, import or extend other templates.",
            location=f"{where}, line {node.lineno}",
            hint="write the whole message in one template.",
        )
    if refused:
        names = list(reversed(refused))  # find_all meets a.b.c as c, b, a: report a first
        raise ValidationError(
            f"The template may not use {', '.join(repr(n) for n in names)}: names starting "
            "with '_' (and the template's own 'self') reach into Python internals.",
            location=f"{where}, line {refused[names[0]]}",
            hint=f"use only the personalisation fields ({', '.join(known)}).",
        )


def _check_fallbacks(fallbacks: Mapping[str, Any], known: tuple[str, ...], where: str) -> dict:
    if not isinstance(fallbacks, Mapping):
        raise ValidationError(
            f"fallbacks must be a mapping of field → text. Got {fallbacks!r} instead.",
            location=where,
            hint="fallbacks: {first_name: friend}",
        )
    out = {}
    for name, value in fallbacks.items():
        if name not in known:
            raise ValidationError(
                f"A fallback is given for the unknown field '{name}'.",
                location=f"{where}, fallbacks",
                suggestions=close_matches(str(name), known),
                hint=f"the fields are {', '.join(known)}.",
            )
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            raise ValidationError(
                f"The fallback of '{name}' must be text or a number. Got {value!r} instead.",
                location=f"{where}, fallbacks",
            )
        out[name] = value
    return out


def _line_of(tree: nodes.Template, name: str) -> int:
    for node in tree.find_all(nodes.Name):
        if node.name == name:
            return node.lineno
    return 1


def _clean(value: Any) -> Any:
    """None for empty values; whole floats as ints (``120.0`` points read ``120``)."""
    if value is None:
        return None
    if isinstance(value, float):
        if math.isnan(value):
            return None
        return int(value) if value.is_integer() else value
    if isinstance(value, str) and not value.strip():
        return None
    if hasattr(value, "isoformat") and not isinstance(value, str):
        return value.isoformat()[:10] if hasattr(value, "date") else value.isoformat()
    return value
