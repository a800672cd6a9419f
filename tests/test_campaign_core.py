"""Campaign core without a workspace: sandboxed templates, plans, A/B statistics vs scipy."""

from __future__ import annotations

import math
from collections import Counter
from datetime import datetime, timedelta
from statistics import NormalDist

import ibis
import numpy as np
import pytest
from scipy import stats

from segmint.activation.broadcast import (
    CODE_ALPHABET,
    FrequencyCap,
    apply_frequency_cap,
    assign_variant,
    offer_codes,
    parse_broadcast,
    plan_recipients,
)
from segmint.activation.templates import (
    compile_template,
    compile_templates,
    message_language,
    render_all,
)
from segmint.activation.webhook import signature_header, verify_signature
from segmint.errors import SignatureError, ValidationError
from segmint.models.experiments import (
    GroupStats,
    chi_square_2x2,
    compare_conversion,
    compare_revenue,
    newcombe_interval,
    sample_size_two_proportions,
    two_proportion_ztest,
    welch_ttest,
)


# -- the sandbox ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("source", "refused"),
    [
        ("{{ ''.__class__.__mro__ }}", "'__class__', '__mro__'"),
        ("{{ first_name.__class__.__base__.__subclasses__() }}", "'__class__'"),
        ("{{ first_name['__class__'] }}", "'__class__'"),
        ("{{ first_name|attr('__class__') }}", "'__class__'"),
        ("{{ first_name.upper.__globals__ }}", "'__globals__'"),
        ("{% for c in name.__class__.__mro__ %}{{ c }}{% endfor %}", "'__class__'"),
        ("{{ self }}", "'self'"),
        ("{{ first_name.__len__() }}", "'__len__'"),
    ],
)
def test_the_sandbox_refuses_python_internals_up_front(source, refused):
    with pytest.raises(ValidationError) as err:
        compile_template(source)
    assert f"The template may not use {refused}" in err.value.message
    assert err.value.location == "template, line 1"


@pytest.mark.parametrize(
    "source",
    [
        "{{ first_name|attr('_' ~ '_class_' ~ '_') }}",  # built at run time: the sandbox catches it
        "{{ first_name['_' ~ '_class__'] }}",
        "{{ '{0.__class__}'.format(first_name) }}",
    ],
)
def test_the_sandbox_refuses_internals_built_at_render_time(source):
    t = compile_template(source)
    with pytest.raises(ValidationError, match="the sandbox refused the template: access to "):
        t.render({"first_name": "Ann"})


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("{{ 'x' * 100000000 }}", "the text would be longer than 10,000 characters"),
        ("{{ 9 ** 99999999 }}", "the power 99999999 is larger than 100"),
    ],
)
def test_the_sandbox_caps_runaway_output(source, message):
    with pytest.raises(ValidationError, match=message):
        compile_template(source).render({})


@pytest.mark.parametrize("source", ["{% include 'x.txt' %}", "{% import 'm' as m %}"])
def test_templates_cannot_pull_in_other_templates(source):
    with pytest.raises(ValidationError, match="cannot include, import or extend"):
        compile_template(source)


@pytest.mark.parametrize("name", ["range", "lipsum", "cycler", "namespace", "dict"])
def test_no_globals_are_available(name):
    with pytest.raises(ValidationError, match=f"unknown field '{name}'"):
        compile_template(f"{{{{ {name} }}}}")


def test_syntax_errors_give_the_line():
    with pytest.raises(ValidationError) as err:
        compile_template("Hi {{ first_name }}\nYour points: {{ points }", where="spring.yaml")
    assert err.value.location == "spring.yaml, line 2"
    assert err.value.message.startswith("The template has a syntax error: ")


def test_unknown_fields_suggest_close_names():
    with pytest.raises(ValidationError) as err:
        compile_template("Hi {{ frist_name }}\n{{ favorite_category }}")
    assert err.value.message == (
        "The template uses the unknown field 'favorite_category' (and 'frist_name')."
    )
    assert err.value.suggestions == ["favourite_category"]
    assert err.value.location == "template, line 2"


