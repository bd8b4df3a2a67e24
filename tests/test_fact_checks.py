"""Promises checked against a shop's facts (facts/checks.py, facts/checker.py): each check's
honest, contradicted and unchecked outcomes, which product the talk is about, and what the facts
stage does to the detector's findings."""

from dataclasses import replace
from datetime import date, datetime, timedelta, timezone

import pytest
from conftest import ROOT

from pinocchio.core.records import CheckOutcome, Finding, FindingSource, MatchKind, Segment, VerdictAction
from pinocchio.core.yaml_file import read_yaml
from pinocchio.facts.checker import FactChecker
from pinocchio.facts.checks import check_promise, load_check_rules
from pinocchio.facts.promises import PromiseFinder
from pinocchio.facts.shop import (
    CountAt,
    Enrolment,
    Guarantee,
    LinkChange,
    PricePoint,
    Shipping,
    StreamFacts,
    shop_from_data,
)

RULES = load_check_rules()
FINDER = PromiseFinder()
START = datetime(2026, 12, 1, 20, 0, tzinfo=timezone(timedelta(hours=8)))
DEMO_SHOP = read_yaml(ROOT / "fixtures" / "demo" / "shop.yaml").data["shops"][0]


def demo_facts(**changes) -> StreamFacts:
    shop = replace(shop_from_data(DEMO_SHOP, lambda place: str(place)), **changes)
    links = (LinkChange(3, "rose-cream", at_s=0.0), LinkChange(5, "mulberry-tea", at_s=55.0),
             LinkChange(8, "jade-bracelet", at_s=79.0))
    return StreamFacts(shop=shop, version=1, started_at=START, links=links)


def outcome(text, facts=None, product="rose-cream", at_s=30.0):
    facts = facts or demo_facts()
    promise, = [p for p in FINDER.find(text) if p.kind.value != "link"]
    return check_promise(promise, facts, facts.shop.product(product) if product else None, at_s, RULES)


def with_product(facts: StreamFacts, product_id: str, **changes) -> StreamFacts:
    product = replace(facts.shop.product(product_id), **changes)
    return replace(facts, shop=facts.shop.with_products([product]))


# ---------------------------------------------------------------- prices


def test_a_reference_price_above_the_lowest_sale_of_the_seven_days_before_is_false():
    said = outcome("原价九百九十九")
    assert said.outcome is CheckOutcome.CONTRADICTED and said.check == "reference_price_above_7_day_lowest"
    assert "最低成交价 ¥129（2026-11-27）" in said.fact and "2026-11-24 至 2026-11-30" in said.fact


def test_a_reference_price_the_history_bears_out_is_honest_and_an_uncertain_one_unchecked():
    assert outcome("原价一百二十九").outcome is CheckOutcome.HONEST
    assert outcome("原价九十九").outcome is CheckOutcome.HONEST
    assert outcome("原价三位数").outcome is CheckOutcome.UNCHECKED  # 100-999 either side of 129
    assert outcome("原价两位数").outcome is CheckOutcome.HONEST


def test_with_no_sale_in_the_seven_days_the_last_sale_before_them_counts():
    facts = with_product(demo_facts(), "rose-cream", price_history=(PricePoint(date(2026, 11, 1), 199.0),))
    said = outcome("原价二百九十九", facts)
    assert said.outcome is CheckOutcome.CONTRADICTED and "前七日无成交，此前最后成交价 ¥199（2026-11-01）" in said.fact
    assert outcome("原价一百九十九", facts).outcome is CheckOutcome.HONEST
    bare = with_product(demo_facts(), "rose-cream", price_history=())
    assert outcome("原价九百九十九", bare).outcome is CheckOutcome.UNCHECKED


def test_the_seven_days_are_the_shop_s_calendar_days_before_the_claim():
    # 23:59 on 30 November in Shanghai is still 30 November: that day's 135 is not "before".
    facts = replace(demo_facts(), started_at=datetime(2026, 11, 30, 23, 0, tzinfo=timezone(timedelta(hours=8))))
    said = outcome("原价一百三十", facts, at_s=59 * 60)
    assert "2026-11-23 至 2026-11-29" in said.fact and said.outcome is CheckOutcome.CONTRADICTED


def test_a_stated_price_is_checked_against_what_the_link_lists_for_that_quantity():
    assert outcome("今天只要九十九").outcome is CheckOutcome.HONEST
    lower = outcome("今天只要八十九")
    assert lower.outcome is CheckOutcome.CONTRADICTED and "链接标价 ¥99" in lower.fact
    assert outcome("两盒一百二十块", product="mulberry-tea").outcome is CheckOutcome.HONEST
    assert outcome("两盒一百块", product="mulberry-tea").outcome is CheckOutcome.CONTRADICTED
    assert outcome("三盒一百五", product="mulberry-tea").outcome is CheckOutcome.UNCHECKED  # no three-box price
    assert outcome("今天只要九十九", product=None).outcome is CheckOutcome.UNCHECKED  # which product?


