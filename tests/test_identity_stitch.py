"""Identity stitching: transitive merges, merge log, junk and giant identifiers, bridges."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from tests._import_support import column, new_workspace, rows, write

from segmint.config import JunkIdentifiers
from segmint.identity import customer_id_for, junk_mask, national_number, stitch


def ids(*triples) -> pd.DataFrame:
    return pd.DataFrame(triples, columns=["record_id", "id_type", "id_value"])


def customers_of(result) -> dict[str, str]:
    return dict(zip(result.assignments.record_id, result.assignments.customer_id, strict=True))


def test_transitive_links_make_one_person():
    r = stitch(
        ["A", "B", "C", "D"],
        ids(
            ("A", "email", "amy@x.hk"),
            ("B", "email", "amy@x.hk"),
            ("B", "phone", "+85291234567"),
            ("C", "phone", "+85291234567"),
            ("D", "email", "dan@x.hk"),
        ),
    )
    c = customers_of(r)
    assert c["A"] == c["B"] == c["C"] != c["D"]
    assert sorted(r.created) == sorted({c["A"], c["D"]})
    assert c["A"] == customer_id_for("A")  # named after the smallest record


def test_merge_log_says_why():
    r = stitch(
        ["A", "B", "C"],
        ids(
            ("A", "email", "amy@x.hk"),
            ("B", "email", "amy@x.hk"),
            ("B", "phone", "+85291234567"),
            ("C", "phone", "+85291234567"),
        ),
    )
    log = r.merge_log[["record_id", "other_record_id", "id_type", "id_value"]]
    assert sorted(map(tuple, log.to_numpy().tolist())) == [
        ("B", "A", "email", "amy@x.hk"),
        ("C", "B", "phone", "+85291234567"),
    ]
    assert set(r.merge_log.customer_id) == {customer_id_for("A")}


def test_junk_identifiers_never_link():
    r = stitch(
        ["A", "B", "C", "D", "E", "F"],
        ids(
            ("A", "email", "test@test.com"),
            ("B", "email", "test@test.com"),
            ("C", "phone", "+85200000000"),
            ("D", "phone", "+85200000000"),
            ("E", "phone", "+85222222222"),  # too few distinct digits
            ("F", "phone", "+85222222222"),
        ),
    )
    assert len(set(customers_of(r).values())) == 6
    assert r.merge_log.empty and r.new_identities.empty  # junk is not stored either
    assert set(r.junk.id_value) == {"test@test.com", "+85200000000", "+85222222222"}
    assert r.junk.records.tolist() == [2, 2, 2]


def test_junk_rules_come_from_the_config():
    cfg = JunkIdentifiers(emails=["*@shop.hk"], phones=["91234567"], values=["vip"])
    mask = junk_mask(
        np.array(["email", "email", "phone", "pos", "phone"], dtype=object),
        np.array(
            ["front@shop.hk", "test@test.com", "+85291234567", "VIP", "+85261234567"], dtype=object
        ),
        cfg,
    )
    assert mask.tolist() == [True, False, True, True, False]


def test_national_number():
    got = national_number(
        pa.array(["+85291234567", "+886912345678", "+6581234567", "+12125550100"])
    )
    assert got.to_pylist() == ["91234567", "912345678", "81234567", "2125550100"]


def test_an_identifier_shared_too_widely_is_refused():
    records = [f"R{i}" for i in range(6)]
    shop_phone = [(r, "phone", "+85223456789") for r in records]
    r = stitch(
        records,
        ids(*shop_phone, ("R0", "email", "a@x.hk"), ("R1", "email", "a@x.hk")),
        max_shared=4,
    )
    c = customers_of(r)
    assert len(set(c.values())) == 5  # only R0–R1 (email) joined
    assert r.shared.to_dict("records") == [
        {"id_type": "phone", "id_value": "+85223456789", "records": 6}
    ]
    # still stored as an identity of each record (it is theirs), it just links nobody
    assert (r.new_identities.id_value == "+85223456789").sum() == 6


def test_existing_customers_merge_into_the_smallest_id():
    existing = pd.DataFrame(
        {
            "customer_id": ["c_b", "c_a"],
            "id_type": ["email", "phone"],
            "id_value": ["bob@x.hk", "+85291234567"],
            "record_id": ["shop:2", "shop:1"],
        }
    )
    r = stitch(
        ["pos:9"],
        ids(("pos:9", "email", "bob@x.hk"), ("pos:9", "phone", "+85291234567")),
        existing,
    )
    assert customers_of(r) == {"pos:9": "c_a"}
    assert r.merges.to_dict("records") == [{"absorbed_customer_id": "c_b", "customer_id": "c_a"}]
    assert r.created == []
    log = r.merge_log.sort_values("id_type").to_dict("records")
    assert [(x["other_record_id"], x["id_type"]) for x in log] == [
        ("shop:2", "email"),
        ("shop:1", "phone"),
    ]
    assert log[0]["absorbed_customer_id"] == "c_b"


def test_reimported_record_keeps_its_customer_without_identities():
    r = stitch(
        ["shop:1"],
        ids(),
        record_customers=pd.DataFrame({"record_id": ["shop:1"], "customer_id": ["c_x"]}),
    )
    assert customers_of(r) == {"shop:1": "c_x"} and r.created == []


def test_anonymous_ids_do_not_create_people():
    r = stitch(
        ["e1", "e2", "e3"],
        ids(
            ("e1", "anonymous_id", "a1"),
            ("e2", "anonymous_id", "a1"),
            ("e2", "user_id", "u1"),
            ("e3", "anonymous_id", "a9"),
        ),
    )
    c = customers_of(r)
    assert c["e1"] == c["e2"] is not None and c["e3"] is None
    assert len(r.created) == 1


def test_contacts_store_only_unknown_identifiers_once():
    existing = pd.DataFrame(
        {
            "customer_id": ["c_a"],
            "id_type": ["email"],
            "id_value": ["amy@x.hk"],
            "record_id": ["shop:1"],
        }
    )
    r = stitch(
        ["o:1", "o:2"],
        ids(("o:1", "email", "amy@x.hk"), ("o:2", "email", "amy@x.hk"), ("o:2", "pos", "M1")),
        existing,
        store_known=False,
    )
    assert customers_of(r) == {"o:1": "c_a", "o:2": "c_a"}
    assert r.new_identities[["id_type", "id_value", "record_id"]].values.tolist() == [
        ["pos", "M1", "o:2"]
    ]


def test_stitching_is_deterministic_and_order_independent():
    triples = [(f"r{i}", "email", f"p{i // 3}@x.hk") for i in range(30)]
    a = stitch([t[0] for t in triples], ids(*triples))
    b = stitch([t[0] for t in reversed(triples)], ids(*reversed(triples)))
    assert customers_of(a) == customers_of(b)
    assert len(a.created) == 10


def test_arrow_and_pandas_inputs_agree():
    frame = ids(("A", "email", "amy@x.hk"), ("B", "email", "amy@x.hk"))
    a = stitch(["A", "B"], frame)
    b = stitch(pa.array(["A", "B"]), pa.Table.from_pandas(frame))
    assert customers_of(a) == customers_of(b)


@pytest.mark.slow
def test_a_million_records_stitch_in_seconds():
    n = 1_000_000
    rng = np.random.default_rng(5)
    rec = np.array([f"r{i}" for i in range(n)], dtype=object)
    person = rng.integers(0, 700_000, n)
    frame = pd.DataFrame(
        {
            "record_id": np.concatenate([rec, rec]),
            "id_type": np.repeat(["email", "phone"], n).astype(object),
            "id_value": np.concatenate(
                [
                    np.array([f"p{p}@mail.hk" for p in person], dtype=object),
                    np.array([f"+8529{(p * 7) % 10_000_000:07d}" for p in person], dtype=object),
                ]
            ),
        }
    )
    started = time.perf_counter()
    r = stitch(pa.array(rec), pa.Table.from_pandas(frame))
    seconds = time.perf_counter() - started
    assert r.assignments.customer_id.nunique() == len(np.unique(person))
    assert seconds < 60, seconds


# -- in a workspace ----------------------------------------------------------------------------
def test_a_bridge_record_merges_two_customers_and_repoints_their_data(tmp_path):
    ws = new_workspace(tmp_path)
    ws.import_file("customers", write(tmp_path / "shop.csv", "Customer ID,Email\n1,amy@x.hk"))
    ws.import_file("customers", write(tmp_path / "wa.csv", "Name,Phone\nAmy W,9123 4567"))
    ws.import_file(
        "orders",
        write(
            tmp_path / "orders.csv",
            "Order ID,Email,Phone,Total,Date\n"
            "O1,amy@x.hk,,10,2026-01-01\nO2,,9123 4567,20,2026-01-02",
        ),
    )
    owners = column(ws, "orders", "customer_id")
    assert len(set(owners)) == 2 and ws.table("profiles").count().execute() == 2

    r = ws.import_file(
        "customers", write(tmp_path / "pos.csv", "會員編號,電郵,電話\nM1,amy@x.hk,9123 4567")
    )
    assert r.people_merged == 1 and r.people_created == 0
    survivor = min(owners)
    assert set(column(ws, "orders", "customer_id")) == {survivor}
    assert set(column(ws, "identities", "customer_id")) == {survivor}
    assert set(column(ws, "source_profiles", "customer_id")) == {survivor}
    assert column(ws, "profiles", "customer_id") == [survivor]
    log = ws.table("merge_log").to_pyarrow().to_pylist()
    absorbed = max(owners)
    assert any(x["record_id"] == "pos:M1" and x["absorbed_customer_id"] == absorbed for x in log), (
        log
    )
    reasons = {(x["id_type"], x["id_value"]) for x in log if x["record_id"] == "pos:M1"}
    assert reasons == {("email", "amy@x.hk"), ("phone", "+85291234567")}
    ws.close()


def test_junk_never_merges_people_in_a_workspace(tmp_path):
    ws = new_workspace(tmp_path)
    ws.import_file(
        "customers",
        write(
            tmp_path / "c.csv",
            """
            Name,Email,Phone,Member ID
            Amy,test@test.com,9123 4567,M1
            Bob,test@test.com,6123 4567,M2
            Cat,noreply@shop.hk,1234 5678,M3
            Dan,dan@x.hk,1234 5678,M4
            """,
        ),
    )
    assert ws.table("profiles").count().execute() == 4
    assert ws.table("merge_log").count().execute() == 0
    profiles = {p["name"]: p for p in ws.table("profiles").to_pyarrow().to_pylist()}
    assert profiles["Amy"]["email"] == "test@test.com"  # kept on the profile
    assert ("email", "test@test.com") not in {(r[1], r[2]) for r in rows(ws, "identities")}
    ws.close()


def test_a_shop_phone_typed_for_every_walk_in_links_nobody(tmp_path):
    ws = new_workspace(tmp_path)
    lines = ["Email,Phone"] + [f"walkin{i}@x.hk,2345 6789" for i in range(60)]
    r = ws.import_file("customers", write(tmp_path / "walkins.csv", "\n".join(lines)))
    assert r.people_created == 60 and r.people_merged == 0
    assert r.shared_identifiers == [("phone", "+85223456789", 60)]
    assert any("shared by 60 records" in w for w in r.warnings)
    assert ws.table("profiles").count().execute() == 60
    assert ws.table("merge_log").count().execute() == 0
    ws.close()