def test_fallbacks_and_default_fill_missing_values():
    t = compile_template(
        "Hi {{ first_name }}, {{ points | default(0) }} pts{% if city %} in {{ city }}{% endif %}",
        fallbacks={"first_name": "friend"},
    )
    assert t.render({"first_name": "Ann", "points": 120.0, "city": "Taipei"}) == (
        "Hi Ann, 120 pts in Taipei"
    )
    # None, NaN and blank text are all missing
    assert t.render({"first_name": "  ", "points": float("nan")}) == "Hi friend, 0 pts"


def test_fallbacks_must_name_known_fields():
    with pytest.raises(ValidationError) as err:
        compile_template("Hi", fallbacks={"firstname": "friend"})
    assert err.value.message == "A fallback is given for the unknown field 'firstname'."
    assert err.value.suggestions[0] == "first_name"


def test_a_failure_for_one_recipient_is_reported_with_the_reason():
    t = compile_templates({"en": "Hi {{ first_name }}, you have {{ points }} points"})
    rows = [
        {"customer_id": "a", "first_name": "Ann", "points": 5},
        {"customer_id": "b", "first_name": "Bo"},  # no points, no fallback
        {"customer_id": "c", "first_name": "Cy", "points": 0},
    ]
    out = render_all(t, rows, variant="A")
    assert out.messages == {
        "a": "Hi Ann, you have 5 points",
        "c": "Hi Cy, you have 0 points",
    }
    assert [(f.customer_id, f.reason) for f in out.failures] == [
        ("b", "the field 'points' is empty for this recipient and has no fallback")
    ]
    assert out.failures[0].render() == (
        "b (variant A, en): the field 'points' is empty for this recipient and has no fallback"
    )


def test_messages_longer_than_the_channel_allows_fail():
    t = compile_template("{{ name }}", channel="sms")
    with pytest.raises(ValidationError, match="more than the 1,600 the channel accepts"):
        t.render({"name": "x" * 1601})


def test_recipients_get_the_template_of_their_language():
    t = compile_templates({"en": "Hi {{ first_name }}", "zh-Hant": "{{ first_name }}，你好"})
    rows = [
        {"customer_id": "a", "first_name": "Ann", "language": "en"},
        {"customer_id": "b", "first_name": "大文", "language": "zh-TW"},
        {"customer_id": "c", "first_name": "Cy", "language": None},
    ]
    assert render_all(t, rows).messages == {"a": "Hi Ann", "b": "大文，你好", "c": "Hi Cy"}
    assert message_language("zh-Hant", ["en"]) == "en"  # falls back to the template there is


# -- the plan -------------------------------------------------------------------------------------
def _spec(**extra):
    data = {
        "name": "Spring VIP",
        "segments": ["everyone"],
        "channel": "whatsapp",
        "holdout": 10,
        "variants": [
            {"name": "A", "share": 45, "templates": {"en": "Hi {{ first_name }} {{ offer_code }}"}},
            {"name": "B", "share": 45, "templates": {"en": "Hey {{ first_name }}"}},
        ],
    }
    return parse_broadcast({**data, **extra})


def test_shares_must_add_up_to_100():
    with pytest.raises(ValidationError) as err:
        _spec(holdout=5)
    assert err.value.message == (
        "variant shares and the holdout must add up to 100 (or 1). Got 45 + 45 + holdout 5 = 95."
    )
    assert err.value.location == "/variants"


def test_bad_templates_are_refused_when_the_campaign_is_read():
    variants = [{"name": "A", "share": 90, "templates": {"en": "Hi {{ frist_name }}"}}]
    with pytest.raises(ValidationError) as err:
        parse_broadcast(
            {"name": "x", "segments": ["a"], "channel": "sms", "holdout": 10, "variants": variants},
            file="spring.yaml",
        )
    assert err.value.location == "spring.yaml, /variants/0/templates/en, line 1"