# ---------------------------------------------------------------- guarantees and shipping


def test_guarantees_are_checked_against_the_shop_s_enrolment():
    assert outcome("支持七天无理由").outcome is CheckOutcome.HONEST
    assert outcome("运费险我们送了").outcome is CheckOutcome.HONEST
    missing = outcome("假一赔十")
    assert missing.outcome is CheckOutcome.CONTRADICTED and missing.check == "guarantee_not_enrolled"
    assert "未开通 假一赔N" in missing.fact
    assert outcome("支持极速退款").outcome is CheckOutcome.CONTRADICTED


def test_a_larger_n_than_enrolled_is_false_and_the_enrolled_n_honest():
    facts = demo_facts()
    facts = replace(facts, shop=replace(facts.shop, guarantees=facts.shop.guarantees + (
        Enrolment(Guarantee.COUNTERFEIT_COMPENSATION, n=3),)))
    above = outcome("假一赔十", facts)
    assert above.outcome is CheckOutcome.CONTRADICTED and above.check == "guarantee_above_enrolment"
    assert "开通的是 假一赔3" in above.fact
    assert outcome("假一赔三", facts).outcome is CheckOutcome.HONEST


def test_seven_day_returns_promised_for_an_exempt_category_are_false():
    facts = with_product(demo_facts(), "jade-bracelet", category="定制商品")
    said = outcome("支持七天无理由", facts, product="jade-bracelet")
    assert said.outcome is CheckOutcome.CONTRADICTED and "不适用七天无理由退货" in said.fact


def test_shipping_is_checked_against_the_shop_s_terms():
    assert outcome("还包邮").outcome is CheckOutcome.HONEST
    national = outcome("全国包邮")
    assert national.outcome is CheckOutcome.CONTRADICTED and "不含 新疆、西藏" in national.fact
    assert outcome("新疆西藏除外全国包邮").outcome is CheckOutcome.HONEST  # the exceptions were said
    assert outcome("顺丰发货").outcome is CheckOutcome.HONEST
    no_free = demo_facts(shipping=Shipping(free=False, carriers=("中通",)))
    assert outcome("还包邮", no_free).outcome is CheckOutcome.CONTRADICTED
    assert outcome("顺丰发货", no_free).outcome is CheckOutcome.CONTRADICTED
    assert outcome("还包邮", demo_facts(shipping=None)).outcome is CheckOutcome.UNCHECKED


# ---------------------------------------------------------------- stock and sales


def test_stock_far_above_the_claim_is_false_and_near_it_honest():
    said = outcome("最后五单")
    assert said.outcome is CheckOutcome.CONTRADICTED and "平台库存 2,000" in said.fact
    near = with_product(demo_facts(), "rose-cream", stock=(CountAt(8),))
    assert outcome("最后五单", near).outcome is CheckOutcome.HONEST
    unknown = with_product(demo_facts(), "rose-cream", stock=())
    assert outcome("最后五单", unknown).outcome is CheckOutcome.UNCHECKED


def test_the_stock_counted_last_before_the_claim_is_the_one_checked():
    early, late = START + timedelta(minutes=1), START + timedelta(minutes=10)
    facts = with_product(demo_facts(), "rose-cream", stock=(CountAt(500, early), CountAt(4, late)))
    assert outcome("最后五单", facts, at_s=300).outcome is CheckOutcome.CONTRADICTED
    assert outcome("最后五单", facts, at_s=700).outcome is CheckOutcome.HONEST


def test_sales_above_the_platform_s_count_are_false():
    said = outcome("已经卖了十万单了")
    assert said.outcome is CheckOutcome.CONTRADICTED and "平台销量 5,300" in said.fact
    assert outcome("已经卖了五千单").outcome is CheckOutcome.HONEST


# ---------------------------------------------------------------- the facts stage


def lexicon_finding(text, term, label):
    start = text.index(term)
    return Finding(FindingSource.LEXICON, label, 1, "art", (start, start + len(term)), term=term, matched=term,
                   match_kind=MatchKind.LITERAL)


def segment(text, at_s=30.0):
    return Segment(at_s, at_s + 2, text, tuple(text))


