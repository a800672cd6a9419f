"""Identity stitching: records that share an identifier are one person (layer 2, pure).

The graph has three kinds of nodes — records, identifiers ``(id_type, id_value)`` and existing
customers — and an edge from each record to each of its *linking* identifiers and to the
customer it already belongs to. Connected components (``scipy.sparse.csgraph``) are people, so
links are transitive: A–B share an email, B–C share a phone → A, B and C are one person. Millions
of records stitch in seconds because nothing loops over records in Python.

Rules:

- **Junk never links.** Identifiers flagged by ``Config.junk`` (``test@…``, ``00000000`` …) are
  dropped from linking and are not stored as identities; the record keeps the value on its
  profile.
- **Giant components are refused.** An identifier held by more than ``max_shared`` records (a
  shop's own phone number typed into every walk-in customer) is treated as junk for linking and
  reported in :attr:`StitchResult.shared`; it is still stored as an identity of each record.
- **Customer ids are deterministic.** A new person is ``"c_" + sha1(smallest record_id)[:16]``;
  when existing customers meet in one component the smallest id survives and the others are
  reported in :attr:`StitchResult.merges` so their orders, events, tags and memberships can be
  re-pointed.
- **Stitching only merges.** An identifier that disappears from a record does not split a
  person; identities are never removed by an import.
- **Anonymous ids do not create people.** A component whose records hold only non-creating
  identifiers (``anonymous_id``) and no existing customer gets no customer id.

Every identity added that joins two records gets a merge-log row naming the shared identifier.

Example:
    >>> import pandas as pd
    >>> ids = pd.DataFrame({
    ...     "record_id": ["shop:1", "shop:2", "pos:9", "pos:9"],
    ...     "id_type": ["email", "email", "phone", "email"],
    ...     "id_value": ["amy@x.hk", "bob@x.hk", "+85291234567", "amy@x.hk"]})
    >>> r = stitch(["shop:1", "shop:2", "pos:9"], ids)
    >>> r.assignments.customer_id.nunique(), len(r.merge_log)
    (2, 1)
    >>> r.merge_log[["record_id", "other_record_id", "id_type", "id_value"]].values.tolist()
    [['shop:1', 'pos:9', 'email', 'amy@x.hk']]
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from segmint.config import JunkIdentifiers
from segmint.identity.junk import junk_mask

__all__ = ["StitchResult", "customer_id_for", "stitch"]

_SEP = "\x1f"


def customer_id_for(record_id: str) -> str:
    """The id of a new person whose smallest record is ``record_id``.

    >>> customer_id_for("shopify:1001")
    'c_651cca38096ec457'
    """
    return "c_" + hashlib.sha1(record_id.encode("utf-8")).hexdigest()[:16]


@dataclass
class StitchResult:
    """What stitching decided.

    Attributes:
        assignments: ``record_id, customer_id`` for every record passed in (``None`` for
            anonymous-only records no customer is known for).
        new_identities: ``customer_id, id_type, id_value, record_id`` rows to add.
        merges: ``absorbed_customer_id, customer_id``: existing customers that become another.
        merge_log: ``customer_id, record_id, other_record_id, id_type, id_value,
            absorbed_customer_id``: why records were joined.
        created: ids of new customers.
        shared: ``id_type, id_value, records``: identifiers refused for being shared by more
            than ``max_shared`` records.
        junk: ``id_type, id_value, records``: placeholder identifiers that linked nothing.
    """

    assignments: pd.DataFrame
    new_identities: pd.DataFrame
    merges: pd.DataFrame
    merge_log: pd.DataFrame
    created: list[str]
    shared: pd.DataFrame
    junk: pd.DataFrame

    @property
    def people_merged(self) -> int:
        return len(self.merges)


_STR = pa.string()


def _arrays(data, columns: Sequence[str]) -> list[pa.Array]:
    """The ``columns`` of a DataFrame or Arrow table as string arrays (empty when ``None``)."""
    if data is None:
        return [pa.array([], _STR) for _ in columns]
    out = []
    for c in columns:
        if isinstance(data, pa.Table):
            if c not in data.column_names:
                raise ValueError(f"stitch input is missing column {c!r}")
            col = data.column(c).combine_chunks()
        else:
            if c not in data.columns:
                raise ValueError(f"stitch input is missing column {c!r}")
            col = pa.array(np.asarray(data[c], dtype=object), _STR, from_pandas=True)
        out.append(col.cast(_STR))
    return out


class _Dict:
    """One dictionary encoding over several string arrays: strings become int codes.

    ``rank[code]`` is the position of the string in sorted order, so "the smallest id" is a
    minimum over integers.
    """

    def __init__(self, *arrays: pa.Array):
        self.lengths = [len(a) for a in arrays]
        both = pa.concat_arrays([a.cast(_STR) for a in arrays]) if arrays else pa.array([], _STR)
        enc = pc.dictionary_encode(both, null_encoding="encode")
        self.values: pa.Array = enc.dictionary
        idx = enc.indices.to_numpy(zero_copy_only=False).astype(np.int64)
        self.parts = np.split(idx, np.cumsum(self.lengths)[:-1]) if arrays else []
        order = pc.sort_indices(self.values).to_numpy()
        self.rank = np.empty(len(self.values), dtype=np.int64)
        self.rank[order] = np.arange(len(self.values))
        self.null = (
            np.flatnonzero(pc.is_null(self.values).to_numpy(zero_copy_only=False))
            if self.values.null_count
            else np.array([], dtype=np.int64)
        )

    def __len__(self) -> int:
        return len(self.values)

    def strings(self, codes: np.ndarray) -> np.ndarray:
        return self.values.take(pa.array(codes, pa.int64())).to_numpy(zero_copy_only=False)


def _objects(columns: dict) -> pd.DataFrame:
    """A DataFrame of object columns (``None`` stays ``None``; pandas would make it NaN)."""
    return pd.DataFrame({k: pd.Series(np.asarray(v, dtype=object), dtype=object)
                         for k, v in columns.items()})  # fmt: skip


def _isin(a, b) -> np.ndarray:
    """``np.isin`` through a hash table (much faster on millions of integers)."""
    a = np.asarray(a)
    if not len(a):
        return np.zeros(0, dtype=bool)
    return pd.Series(a).isin(pd.unique(np.asarray(b).ravel())).to_numpy()


def _first_per_group(groups: np.ndarray, order_keys: list[np.ndarray], k: int = 1):
    """Indexes of the first ``k`` rows of every group when rows are ordered by ``order_keys``.

    Returns ``(group, index of 1st row, index of 2nd row or -1, …)`` arrays.
    """
    if not len(groups):
        return (
            np.array([], dtype=np.int64),
            *tuple(np.array([], dtype=np.int64) for _ in range(k)),
        )
    order = np.lexsort([*reversed(order_keys), groups])
    g = groups[order]
    starts = np.flatnonzero(np.r_[True, g[1:] != g[:-1]])
    ends = np.r_[starts[1:], len(g)]
    out = [g[starts]]
    for j in range(k):
        pos = starts + j
        idx = np.where(pos < ends, order[np.minimum(pos, len(order) - 1)], -1)
        out.append(idx)
    return tuple(out)


def stitch(
    records: Iterable[str],
    identifiers,
    existing=None,
    record_customers=None,
    *,
    junk: JunkIdentifiers | None = None,
    max_shared: int = 50,
    can_create: np.ndarray | None = None,
    non_creating_types: Sequence[str] = ("anonymous_id",),
    store_known: bool = True,
) -> StitchResult:
    """Assign a customer id to every record and say which customers merge, and why.

    Args:
        records: the record ids being imported.
        identifiers: their identifiers, ``record_id, id_type, id_value`` (normalised), as a
            DataFrame or Arrow table.
        existing: stored identity rows that may matter, ``customer_id, id_type, id_value,
            record_id`` — at least those sharing an identifier with ``identifiers`` or belonging
            to one of ``records`` (the importer selects them in the engine).
        record_customers: stored ``record_id, customer_id`` of the records (for records whose
            identities alone do not say it).
        junk: the workspace's junk rules (default rules when ``None``).
        max_shared: an identifier held by more records than this never links.
        can_create: per record in ``records``, whether it may start a new person (default all).
        non_creating_types: identifier types that link but never start a person on their own.
        store_known: add an identity row for every record even when another record already
            holds the identifier (customer records: keeps provenance per source). ``False`` for
            order and event contacts: only identifiers nobody holds yet are added, once.
    """
    rec_in = pa.array(list(records) if not isinstance(records, pa.Array) else records, _STR)
    n_rec_in = len(rec_in)
    n_rid, n_type, n_value = _arrays(identifiers, ["record_id", "id_type", "id_value"])
    e_cid, e_type, e_value, e_rid = _arrays(
        existing, ["customer_id", "id_type", "id_value", "record_id"]
    )
    c_rid, c_cid = _arrays(record_customers, ["record_id", "customer_id"])

    R = _Dict(rec_in, n_rid, e_rid, c_rid)
    rec_codes, n_r, e_r, c_r = R.parts
    C = _Dict(e_cid, c_cid)
    e_c, c_c = C.parts
    T = _Dict(n_type, e_type)
    n_t, e_t = T.parts
    V = _Dict(n_value, e_value)
    n_v, e_v = V.parts
    n_types = max(len(T), 1)
    n_k = n_v * n_types + n_t  # identifier key codes
    e_k = e_v * n_types + e_t

    # junk is decided once per distinct identifier
    key_inverse, all_keys = pd.factorize(np.concatenate([n_k, e_k]), sort=False)
    junk_keys = junk_mask(T.strings(all_keys % n_types), V.strings(all_keys // n_types), junk)
    n_junk = junk_keys[key_inverse[: len(n_k)]] | _isin(n_r, R.null)
    e_junk = junk_keys[key_inverse[len(n_k) :]]
    # rows with a null customer or record are unusable
    c_ok = ~_isin(c_c, C.null) & ~_isin(c_r, R.null)
    c_r, c_c = c_r[c_ok], c_c[c_ok]

    n_keys_total = len(all_keys)
    key_slot_new = key_inverse[: len(n_k)]
    key_slot_ex = key_inverse[len(n_k) :]

    # holders: distinct (record, identifier) pairs, stored ones first
    pair_rec = np.concatenate([e_r[~e_junk], n_r[~n_junk]])
    pair_key = np.concatenate([key_slot_ex[~e_junk], key_slot_new[~n_junk]])
    pair_stored = np.concatenate([np.ones((~e_junk).sum(), bool), np.zeros((~n_junk).sum(), bool)])
    pair_id = pair_rec * n_keys_total + pair_key
    first_idx = np.flatnonzero(~pd.Series(pair_id).duplicated().to_numpy())
    pair_rec, pair_key, pair_stored = (
        pair_rec[first_idx],
        pair_key[first_idx],
        pair_stored[first_idx],
    )
    counts = np.bincount(pair_key, minlength=n_keys_total)
    giant = counts > max_shared
    link = ~giant[pair_key]

    # graph: records | customers | identifiers
    nR, nC = len(R), len(C)
    src = np.concatenate([pair_rec[link], e_r, c_r])
    dst = np.concatenate([nR + nC + pair_key[link], nR + e_c, nR + c_c])
    size = nR + nC + n_keys_total
    graph = coo_matrix((np.ones(len(src), dtype=np.int8), (src, dst)), shape=(size, size))
    _, labels = connected_components(graph, directed=False)
    rec_label = labels[:nR]
    cust_label = labels[nR : nR + nC]

    # survivors: the smallest existing customer id of each component
    n_comp = int(labels.max()) + 1 if len(labels) else 0
    real_c = np.setdiff1d(np.arange(nC), C.null)
    surv_comp, surv_first = _first_per_group(cust_label[real_c], [C.rank[real_c]])
    survivor_of_comp = np.full(n_comp, -1, dtype=np.int64)  # customer code per component
    survivor_of_comp[surv_comp] = real_c[surv_first]
    absorbed_c = real_c[survivor_of_comp[cust_label[real_c]] != real_c]
    merges = _objects(
        {
            "absorbed_customer_id": C.strings(absorbed_c),
            "customer_id": C.strings(survivor_of_comp[cust_label[absorbed_c]]),
        }
    ).astype(object)
    merges = merges.sort_values("absorbed_customer_id", ignore_index=True)

    # new people: components of the imported records without an existing customer
    creates = np.ones(n_rec_in, bool) if can_create is None else np.asarray(can_create, bool)
    if len(non_creating_types):
        weak_types = np.isin(T.strings(n_t), list(non_creating_types))
        strong_rec = n_r[~n_junk & ~weak_types]
        any_rec = pd.unique(n_r[~n_junk])
        weak_only = any_rec[~_isin(any_rec, strong_rec)]
        creates = creates & ~_isin(rec_codes, weak_only)
    in_comp = rec_label[rec_codes]
    has_survivor = survivor_of_comp[in_comp] >= 0
    fresh = ~has_survivor & creates & ~_isin(rec_codes, R.null)
    new_comp, new_first = _first_per_group(in_comp[fresh], [R.rank[rec_codes[fresh]]])
    smallest = R.strings(rec_codes[fresh][new_first])
    new_ids = _unique_ids(smallest, set(C.values.to_pylist()))
    # customer id (text) of every component: survivor, new id, or None
    comp_customer = np.full(n_comp, None, dtype=object)
    has = survivor_of_comp >= 0
    comp_customer[has] = C.strings(survivor_of_comp[has])
    comp_customer[new_comp] = np.asarray(new_ids, dtype=object)

    def customer_of(rec: np.ndarray) -> np.ndarray:
        return comp_customer[rec_label[rec]]

    assignments = _objects(
        {"record_id": R.strings(rec_codes), "customer_id": customer_of(rec_codes)}
    ).astype(object)
    assignments = assignments.drop_duplicates("record_id", ignore_index=True)

    # identities to add: valid, non-junk identifiers not stored yet for that record
    stored_pairs = e_r * n_keys_total + key_slot_ex
    new_pairs = n_r * n_keys_total + key_slot_new
    unstored = ~n_junk & ~_isin(new_pairs, stored_pairs)
    # one row per (record, identifier)
    unstored &= ~pd.Series(new_pairs).duplicated().to_numpy()
    add = unstored.copy()
    if not store_known:
        add &= ~_isin(key_slot_new, key_slot_ex)
        idx = np.flatnonzero(add)
        _, keep_first = _first_per_group(key_slot_new[idx], [R.rank[n_r[idx]]])
        add = np.zeros(len(add), bool)
        add[idx[keep_first]] = True
    add_cust = customer_of(n_r[add])
    has_cust = pd.notna(add_cust)
    add_idx = np.flatnonzero(add)[has_cust]
    new_identities = _objects(
        {
            "customer_id": add_cust[has_cust],
            "id_type": T.strings(n_t[add_idx]),
            "id_value": V.strings(n_v[add_idx]),
            "record_id": R.strings(n_r[add_idx]),
        }
    ).astype(object)

    # log the links of records that bring something (an identity) or join existing customers
    merged_comps = cust_label[absorbed_c]
    loggable = _isin(n_r, n_r[add_idx]) | _isin(rec_label[n_r], merged_comps)
    cand = np.flatnonzero(unstored & loggable & ~giant[key_slot_new])
    merge_log = _merge_log(
        cand, n_r, key_slot_new, pair_rec[link], pair_key[link], pair_stored[link],
        R, T, V, all_keys, n_types, customer_of, e_r, e_c, c_r, c_c, C, absorbed_c,
    )  # fmt: skip

    giant_keys = np.flatnonzero(giant)
    shared = _summary(giant_keys, counts, all_keys, n_types, T, V)
    junk_slots = key_slot_new[n_junk & ~_isin(n_r, R.null)]
    junk_rec = n_r[n_junk & ~_isin(n_r, R.null)]
    if len(junk_slots):
        uniq_pairs = pd.unique(junk_rec * n_keys_total + junk_slots)
        junk_counts = np.bincount(uniq_pairs % n_keys_total, minlength=n_keys_total)
    else:
        junk_counts = np.zeros(n_keys_total, dtype=np.int64)
    junk_summary = _summary(np.flatnonzero(junk_counts), junk_counts, all_keys, n_types, T, V)
    return StitchResult(
        assignments=assignments,
        new_identities=new_identities,
        merges=merges,
        merge_log=merge_log,
        created=sorted(new_ids),
        shared=shared,
        junk=junk_summary,
    )


def _unique_ids(smallest: np.ndarray, taken: set[str]) -> list[str]:
    """Customer ids for new components; a (very unlikely) hash clash gets a salted hash."""
    ids = [customer_id_for(r) for r in smallest.tolist()]
    seen: set[str] = set()
    for i, cid in enumerate(ids):
        salt = 1
        while cid in taken or cid in seen:
            cid = customer_id_for(f"{smallest[i]}#{salt}")
            salt += 1
        ids[i] = cid
        seen.add(cid)
    return ids


def _summary(slots, counts, all_keys, n_types, T: _Dict, V: _Dict) -> pd.DataFrame:
    """``id_type, id_value, records`` for identifier slots, most shared first."""
    slots = np.asarray(slots, dtype=np.int64)
    order = np.argsort(-counts[slots], kind="stable")
    slots = slots[order]
    keys = all_keys[slots]
    return pd.DataFrame(
        {
            "id_type": pd.Series(T.strings(keys % n_types), dtype=object),
            "id_value": pd.Series(V.strings(keys // n_types), dtype=object),
            "records": counts[slots].astype(np.int64),
        }
    ).astype({"id_type": object, "id_value": object})


def _merge_log(
    cand, n_r, n_slot, l_rec, l_slot, l_stored, R, T, V, all_keys, n_types, customer_of,
    e_r, e_c, c_r, c_c, C, absorbed_c,
) -> pd.DataFrame:  # fmt: skip
    """One row per new (record, identifier) link that joins the record to another record."""
    columns = [
        "customer_id",
        "record_id",
        "other_record_id",
        "id_type",
        "id_value",
        "absorbed_customer_id",
    ]
    cand = cand[_isin(n_slot[cand], l_slot)]
    if not len(cand):
        return pd.DataFrame({c: pd.Series([], dtype=object) for c in columns})
    # the other side is preferably a stored record: that is what the new record joined
    sel = _isin(l_slot, n_slot[cand])
    slots, first = _first_per_group(l_slot[sel], [~l_stored[sel], R.rank[l_rec[sel]]])
    anchor = np.full(len(all_keys), -1, dtype=np.int64)  # first holder of every identifier
    anchor[slots] = l_rec[sel][first]
    me = n_r[cand]
    slot = n_slot[cand]
    # each link is logged once: by the record that joins the anchor
    other = anchor[slot]
    keep = (other >= 0) & (other != me)
    me, slot, other = me[keep], slot[keep], other[keep]
    # the customer each record had before this import, to name the one absorbed
    before = np.full(len(R), -1, dtype=np.int64)
    before[c_r] = c_c
    before[e_r] = e_c
    is_absorbed = np.zeros(len(C) + 1, dtype=bool)  # index -1 → the extra False slot
    is_absorbed[absorbed_c] = True
    prev_other, prev_me = before[other], before[me]
    code = np.where(
        is_absorbed[prev_other], prev_other, np.where(is_absorbed[prev_me], prev_me, -1)
    )
    absorbed_ids = np.full(len(code), None, dtype=object)
    if (code >= 0).any():
        absorbed_ids[code >= 0] = C.strings(code[code >= 0])
    keys = all_keys[slot]
    out = _objects(
        {
            "customer_id": customer_of(me),
            "record_id": R.strings(me),
            "other_record_id": R.strings(other),
            "id_type": T.strings(keys % n_types),
            "id_value": V.strings(keys // n_types),
            "absorbed_customer_id": absorbed_ids,
        }
    )
    return out.sort_values(["customer_id", "record_id", "id_type"], ignore_index=True)
