"""The visual segment builder: form fields ↔ a segment definition's ``where`` tree (pure).

The builder's state is the definition itself: the page renders a ``where`` tree (the same data
a YAML file holds) as nested form controls, and every request posts the controls back. Each
condition has an id made of child positions (``n``, ``n.0``, ``n.0.2``) and its controls are
named ``<id>.<param>`` (``n.0.field``, ``n.0.op``, ``n.0.value``); property filters of an
activity are ``<id>.fa<j>.<param>`` (``fb`` for the second step of a sequence).

:func:`where_from_form` turns the posted controls into plain definition data (values converted
by the type of the field they are compared with; anything odd is kept as typed, so
:func:`segmint.rules.resolve` reports it at its JSON pointer instead of the builder guessing),
:func:`apply_action` adds, removes or wraps conditions, :func:`problems_by_node` puts each
resolve problem on the condition its pointer points into. Nothing here runs a query or builds
SQL: the result goes through ``parse → resolve → compile`` like any definition file.

Example:
    >>> form = {"n.kind": "all", "n.0.kind": "trait", "n.0.field": "country",
    ...         "n.0.op": "eq", "n.0.value": "HK"}
    >>> where_from_form(form, FieldKinds())
    {'all': [{'field': 'country', 'op': 'eq', 'value': 'HK'}]}
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from segmint.errors import DefinitionProblem
from segmint.rules.resolve import OPS_BY_KIND, Catalog, kind_of
from segmint.rules.spec import AGGREGATE_OPS, COMPARE_OPS, MEASURES
from segmint.schema import CONSENT_CHANNELS

__all__ = [
    "GROUP_KINDS",
    "LEAF_KINDS",
    "FieldKinds",
    "Node",
    "apply_action",
    "convert",
    "form_from_where",
    "kind_of_condition",
    "new_condition",
    "node_of_pointer",
    "nodes",
    "normalise",
    "ops_for",
    "problems_by_node",
    "where_from_form",
]

#: Combinators, in the order the builder offers them.
GROUP_KINDS = ("all", "any", "not")
#: Leaf kinds of the builder → the key that starts them in a definition.
LEAF_KINDS: dict[str, str] = {
    "trait": "field",
    "performed": "performed",
    "not_performed": "not_performed",
    "ordered": "ordered",
    "sequence": "first",
    "in_segment": "in_segment",
    "metric": "metric",
    "consent": "consent",
    "anniversary": "anniversary",
    "sample": "sample",
    "tag": "tag",
}
_KIND_OF_KEY = {v: k for k, v in LEAF_KINDS.items()}
_NO_VALUE = frozenset({"exists", "is_null"})
_DURATION = frozenset({"within_last", "within_next"})
_LIST = frozenset({"in", "not_in"})
_MAX_NODES = 200  # a definition a person builds by hand is far smaller
_ID = re.compile(r"^n(\.\d{1,3})*$")


@dataclass(frozen=True)
class FieldKinds:
    """The comparison kind (string, number, boolean, date, timestamp, json) of every field the
    builder offers: profile fields, event and order fields, metrics; from a :class:`Catalog`.

    >>> FieldKinds.from_catalog(Catalog.default()).kind("profiles", "birth_date")
    'date'
    """

    tables: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    metrics: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_catalog(cls, catalog: Catalog) -> FieldKinds:
        tables: dict[str, dict[str, str]] = {}
        for name, schema in catalog.tables.items():
            cols = {}
            for col, dtype in schema.items():
                kind = "json" if catalog.is_json(name, col) else kind_of(dtype)
                if kind is not None:
                    cols[col] = kind
            tables[name] = cols
        metrics = {}
        for provider, schema in catalog.metrics.items():
            for col, dtype in schema.items():
                kind = kind_of(dtype)
                if col != "customer_id" and kind not in (None, "json"):
                    metrics[f"{provider}.{col}"] = kind
        return cls(tables, metrics)

    def kind(self, table: str, name: str) -> str | None:
        """Kind of ``name`` in ``table`` (``traits.x`` → json); None when unknown."""
        cols = self.tables.get(table, {})
        if name in cols:
            return cols[name]
        head, _, rest = name.partition(".")
        if rest and cols.get(head) == "json":
            return "json"
        return None

    def fields(self, table: str) -> list[tuple[str, str]]:
        """(field, kind) of ``table`` without the id and JSON columns themselves."""
        return [
            (c, k)
            for c, k in self.tables.get(table, {}).items()
            if c != "customer_id" and k != "json"
        ]

    def json_columns(self, table: str) -> list[str]:
        return [c for c, k in self.tables.get(table, {}).items() if k == "json"]


def ops_for(kind: str | None) -> tuple[str, ...]:
    """Operators a comparison of ``kind`` accepts, in the order of the spec.

    >>> ops_for("boolean")
    ('eq', 'ne', 'exists', 'is_null')
    """
    if kind is None:
        return COMPARE_OPS
    if kind == "json":
        return tuple(o for o in COMPARE_OPS if o not in ("before", "after", *_DURATION))
    allowed = OPS_BY_KIND.get(kind, frozenset(COMPARE_OPS))
    return tuple(o for o in COMPARE_OPS if o in allowed)


# -- values ----------------------------------------------------------------------------------------
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
_TRUE = {"true", "yes", "y", "1", "是"}
_FALSE = {"false", "no", "n", "0", "否"}


def _number(text: str) -> int | float | None:
    t = text.strip().replace(",", "") if text.count(",") and "." in text else text.strip()
    if not _NUMBER.match(t):
        return None
    value = float(t)
    return int(value) if value.is_integer() and "." not in t and "e" not in t.lower() else value


def convert(text: Any, kind: str | None) -> Any:
    """A typed value for a comparison with a field of ``kind``; text as typed when it does not
    read as that kind (resolve then says what is wrong, at the value's pointer).

    >>> convert("12.5", "number"), convert("yes", "boolean"), convert("'42'", "json")
    (12.5, True, '42')
    """
    if not isinstance(text, str):
        return text
    t = text.strip()
    if kind == "number":
        n = _number(t)
        return t if n is None else n
    if kind == "boolean":
        low = t.lower()
        return True if low in _TRUE else False if low in _FALSE else t
    if kind == "json":
        if len(t) >= 2 and t[0] == t[-1] and t[0] in "'\"":
            return t[1:-1]
        low = t.lower()
        if low in ("true", "false"):
            return low == "true"
        n = _number(t)
        return t if n is None else n
    return t


def _text(value: Any) -> str:
    """A value back as the text of an input."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _int(text: Any) -> Any:
    if text is None or (isinstance(text, str) and not text.strip()):
        return None
    n = _number(str(text))
    return int(n) if isinstance(n, int | float) and float(n).is_integer() else str(text).strip()


def split_list(text: str) -> list[str]:
    """Items of a list input: comma-separated, an item with a comma in double quotes.

    >>> split_list('HK, "Leisure, Travel", TW')
    ['HK', 'Leisure, Travel', 'TW']
    """
    import csv

    rows = list(csv.reader([text], skipinitialspace=True)) if text.strip() else [[]]
    return [x.strip() for x in rows[0] if x.strip()]


def join_list(values: Any) -> str:
    """The text of a list input (inverse of :func:`split_list`).

    >>> join_list(["HK", "Leisure, Travel"])
    'HK, "Leisure, Travel"'
    """
    out = []
    for v in values:
        t = _text(v)
        out.append('"' + t.replace('"', '""') + '"' if ("," in t or '"' in t) else t)
    return ", ".join(out)


def _names(text: str) -> Any:
    """``Product Viewed, Product Added`` → a list; one name stays text."""
    items = split_list(text or "")
    if not items:
        return ""
    return items[0] if len(items) == 1 else items


# -- form → definition -----------------------------------------------------------------------------
def _get(form: Mapping[str, Any], key: str, default: str = "") -> str:
    value = form.get(key, default)
    return value if isinstance(value, str) else default


def _compare_value(
    form: Mapping[str, Any], prefix: str, op: str, kind: str | None, out: dict
) -> None:
    if op in _NO_VALUE:
        return
    if op in _DURATION:
        days, hours = _int(_get(form, f"{prefix}.days")), _int(_get(form, f"{prefix}.hours"))
        if days is not None:
            out["days"] = days
        if hours is not None:
            out["hours"] = hours
        if days is None and hours is None:
            out["days"] = 0  # the spec says "needs days or hours greater than 0" at this node
        return
    raw = _get(form, f"{prefix}.value")
    if op in _LIST:
        out["value"] = [convert(x, kind) for x in split_list(raw)] or raw
    elif op == "between":
        out["value"] = [convert(raw, kind), convert(_get(form, f"{prefix}.value2"), kind)]
    else:
        out["value"] = convert(raw, kind)


def _filters(form: Mapping[str, Any], prefix: str, table: str, kinds: FieldKinds) -> list[dict]:
    out = []
    for j in range(50):
        p = f"{prefix}{j}"
        if f"{p}.field" not in form:
            break
        name = _get(form, f"{p}.field").strip()
        op = _get(form, f"{p}.op", "eq")
        item: dict[str, Any] = {"field": name, "op": op}
        _compare_value(form, p, op, kinds.kind(table, name), item)
        out.append(item)
    return out


def _window(form: Mapping[str, Any], nid: str, out: dict) -> None:
    mode = _get(form, f"{nid}.win", "ever")
    if mode == "last":
        days, hours = _int(_get(form, f"{nid}.win_days")), _int(_get(form, f"{nid}.win_hours"))
        out["within_last"] = {k: v for k, v in (("days", days), ("hours", hours)) if v}
        if not out["within_last"]:
            out["within_last"] = {"days": 0}
    elif mode == "range":
        for key in ("from", "to"):
            text = _get(form, f"{nid}.{key}").strip()
            if text:
                out[key] = text


def _duration(form: Mapping[str, Any], prefix: str) -> dict:
    days, hours = _int(_get(form, f"{prefix}_days")), _int(_get(form, f"{prefix}_hours"))
    out = {k: v for k, v in (("days", days), ("hours", hours)) if v}
    return out or {"days": 0}


def _leaf(form: Mapping[str, Any], nid: str, kind: str, kinds: FieldKinds) -> dict:
    g = lambda k, d="": _get(form, f"{nid}.{k}", d)  # noqa: E731
    if kind == "trait":
        name = g("field").strip()
        op = g("op", "eq")
        out: dict[str, Any] = {"field": name, "op": op}
        _compare_value(form, nid, op, kinds.kind("profiles", name), out)
        return out
    if kind == "metric":
        name = g("metric").strip()
        op = g("op", "eq")
        out = {"metric": name, "op": op}
        # a metric the catalog does not know yet: read the value as a YAML file would
        _compare_value(form, nid, op, kinds.metrics.get(name, "json"), out)
        return out
    if kind in ("performed", "not_performed", "ordered"):
        key = LEAF_KINDS[kind]
        table = "orders" if kind == "ordered" else "events"
        out = {key: _names(g("name"))}
        if kind != "not_performed":
            measure = g("measure", "count")
            out["measure"] = measure
            if measure != "count":
                out["of"] = g("of").strip()
            op = g("aop", "gte")
            out["op"] = op
            if op == "between":
                out["value"] = [convert(g("avalue"), "number"), convert(g("avalue2"), "number")]
            else:
                out["value"] = convert(g("avalue", "1"), "number")
        _window(form, nid, out)
        filters = _filters(form, f"{nid}.fa", table, kinds)
        if filters:
            out["where"] = filters
        return out
    if kind == "sequence":
        first: dict[str, Any] = {"performed": _names(g("name"))}
        second: dict[str, Any] = {"performed": _names(g("then_name"))}
        if fa := _filters(form, f"{nid}.fa", "events", kinds):
            first["where"] = fa
        if fb := _filters(form, f"{nid}.fb", "events", kinds):
            second["where"] = fb
        then_key = "then_not" if g("then_mode", "then") == "then_not" else "then"
        out = {"first": first, then_key: second, "within": _duration(form, f"{nid}.within")}
        _window(form, nid, out)
        return out
    if kind == "in_segment":
        return {"in_segment": g("segment").strip()}
    if kind == "consent":
        out = {"consent": g("channel", CONSENT_CHANNELS[0])}
        days = _int(g("given_days"))
        if days:
            out["given_within_last"] = {"days": days}
        return out
    if kind == "anniversary":
        out = {"anniversary": g("which", "birthday")}
        days = _int(g("within_next_days"))
        if days is not None:
            out["within_next_days"] = days
        return out
    if kind == "sample":
        out = {"sample": convert(g("percent", "10"), "number")}
        if g("salt").strip():
            out["salt"] = g("salt").strip()
        return out
    if kind == "tag":
        return {"tag": g("tag").strip()}
    raise ValueError(f"unknown condition kind {kind!r}")


def where_from_form(form: Mapping[str, Any], kinds: FieldKinds, nid: str = "n") -> dict:
    """The ``where`` tree of the posted builder controls (see the module docstring).

    A group without conditions stays empty (``{'all': []}``): the definition then says that a
    group needs at least one condition, at the group's pointer.
    """
    return _from_form(form, kinds, nid, [0])


def _from_form(form: Mapping[str, Any], kinds: FieldKinds, nid: str, seen: list[int]) -> dict:
    seen[0] += 1
    if seen[0] > _MAX_NODES:
        raise ValueError(f"a definition built here may have at most {_MAX_NODES} conditions")
    kind = _get(form, f"{nid}.kind", "all")
    was = _get(form, f"{nid}.was", kind)
    if was != kind and not {was, kind} <= {"all", "any"}:
        return new_condition(kind, kinds)  # the kind select changed: a fresh condition
    if kind in ("all", "any"):
        kids = []
        for i in range(_MAX_NODES):
            child = f"{nid}.{i}"
            if f"{child}.kind" not in form:
                break
            kids.append(_from_form(form, kinds, child, seen))
        return {kind: kids}
    if kind == "not":
        child = f"{nid}.0"
        inner = _from_form(form, kinds, child, seen) if f"{child}.kind" in form else {"all": []}
        return {"not": inner}
    if kind not in LEAF_KINDS:
        raise ValueError(f"unknown condition kind {kind!r}")
    return _leaf(form, nid, kind, kinds)


def normalise(where: dict, kinds: FieldKinds) -> dict:
    """Give every comparison an operator its field accepts (after the field changed kind);
    changed in place and returned.

    >>> normalise({"field": "birth_date", "op": "contains", "value": "x"}, FieldKinds(
    ...     {"profiles": {"birth_date": "date"}}))["op"]
    'eq'
    """

    def fix(cond: dict, kind: str | None) -> None:
        allowed = ops_for(kind)
        if kind is not None and cond.get("op") not in allowed:
            cond["op"] = allowed[0]
            if cond.get("value") is None:
                cond["value"] = ""

    def walk(cond: Any, table: str = "profiles") -> None:
        if not isinstance(cond, dict):
            return
        for key in ("all", "any"):
            for child in cond.get(key) or ():
                walk(child)
        if "not" in cond:
            walk(cond["not"])
        if "field" in cond and "op" in cond:
            fix(cond, kinds.kind(table, str(cond["field"])))
        if "metric" in cond and "op" in cond:
            fix(cond, kinds.metrics.get(str(cond["metric"])))
        inner = "orders" if "ordered" in cond else "events"
        for f in cond.get("where") or ():
            if isinstance(f, dict) and "field" in f:
                fix(f, kinds.kind(inner, str(f["field"])))
        for step in ("first", "then", "then_not"):
            if isinstance(cond.get(step), dict):
                for f in cond[step].get("where") or ():
                    if isinstance(f, dict) and "field" in f:
                        fix(f, kinds.kind("events", str(f["field"])))

    walk(where)
    return where


# -- definition → form -----------------------------------------------------------------------------
@dataclass
class Node:
    """One condition as the builder renders it: id, pointer, kind, control values, children."""

    id: str
    pointer: str
    kind: str
    values: dict[str, str] = field(default_factory=dict)
    filters: dict[str, list[dict[str, str]]] = field(default_factory=dict)
    children: list[Node] = field(default_factory=list)


def kind_of_condition(cond: Mapping[str, Any]) -> str:
    """The builder kind of a condition mapping (``{'field': …}`` → ``trait``)."""
    for key in ("all", "any", "not"):
        if key in cond:
            return key
    for key, kind in _KIND_OF_KEY.items():
        if key in cond:
            return kind
    raise ValueError(f"not a condition: {sorted(cond)}")


def _compare_values(cond: Mapping[str, Any], name_key: str) -> dict[str, str]:
    out = {name_key: _text(cond.get(name_key)), "op": _text(cond.get("op", "eq"))}
    value = cond.get("value")
    if isinstance(value, list | tuple):
        if out["op"] == "between" and len(value) == 2:
            out["value"], out["value2"] = _text(value[0]), _text(value[1])
        else:
            out["value"] = join_list(value)
    else:
        out["value"] = _text(value)
    out["days"], out["hours"] = _text(cond.get("days")), _text(cond.get("hours"))
    return out


def _filter_rows(items: Any) -> list[dict[str, str]]:
    return [_compare_values(f, "field") for f in (items or ()) if isinstance(f, Mapping)]


def _window_values(cond: Mapping[str, Any]) -> dict[str, str]:
    last = cond.get("within_last")
    if isinstance(last, Mapping):
        return {
            "win": "last",
            "win_days": _text(last.get("days")),
            "win_hours": _text(last.get("hours")),
        }
    if cond.get("from") is not None or cond.get("to") is not None:
        return {"win": "range", "from": _text(cond.get("from")), "to": _text(cond.get("to"))}
    return {"win": "ever"}


def _names_text(value: Any) -> str:
    if isinstance(value, list | tuple):
        return join_list(value)
    return _text(value)


def form_from_where(where: Mapping[str, Any], nid: str = "n", pointer: str = "/where") -> Node:
    """The builder tree of a ``where`` mapping (inverse of :func:`where_from_form`).

    >>> n = form_from_where({"any": [{"tag": "vip"}, {"consent": "email"}]})
    >>> [(c.id, c.pointer, c.kind) for c in n.children]
    [('n.0', '/where/any/0', 'tag'), ('n.1', '/where/any/1', 'consent')]
    """
    kind = kind_of_condition(where)
    node = Node(nid, pointer, kind)
    if kind in ("all", "any"):
        node.children = [
            form_from_where(c, f"{nid}.{i}", f"{pointer}/{kind}/{i}")
            for i, c in enumerate(where[kind] or ())
        ]
        return node
    if kind == "not":
        node.children = [form_from_where(where["not"], f"{nid}.0", f"{pointer}/not")]
        return node
    v: dict[str, str] = {}
    if kind == "trait":
        v = _compare_values(where, "field")
    elif kind == "metric":
        v = _compare_values(where, "metric")
    elif kind in ("performed", "not_performed", "ordered"):
        v["name"] = _names_text(where[LEAF_KINDS[kind]])
        v["measure"] = _text(where.get("measure", "count"))
        v["of"] = _text(where.get("of"))
        value = where.get("value", 1)
        v["aop"] = _text(where.get("op", "gte"))
        if isinstance(value, list | tuple) and len(value) == 2:
            v["avalue"], v["avalue2"] = _text(value[0]), _text(value[1])
        else:
            v["avalue"] = _text(value)
        v.update(_window_values(where))
        node.filters["fa"] = _filter_rows(where.get("where"))
    elif kind == "sequence":
        first = where.get("first") or {}
        then_key = "then_not" if "then_not" in where else "then"
        second = where.get(then_key) or {}
        within = where.get("within") or {}
        v = {
            "name": _names_text(first.get("performed")),
            "then_name": _names_text(second.get("performed")),
            "then_mode": then_key,
            "within_days": _text(within.get("days")),
            "within_hours": _text(within.get("hours")),
            **_window_values(where),
        }
        node.filters["fa"] = _filter_rows(first.get("where"))
        node.filters["fb"] = _filter_rows(second.get("where"))
    elif kind == "in_segment":
        v["segment"] = _text(where["in_segment"])
    elif kind == "consent":
        v["channel"] = _text(where["consent"])
        given = where.get("given_within_last") or {}
        v["given_days"] = _text(given.get("days"))
    elif kind == "anniversary":
        v["which"] = _text(where["anniversary"])
        v["within_next_days"] = _text(where.get("within_next_days", 0))
    elif kind == "sample":
        v["percent"] = _text(where["sample"])
        v["salt"] = _text(where.get("salt"))
    elif kind == "tag":
        v["tag"] = _text(where["tag"])
    node.values = v
    return node


def nodes(root: Node) -> list[Node]:
    """Every node of the tree, depth first."""
    out = [root]
    for c in root.children:
        out += nodes(c)
    return out


# -- structural edits ------------------------------------------------------------------------------
#: A new condition of each kind: valid as it stands, so the count stays live while editing.
def new_condition(kind: str, kinds: FieldKinds | None = None) -> dict:
    """A fresh condition of builder ``kind`` (valid on the canonical tables).

    >>> new_condition("performed")
    {'performed': 'Order Completed', 'within_last': {'days': 90}}
    """
    defaults: dict[str, dict] = {
        "all": {"all": []},
        "any": {"any": []},
        "not": {"not": {"field": "email", "op": "exists"}},
        "trait": {"field": "country", "op": "exists"},
        "performed": {"performed": "Order Completed", "within_last": {"days": 90}},
        "not_performed": {"not_performed": "Order Completed", "within_last": {"days": 90}},
        "ordered": {"ordered": "completed", "measure": "count", "op": "gte", "value": 1},
        "sequence": {
            "first": {"performed": "Checkout Started"},
            "then_not": {"performed": "Order Completed"},
            "within": {"hours": 24},
            "within_last": {"days": 7},
        },
        "in_segment": {"in_segment": "rfm_champions"},
        "metric": {"metric": "rfm.segment", "op": "eq", "value": "champions"},
        "consent": {"consent": "whatsapp"},
        "anniversary": {"anniversary": "birthday", "within_next_days": 30},
        "sample": {"sample": 10},
        "tag": {"tag": "vip"},
    }
    if kind not in defaults:
        raise ValueError(f"unknown condition kind {kind!r}")
    out = dict(defaults[kind])
    if (
        kind == "metric"
        and kinds is not None
        and kinds.metrics
        and "rfm.segment" not in kinds.metrics
    ):
        first = next(iter(kinds.metrics))
        out = {"metric": first, "op": "exists"}
    return out


def _locate(root: dict, nid: str) -> tuple[dict | None, str | None, int | None, dict]:
    """(parent, key in parent, index, node) of node ``nid`` in a ``where`` tree."""
    if not _ID.match(nid):
        raise ValueError(f"not a condition id: {nid!r}")
    parent, key, index, node = None, None, None, root
    for part in nid.split(".")[1:]:
        i = int(part)
        if "not" in node:
            if i != 0:
                raise ValueError(f"no condition {nid!r}")
            parent, key, index, node = node, "not", None, node["not"]
            continue
        k = "all" if "all" in node else "any" if "any" in node else None
        if k is None or i >= len(node[k]):
            raise ValueError(f"no condition {nid!r}")
        parent, key, index, node = node, k, i, node[k][i]
    return parent, key, index, node


def _replace(root: dict, nid: str, new: dict) -> dict:
    parent, key, index, _node = _locate(root, nid)
    if parent is None:
        return new
    if index is None:
        parent[key] = new  # type: ignore[index]
    else:
        parent[key][index] = new  # type: ignore[index]
    return root


def apply_action(where: dict, action: str, kinds: FieldKinds | None = None) -> dict:
    """Apply one builder button to a ``where`` tree (changed in place and returned).

    Actions: ``add:<id>:<kind>`` (a new condition in group ``<id>``), ``remove:<id>``,
    ``kind:<id>:<kind>`` (replace a condition by a fresh one of another kind),
    ``wrap:<id>`` (put a condition inside ``not``), ``addfilter:<id>:<fa|fb>``,
    ``rmfilter:<id>:<fa|fb>:<j>``.

    >>> apply_action({"all": [{"tag": "vip"}]}, "add:n:consent")
    {'all': [{'tag': 'vip'}, {'consent': 'whatsapp'}]}
    >>> apply_action({"all": [{"tag": "vip"}, {"tag": "x"}]}, "remove:n.0")
    {'all': [{'tag': 'x'}]}
    """
    verb, _, rest = action.partition(":")
    nid, _, arg = rest.partition(":")
    if verb == "add":
        _p, _k, _i, node = _locate(where, nid)
        group = "all" if "all" in node else "any" if "any" in node else None
        if group is None:
            raise ValueError(f"condition {nid!r} is not a group")
        node[group].append(new_condition(arg, kinds))
        return where
    if verb == "remove":
        parent, key, index, _node = _locate(where, nid)
        if parent is None:
            return {"all": []}
        if index is None:  # the inside of a not: remove the not itself
            parent_id = nid.rsplit(".", 1)[0]
            return apply_action(where, f"remove:{parent_id}", kinds)
        del parent[key][index]  # type: ignore[index]
        return where
    if verb == "kind":
        _p, _k, _i, node = _locate(where, nid)
        if arg in ("all", "any") and ("all" in node or "any" in node):
            kids = node.get("all", node.get("any"))
            return _replace(where, nid, {arg: kids})
        return _replace(where, nid, new_condition(arg, kinds))
    if verb == "wrap":
        _p, _k, _i, node = _locate(where, nid)
        return _replace(where, nid, {"not": node})
    if verb in ("addfilter", "rmfilter"):
        which, _, j = arg.partition(":")
        _p, _k, _i, node = _locate(where, nid)
        holder = node
        if "first" in node:
            step = "first" if which == "fa" else ("then" if "then" in node else "then_not")
            holder = node[step]
        filters = list(holder.get("where") or [])
        if verb == "addfilter":
            filters.append({"field": "properties.category", "op": "eq", "value": ""})
        elif j.isdigit() and int(j) < len(filters):
            del filters[int(j)]
        if filters:
            holder["where"] = filters
        else:
            holder.pop("where", None)
        return where
    raise ValueError(f"unknown builder action {action!r}")


# -- problems --------------------------------------------------------------------------------------
def node_of_pointer(root: Node, pointer: str) -> Node | None:
    """The deepest condition whose pointer ``pointer`` starts with (None above ``/where``).

    >>> tree = form_from_where({"all": [{"tag": "vip"}, {"field": "x", "op": "exists"}]})
    >>> node_of_pointer(tree, "/where/all/1/field").id
    'n.1'
    """
    best = None
    for n in nodes(root):
        inside = pointer == n.pointer or pointer.startswith(n.pointer + "/")
        if inside and (best is None or len(n.pointer) > len(best.pointer)):
            best = n
    return best


def problems_by_node(
    root: Node, problems: list[DefinitionProblem]
) -> tuple[dict[str, list[DefinitionProblem]], list[DefinitionProblem]]:
    """(condition id → its problems, problems of the definition itself)."""
    placed: dict[str, list[DefinitionProblem]] = {}
    rest: list[DefinitionProblem] = []
    for p in problems:
        node = node_of_pointer(root, p.pointer or "")
        if node is None:
            rest.append(p)
        else:
            placed.setdefault(node.id, []).append(p)
    return placed, rest


#: What the builder offers for activities.
MEASURE_CHOICES = MEASURES
AGGREGATE_CHOICES = AGGREGATE_OPS