def test_unknown_keys_suggest_close_names():
    with pytest.raises(ValidationError) as err:
        parse_broadcast({"name": "x", "segments": ["a"], "channel": "sms",
                         "templates": {"en": "Hi"}, "fallback": {}})  # fmt: skip
    assert err.value.message == "Unknown key 'fallback'."
    assert err.value.suggestions == ["fallbacks"]


def test_assignment_is_stable_and_close_to_the_shares():
    spec = _spec()
    ids = [f"c{i}" for i in range(20_000)]
    groups = [assign_variant("cmp_1", c, spec.shares()) for c in ids]
    counts = Counter(groups)
    assert abs(counts["A"] / len(ids) - 0.45) < 0.015
    assert abs(counts["B"] / len(ids) - 0.45) < 0.015
    assert abs(counts["holdout"] / len(ids) - 0.10) < 0.01
    # the same person, the same group, whoever else is in the audience
    assert [assign_variant("cmp_1", c, spec.shares()) for c in ids[::-1]] == groups[::-1]
    # another campaign shuffles independently
    other = [assign_variant("cmp_2", c, spec.shares()) for c in ids]
    assert 0.35 < np.mean([a == b for a, b in zip(groups, other, strict=True)]) < 0.50


def test_offer_codes_are_unique_stable_and_unambiguous():
    ids = [f"c{i}" for i in range(5_000)]
    codes = offer_codes("cmp_1", 42, ids)
    assert len(set(codes.values())) == len(ids)
    assert offer_codes("cmp_1", 42, list(reversed(ids))) == codes
    assert offer_codes("cmp_1", 43, ids) != codes  # another seed, other codes
    assert all(len(c) == 8 and set(c) <= set(CODE_ALPHABET) for c in codes.values())
    assert not set("0O1IL") & set(CODE_ALPHABET)


def test_offer_codes_avoid_codes_already_taken_and_resolve_collisions():
    first = offer_codes("cmp_1", 0, ["a", "b"])
    again = offer_codes("cmp_1", 0, ["a", "b"], taken={first["a"]})
    assert again["a"] != first["a"] and first["a"] not in again.values()
    # 2-character codes collide often: every code is still unique
    short = offer_codes("cmp_1", 0, [f"c{i}" for i in range(400)], length=2)
    assert len(set(short.values())) == 400
    with pytest.raises(ValidationError, match="nearly used up"):
        offer_codes("cmp_1", 0, [f"c{i}" for i in range(40)], length=1)


def test_the_plan_gives_codes_to_treated_recipients_only():
    spec = _spec(offer_codes=True)
    rows = [{"customer_id": f"c{i}", "first_name": f"P{i}", "phone": "+85291234567"}
            for i in range(200)]  # fmt: skip
    recipients, failures = plan_recipients(rows, spec, "cmp_1")
    assert not failures
    holdout = [r for r in recipients if r["variant"] == "holdout"]
    assert holdout and all(r["offer_code"] is None and r["text"] is None for r in holdout)
    a = [r for r in recipients if r["variant"] == "A"]
    assert all(r["text"] == f"Hi {r['customer_id'].replace('c', 'P')} {r['offer_code']}" for r in a)


def test_frequency_cap_boundary():
    now = datetime(2026, 3, 1, 12)
    period = timedelta(days=7)
    events = ibis.memtable(
        {
            "customer_id": ["x", "x", "y", "y", "z", "z"],
            "event": ["Message Sent"] * 6,
            "ts": [
                now - period,  # exactly 7 days old: no longer counts
                now - timedelta(days=1),
                now - period + timedelta(microseconds=1),  # just inside
                now,  # at the send time: counts
                now - timedelta(days=1),
                now + timedelta(seconds=1),  # after now: not yet
            ],
        }
    )
    classified = ibis.memtable(
        {"customer_id": ["x", "y", "z", "w"], "drop_reason": [None, None, None, "withdrawn"]}
    )
    capped = apply_frequency_cap(
        classified, events, FrequencyCap(max_messages=2, period_days=7), now
    )
    got = {r["customer_id"]: r["drop_reason"] for r in capped.to_pyarrow().to_pylist()}
    assert got == {"x": None, "y": "frequency_cap", "z": None, "w": "withdrawn"}


