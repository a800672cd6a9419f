"""What a definition uses: profile fields, trait keys, events, metrics (layer 3, pure Python).

Walks resolved condition trees (:mod:`segmint.rules.resolve`) and follows ``in_segment``
references, so a segment built on another one uses that one's fields too. Profile fields are
named as in definitions: a column (``country``) or a key of the traits JSON (``traits.income``).

Example:
    >>> from segmint.rules import resolve
    >>> r = resolve({"slug": "hk_women", "title_en": "HK women", "title_zh_hant": "香港女性",
    ...     "owner": "crm", "reviewed_on": "2026-01-01", "where": {"all": [
    ...         {"field": "country", "op": "eq", "value": "HK"},
    ...         {"field": "traits.income_band", "op": "eq", "value": "60k+"},
    ...         {"performed": "Product Viewed", "within_last": {"days": 30}}]}})
    >>> u = used_fields(r["hk_women"])
    >>> sorted(u.profile), sorted(u.events)
    (['country', 'traits.income_band'], ['Product Viewed'])
    >>> is_demographic_only(r["hk_women"], ["gender", "traits.income_band"])
    False
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from segmint.rules.resolve import (
    FieldRef,
    RActivity,
    RAll,
    RAnniversary,
    RAny,
    RCompare,
    RConsent,
    ResolvedSegment,
    RInSegment,
    RMetric,
    RNode,
    RNot,
    RSample,
    RSequence,
    RTag,
)
from segmint.schema import PROFILE_FIELDS

__all__ = ["FieldUse", "is_demographic_only", "leaves", "template_fields", "used_fields"]


@dataclass
class FieldUse:
    """Names a definition refers to, by kind (each a set)."""

    #: profile columns and ``traits.<key>`` names
    profile: set[str] = field(default_factory=set)
    #: event names (``None`` in a leaf means any event and adds nothing)
    events: set[str] = field(default_factory=set)
    #: ``events.<column>`` and ``properties.<key>`` used in event filters and measures
    event_fields: set[str] = field(default_factory=set)
    #: ``orders.<column>`` used in order filters and measures
    order_fields: set[str] = field(default_factory=set)
    #: ``<provider>.<column>`` of computed metrics
    metrics: set[str] = field(default_factory=set)
    tags: set[str] = field(default_factory=set)

    def update(self, other: FieldUse) -> FieldUse:
        for name in ("profile", "events", "event_fields", "order_fields", "metrics", "tags"):
            getattr(self, name).update(getattr(other, name))
        return self


def _name(ref: FieldRef) -> str:
    """``country``, ``traits.income_band`` (first key only), ``properties.category``."""
    return f"{ref.column}.{ref.path[0]}" if ref.path else ref.column


def _sub(node: RNode) -> tuple[RNode, ...]:
    if isinstance(node, RAll | RAny):
        return node.children
    if isinstance(node, RNot):
        return (node.child,)
    return ()


def leaves(segment: ResolvedSegment, *, follow: bool = True) -> Iterator[RNode]:
    """Every leaf of ``segment``'s tree; with ``follow``, the leaves of referenced segments
    instead of the ``in_segment`` leaves themselves (each segment visited once)."""
    seen: set[str] = {segment.slug}

    def walk(node: RNode) -> Iterator[RNode]:
        kids = _sub(node)
        if kids:
            for k in kids:
                yield from walk(k)
        elif follow and isinstance(node, RInSegment) and node.segment is not None:
            if node.slug not in seen:
                seen.add(node.slug)
                yield from walk(node.segment.where)
        else:
            yield node

    yield from walk(segment.where)


def _filters(use: FieldUse, table: str, filters: Iterable[RCompare]) -> None:
    target = use.event_fields if table == "events" else use.order_fields
    for f in filters:
        target.add(_name(f.field) if f.field.path else f"{table}.{f.field.column}")


def used_fields(segment: ResolvedSegment, *, follow: bool = True) -> FieldUse:
    """The fields, events, metrics and tags ``segment`` uses (through references if ``follow``).

    Consent leaves use ``consent_<channel>`` and ``consent_<channel>_at``; birthdays use
    ``birth_date``, signup anniversaries ``created_at``.
    """
    use = FieldUse()
    for leaf in leaves(segment, follow=follow):
        if isinstance(leaf, RCompare):
            use.profile.add(_name(leaf.field))
        elif isinstance(leaf, RActivity):
            if leaf.table == "events" and leaf.names:
                use.events.update(leaf.names)
            _filters(use, leaf.table, leaf.filters)
            if leaf.of is not None:
                _filters(use, leaf.table, [RCompare(leaf.of, "exists")])
        elif isinstance(leaf, RSequence):
            for step in (leaf.first, leaf.then):
                use.events.update(step.names or ())
                _filters(use, "events", step.filters)
        elif isinstance(leaf, RMetric):
            use.metrics.add(f"{leaf.provider}.{leaf.compare.field.column}")
        elif isinstance(leaf, RConsent):
            use.profile.update({f"consent_{leaf.channel}", f"consent_{leaf.channel}_at"})
        elif isinstance(leaf, RAnniversary):
            use.profile.add(leaf.column)
        elif isinstance(leaf, RTag):
            use.tags.add(leaf.tag)
    return use


def _demographic(name: str, fields: frozenset[str]) -> bool:
    return name in fields or name.split(".")[0] in fields


def is_demographic_only(segment: ResolvedSegment, demographic_fields: Iterable[str]) -> bool:
    """True when every leaf (following references; random ``sample`` leaves aside) compares a
    profile field listed in ``demographic_fields`` — e.g. gender and age only, nothing about
    what the customer does. Birthday anniversaries count as occasions, not demographics.
    """
    fields = frozenset(demographic_fields)
    found = False
    for leaf in leaves(segment):
        if isinstance(leaf, RSample):
            continue
        if not isinstance(leaf, RCompare) or not _demographic(_name(leaf.field), fields):
            return False
        found = True
    return found


_BLOCK_RE = re.compile(r"\{\{(.*?)\}\}|\{%(.*?)%\}", re.DOTALL)
_NAME_RE = re.compile(r"(?<![\w.'\"])[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*")
_PROFILE = frozenset(PROFILE_FIELDS)


def template_fields(texts: Iterable[str]) -> set[str]:
    """Profile fields that message templates (Jinja-style text) refer to.

    Looks inside ``{{ … }}`` and ``{% … %}`` for names: a profile column (``first_name``,
    ``customer.first_name``) or a traits key (``traits.interests``, ``profile.traits.interests``).
    Text in quotes and names that are no profile field (filters, loop variables) are ignored.

    >>> sorted(template_fields(["Hi {{ first_name | title }}, {% if traits.vip %}VIP{% endif %}",
    ...                         "{{ customer.city }} {{ 'email' }}"]))
    ['city', 'first_name', 'traits.vip']
    """
    found: set[str] = set()
    for text in texts:
        for m in _BLOCK_RE.finditer(text):
            block = re.sub(r"'[^']*'|\"[^\"]*\"", " ", m.group(1) or m.group(2) or "")
            for name in _NAME_RE.findall(block):
                parts = name.split(".")
                for i, part in enumerate(parts):
                    if part == "traits" and i + 1 < len(parts):
                        found.add(f"traits.{parts[i + 1]}")
                        break
                    if part in _PROFILE and part != "traits":
                        found.add(part)
                        break
    return found