def test_a_contradiction_is_a_finding_citing_the_fact_and_the_facts_version():
    checker = FactChecker(lambda: demo_facts())
    findings, checks = checker.check(segment("最后五单"), ())
    finding, = findings
    assert finding.source is FindingSource.FACTS and finding.label == "fake_scarcity" and finding.severity == 2
    assert finding.term == "stock_far_above_claim" and finding.matched == "最后五单"
    assert finding.fact.endswith("[meimei-shop@1]") and "反不正当竞争法第八条" in finding.article
    assert [c.outcome for c in checks] == [CheckOutcome.CONTRADICTED] and checks[0].facts == "meimei-shop@1"


def test_an_honest_promise_takes_back_the_flag_on_its_words_and_nothing_else():
    text = "最后五单,全网最低价"
    near = with_product(demo_facts(), "rose-cream", stock=(CountAt(6),))
    lexicon = (lexicon_finding(text, "最后五单", "fake_scarcity"), lexicon_finding(text, "全网最低价", "absolute_claim"))
    findings, checks = FactChecker(lambda: near).check(segment(text), lexicon)
    assert [f.label for f in findings] == ["absolute_claim"] and checks[0].outcome is CheckOutcome.HONEST
    # A contradicted promise on the same words keeps the flag (and adds its own).
    findings, _ = FactChecker(lambda: demo_facts()).check(segment(text), lexicon)
    assert sorted((f.source.value, f.label) for f in findings) == [
        ("facts", "fake_scarcity"), ("lexicon", "absolute_claim"), ("lexicon", "fake_scarcity")]


def test_without_facts_the_findings_are_left_as_they_were():
    lexicon = (lexicon_finding("最后五单", "最后五单", "fake_scarcity"),)
    assert FactChecker(lambda: None).check(segment("最后五单"), lexicon) == (lexicon, ())


def test_the_product_is_the_link_said_lately_until_the_platform_puts_up_another():
    checker = FactChecker(lambda: demo_facts())
    checker.check(segment("三号链接已经上好了", at_s=40), ())
    _, checks = checker.check(segment("一盒六十九块", at_s=50), ())
    assert checks[0].product == "rose-cream" and checks[0].outcome is CheckOutcome.CONTRADICTED  # the cream is 99
    _, checks = checker.check(segment("一盒六十九块", at_s=60), ())  # link 5 went up at 55 s
    assert checks[0].product == "mulberry-tea" and checks[0].outcome is CheckOutcome.HONEST
    _, checks = checker.check(segment("八号链接假一赔十", at_s=61), ())
    assert [c.product for c in checks] == ["jade-bracelet", "jade-bracelet"]


def test_a_live_stream_reads_its_facts_again_and_a_recording_once():
    now = [0.0]
    loads = []

    def load():
        loads.append(now[0])
        return demo_facts()

    live = FactChecker(load, refresh_s=5.0, clock=lambda: now[0])
    for t in (0.0, 1.0, 4.9, 5.0, 6.0, 11.0):
        now[0] = t
        live.check(segment("家人们好"), ())
    assert loads == [0.0, 5.0, 11.0]
    loads.clear()
    recording = FactChecker(load, clock=lambda: now[0])
    for t in (20.0, 40.0):
        now[0] = t
        recording.check(segment("家人们好"), ())
    assert loads == [20.0]


def test_through_the_detector_a_false_reference_price_is_flagged_with_its_fact_and_a_true_one_passes(pipeline):
    text = "原价九百九十九今天只要九十九"
    plain = pipeline.check_text(text)
    assert "price_deception" in plain.labels and not plain.checks  # the lexicon's pattern, no facts
    false = pipeline.check_text(text, FactChecker(lambda: demo_facts()))
    assert any(f.source is FindingSource.FACTS and f.label == "price_deception" for f in false.findings)
    assert {c.outcome for c in false.checks} == {CheckOutcome.CONTRADICTED, CheckOutcome.HONEST}
    sold_at_999 = with_product(demo_facts(), "rose-cream", price_history=(PricePoint(date(2026, 11, 28), 999.0),))
    true = pipeline.check_text(text, FactChecker(lambda: sold_at_999))
    assert true.action is VerdictAction.PASS and not true.findings
    assert [c.outcome for c in true.checks] == [CheckOutcome.HONEST, CheckOutcome.HONEST]


@pytest.mark.parametrize("field", ["label", "severity"])
def test_a_broken_rule_file_fails_naming_it(tmp_path, field):
    text = (ROOT / "pinocchio" / "data" / "fact_checks.yaml").read_text(encoding="utf-8")
    broken = tmp_path / "fact_checks.yaml"
    broken.write_text(text.replace("label: price_deception", "label: nonsense", 1) if field == "label"
                      else text.replace("severity: 2", "severity: 7", 1), encoding="utf-8")
    from pinocchio.core.errors import ConfigError

    with pytest.raises(ConfigError, match="fact_checks.yaml"):
        load_check_rules(broken)