# -- statistics vs scipy --------------------------------------------------------------------------
COUNTS = [(29, 1000, 41, 1000), (3, 40, 9, 45), (120, 5000, 160, 4800), (0, 50, 4, 60)]


@pytest.mark.parametrize(("x_a", "n_a", "x_b", "n_b"), COUNTS)
def test_z_test_matches_an_independent_computation(x_a, n_a, x_b, n_b):
    pa_, pb_ = x_a / n_a, x_b / n_b
    pooled = (x_a + x_b) / (n_a + n_b)
    z_ref = (pb_ - pa_) / math.sqrt(pooled * (1 - pooled) * (1 / n_a + 1 / n_b))
    p_ref = 2 * (1 - NormalDist().cdf(abs(z_ref)))
    z, p = two_proportion_ztest(x_a, n_a, x_b, n_b)
    assert z == pytest.approx(z_ref, rel=1e-12)
    assert p == pytest.approx(p_ref, rel=1e-9, abs=1e-15)


@pytest.mark.parametrize(("x_a", "n_a", "x_b", "n_b"), COUNTS)
@pytest.mark.parametrize("correction", [False, True])
def test_chi_square_matches_scipy(x_a, n_a, x_b, n_b, correction):
    table = np.array([[x_a, n_a - x_a], [x_b, n_b - x_b]])
    ref = stats.chi2_contingency(table, correction=correction)
    chi2, p = chi_square_2x2(x_a, n_a, x_b, n_b, correction=correction)
    assert chi2 == pytest.approx(ref.statistic, rel=1e-10)
    assert p == pytest.approx(ref.pvalue, rel=1e-9)
    if not correction:  # chi² of a 2×2 table is z²
        z, pz = two_proportion_ztest(x_a, n_a, x_b, n_b)
        assert chi2 == pytest.approx(z * z, rel=1e-10) and p == pytest.approx(pz, rel=1e-9)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_welch_matches_scipy_on_revenue_per_recipient(seed):
    rng = np.random.default_rng(seed)
    a = np.where(rng.random(800) < 0.05, rng.gamma(2.0, 40.0, 800), 0.0)
    b = np.where(rng.random(650) < 0.08, rng.gamma(2.0, 55.0, 650), 0.0)
    ga = GroupStats("A", len(a), int((a > 0).sum()), float(a.sum()), float((a * a).sum()))
    gb = GroupStats("B", len(b), int((b > 0).sum()), float(b.sum()), float((b * b).sum()))
    ref = stats.ttest_ind(b, a, equal_var=False)
    t, df, p = welch_ttest(ga, gb)
    assert t == pytest.approx(ref.statistic, rel=1e-8)
    assert p == pytest.approx(ref.pvalue, rel=1e-7)
    assert df == pytest.approx(ref.df, rel=1e-8)
    ci = ref.confidence_interval(0.95)
    r = compare_revenue(ga, gb)
    assert (r.ci_low, r.ci_high) == (
        pytest.approx(ci.low, rel=1e-7),
        pytest.approx(ci.high, rel=1e-7),
    )


def test_the_difference_interval_covers_the_difference_and_stays_in_range():
    low, high = newcombe_interval(29, 1000, 41, 1000)
    assert low < 0.012 < high
    assert newcombe_interval(0, 40, 40, 40)[1] <= 1.0
    # known value (Newcombe 1998, table II, example (a): 56/70 vs 48/80 → 0.0524 to 0.3339)
    low, high = newcombe_interval(48, 80, 56, 70)
    assert (round(low, 4), round(high, 4)) == (0.0524, 0.3339)


def test_verdicts_in_both_languages():
    r = compare_conversion(GroupStats("A", 2000, 58), GroupStats("B", 2000, 90))
    assert r.significant
    assert r.verdict_en == "B converts better than A (4.5 % vs 2.9 %, p = 0.0074)."
    assert r.verdict_zh_hant == "B 的轉換率高於 A（4.5% 對 2.9%，p = 0.0074）。"


def test_not_enough_evidence_says_how_many_recipients_are_needed():
    r = compare_conversion(GroupStats("A", 1000, 29), GroupStats("B", 1000, 35))
    needed = sample_size_two_proportions(0.029, 0.035)
    assert not r.significant and needed > 1000
    assert r.verdict_en == (
        "Not enough evidence yet that B and A convert differently (3.5 % vs 2.9 %, p = 0.45). "
        f"To detect a difference this size, about {needed:,} recipients per group are needed "
        "(the smallest group has 1,000)."
    )
    assert f"每組約需 {needed:,} 名收件人" in r.verdict_zh_hant


def test_guard_rails_tiny_samples_and_no_conversions():
    tiny = compare_conversion(GroupStats("A", 12, 1), GroupStats("B", 15, 6))
    assert not tiny.significant
    assert tiny.verdict_en.startswith("Too few recipients to judge yet: 12 in the smallest group")
    none = compare_conversion(GroupStats("A", 500, 0), GroupStats("holdout", 400, 0))
    assert (none.z, none.p_value, none.significant) == (0.0, 1.0, False)
    assert none.verdict_en == "No conversions yet in A or the holdout: nothing to compare so far."
    assert none.verdict_zh_hant == "A 及 對照組 暫時都沒有轉換，尚無可比較的結果。"
    flat = compare_revenue(GroupStats("A", 50, 0), GroupStats("B", 50, 0))
    assert math.isnan(flat.p_value) and not flat.significant
    with pytest.raises(ValidationError, match="more conversions"):
        GroupStats("A", 10, 11)


# -- webhook signatures ---------------------------------------------------------------------------
def test_signatures_verify_and_refuse_tampering_and_replays():
    body = b'{"campaign_id":"cmp_1"}'
    header = signature_header(body, "s3cret", timestamp=1_767_225_600)
    verify_signature(body, header, "s3cret", now=1_767_225_600 + 10)
    with pytest.raises(SignatureError, match="does not match the body"):
        verify_signature(body + b" ", header, "s3cret", now=1_767_225_600)
    with pytest.raises(SignatureError, match="does not match the body"):
        verify_signature(body, header, "other", now=1_767_225_600)
    with pytest.raises(SignatureError, match="more than 300 s"):
        verify_signature(body, header, "s3cret", now=1_767_225_600 + 301)
    with pytest.raises(SignatureError, match="has no X-Segmint-Signature header"):
        verify_signature(body, None, "s3cret")


# -- the documented example -----------------------------------------------------------------------
def test_the_example_in_the_docs_is_the_example_file_and_it_loads():
    import re
    from pathlib import Path

    from segmint.activation.broadcast import load_broadcast

    root = Path(__file__).resolve().parents[1]
    doc = (root / "docs" / "campaigns.md").read_text(encoding="utf-8")
    block = re.search(r"## The definition\n\n```yaml\n(.*?)```", doc, re.S).group(1)
    example = root / "examples" / "campaigns" / "spring.yaml"
    assert example.read_text(encoding="utf-8") == block
    spec = load_broadcast(example)
    assert spec.shares() == [("A", 0.45), ("B", 0.45), ("holdout", 0.1)]
    assert spec.frequency_cap == FrequencyCap(max_messages=2, period_days=7)
