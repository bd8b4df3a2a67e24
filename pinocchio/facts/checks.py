"""Check one spoken promise against a stream's shop facts: honest (the facts bear it out),
contradicted (a finding cites the fact it breaks) or unchecked (the facts do not say). Pure: the
facts, the product the talk is about and the moment come in; nothing is read from the store.

| promise | contradicted when | label (data/fact_checks.yaml) |
|---|---|---|
| reference price (原价 X) | X above the product's lowest sale price in the 7 days before (art. 16) | price_deception |
| stated price (今天只要 Y) | Y is no price the link lists for that quantity | price_deception |
| guarantee (假一赔N, 七天无理由…) | the shop is not enrolled, N above its enrolment, 七天无理由 for an exempt category | false_endorsement |
| shipping (包邮, 全国包邮, 顺丰) | the shop does not ship free, 全国 while regions are left out, a carrier it does not use | price_deception / false_endorsement |
| stock (最后N单) | the platform's stock far above N | fake_scarcity |
| sales (卖了N单) | above the platform's own count | fake_scarcity |
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from pinocchio.core.errors import ConfigError
from pinocchio.core.labels import LABELS
from pinocchio.core.records import Amount, CheckOutcome, Promise, PromiseKind
from pinocchio.core.settings import package_data
from pinocchio.core.yaml_file import read_yaml
from pinocchio.facts.shop import SHOWN, Guarantee, Product, StreamFacts

# The checks each kind of promise may fail: an honest promise of that kind takes back the lexicon's
# and the classifier's findings of these checks' labels on its words.
CHECKS_OF = {
    PromiseKind.REFERENCE_PRICE: ("reference_price_above_7_day_lowest",),
    PromiseKind.STATED_PRICE: ("stated_price_not_listed",),
    PromiseKind.GUARANTEE: ("guarantee_not_enrolled", "guarantee_above_enrolment", "seven_day_return_exempt"),
    PromiseKind.SHIPPING: ("free_shipping_not_offered", "national_free_shipping_excludes_regions", "carrier_not_used"),
    PromiseKind.STOCK: ("stock_far_above_claim",),
    PromiseKind.SALES: ("sales_above_platform",),
    PromiseKind.LINK: (),
}


@dataclass(frozen=True)
class CheckRule:
    label: str
    severity: int
    article: str


@dataclass(frozen=True)
class CheckRules:
    version: str
    rules: dict[str, CheckRule]
    stock_factor: float
    stock_margin: int
    sales_tolerance: float
    price_tolerance: float
    link_memory_s: float

    def labels_of(self, kind: PromiseKind) -> set[str]:
        return {self.rules[name].label for name in CHECKS_OF[kind]}


@functools.cache
def load_check_rules(path: Path | None = None) -> CheckRules:
    path = path or package_data("fact_checks.yaml")
    data = read_yaml(path, ConfigError).data
    try:
        rules = {name: CheckRule(str(r["label"]), int(r["severity"]), str(r["article"]))
                 for name, r in data["checks"].items()}
        wanted = {name for names in CHECKS_OF.values() for name in names}
        if set(rules) != wanted:
            raise ConfigError(f"{path}: checks must be exactly {', '.join(sorted(wanted))}")
        for name, rule in rules.items():
            if rule.label not in LABELS or rule.severity not in (1, 2, 3):
                raise ConfigError(f"{path}: {name}: label must be one of the taxonomy and severity 1-3")
        return CheckRules(version=str(data["version"]), rules=rules, stock_factor=float(data["stock_factor"]),
                          stock_margin=int(data["stock_margin"]), sales_tolerance=float(data["sales_tolerance"]),
                          price_tolerance=float(data["price_tolerance"]), link_memory_s=float(data["link_memory_s"]))
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ConfigError(f"{path}: a key is missing or has the wrong type ({exc})") from None


@dataclass(frozen=True)
class Outcome:
    outcome: CheckOutcome
    check: str  # the check that decided (its rule names the label and article when contradicted)
    fact: str  # the fact, one line, for the reviewer


def _unchecked(fact: str, check: str = "") -> Outcome:
    return Outcome(CheckOutcome.UNCHECKED, check, fact)


def yuan(value: float) -> str:
    return f"¥{value:,.2f}".rstrip("0").rstrip(".")


def check_promise(promise: Promise, facts: StreamFacts, product: Product | None, at_s: float,
                  rules: CheckRules) -> Outcome:
    """What the facts say of one promise said `at_s` seconds into the stream, about `product`."""
    kind = promise.kind
    if kind is PromiseKind.GUARANTEE:
        return _guarantee(promise, facts, product)
    if kind is PromiseKind.SHIPPING:
        return _shipping(promise, facts)
    if kind is PromiseKind.LINK:
        return _unchecked(f"{promise.said}：{product.name}" if product else f"{promise.said}：直播间没有这个链接")
    if product is None:
        return _unchecked("不知道说的是哪个商品（没有链接记录）")
    if kind is PromiseKind.REFERENCE_PRICE:
        return _reference_price(promise.amount, facts, product, at_s, rules)
    if kind is PromiseKind.STATED_PRICE:
        return _stated_price(promise, product, rules)
    if kind is PromiseKind.STOCK:
        return _stock(promise, facts, product, at_s, rules)
    return _sales(promise, facts, product, at_s, rules)


def _reference_price(said: Amount, facts: StreamFacts, product: Product, at_s: float, rules: CheckRules) -> Outcome:
    check = "reference_price_above_7_day_lowest"
    day = facts.moment(at_s).astimezone(facts.shop.zone()).date()
    lowest = product.lowest_before(day)
    if lowest is None:
        return _unchecked(f"{product.name}：{day.isoformat()} 之前没有成交价记录", check)
    in_window = lowest.day >= day - timedelta(days=7)
    basis = (f"{product.name} 前七日（{(day - timedelta(days=7)).isoformat()} 至 {(day - timedelta(days=1)).isoformat()}）"
             f"最低成交价 {yuan(lowest.price)}（{lowest.day.isoformat()}）" if in_window else
             f"{product.name} 前七日无成交，此前最后成交价 {yuan(lowest.price)}（{lowest.day.isoformat()}）")
    if said.low > lowest.price + rules.price_tolerance:
        return Outcome(CheckOutcome.CONTRADICTED, check, f"{basis}；说的原价 {yuan(said.low)} 高于它")
    if said.high <= lowest.price + rules.price_tolerance:
        return Outcome(CheckOutcome.HONEST, check, f"{basis}；说的 {yuan(said.high)} 不高于它")
    return _unchecked(f"{basis}；说的 {said} 说不准", check)


def _stated_price(promise: Promise, product: Product, rules: CheckRules) -> Outcome:
    check = "stated_price_not_listed"
    said = promise.amount
    listed = product.prices_for(promise.quantity)
    shown = "、".join(yuan(p) for p in listed)
    what = f"{product.name}{f' {promise.quantity} 件' if promise.quantity and promise.quantity > 1 else ''}"
    if not listed:
        return _unchecked(f"{what}：链接没有这个数量的标价", check)
    if any(said.low - rules.price_tolerance <= p <= said.high + rules.price_tolerance for p in listed):
        return Outcome(CheckOutcome.HONEST, check, f"{what} 链接标价 {shown}")
    return Outcome(CheckOutcome.CONTRADICTED, check, f"{what} 链接标价 {shown}；说的 {yuan(said.low) if said.exact else said}")


def _guarantee(promise: Promise, facts: StreamFacts, product: Product | None) -> Outcome:
    shop = facts.shop
    guarantee = Guarantee(promise.term)
    enrolled = shop.enrolment(guarantee)
    held = "、".join(e.shown() for e in shop.guarantees) or "无"
    if enrolled is None:
        return Outcome(CheckOutcome.CONTRADICTED, "guarantee_not_enrolled",
                       f"{shop.name} 未开通 {SHOWN[guarantee]}（已开通：{held}）")
    if guarantee is Guarantee.COUNTERFEIT_COMPENSATION:
        said_n = promise.amount.high if promise.amount else 0
        if said_n > (enrolled.n or 0):
            return Outcome(CheckOutcome.CONTRADICTED, "guarantee_above_enrolment",
                           f"{shop.name} 开通的是 {enrolled.shown()}；说的 假一赔{promise.amount}")
        return Outcome(CheckOutcome.HONEST, "guarantee_above_enrolment", f"{shop.name} 已开通 {enrolled.shown()}")
    if guarantee is Guarantee.SEVEN_DAY_RETURN:
        if product is not None and product.category and product.category in enrolled.exempt_categories:
            return Outcome(CheckOutcome.CONTRADICTED, "seven_day_return_exempt",
                           f"{product.name} 属于「{product.category}」，不适用七天无理由退货")
        where = f"（{product.name}：{product.category or '未标类目'}，不在例外类目）" if product else ""
        return Outcome(CheckOutcome.HONEST, "seven_day_return_exempt", f"{shop.name} 已开通 {SHOWN[guarantee]}{where}")
    return Outcome(CheckOutcome.HONEST, "guarantee_not_enrolled", f"{shop.name} 已开通 {SHOWN[guarantee]}")


def _shipping(promise: Promise, facts: StreamFacts) -> Outcome:
    shipping = facts.shop.shipping
    if shipping is None:
        return _unchecked(f"{facts.shop.name} 的资料没有发货条款")
    if promise.term == "sf_express":
        if not shipping.carriers:
            return _unchecked(f"{facts.shop.name} 的资料没有写快递", "carrier_not_used")
        carriers = "、".join(shipping.carriers)
        if any("顺丰" in c for c in shipping.carriers):
            return Outcome(CheckOutcome.HONEST, "carrier_not_used", f"{facts.shop.name} 发货快递：{carriers}")
        return Outcome(CheckOutcome.CONTRADICTED, "carrier_not_used", f"{facts.shop.name} 发货快递：{carriers}（没有顺丰）")
    if not shipping.free:
        return Outcome(CheckOutcome.CONTRADICTED, "free_shipping_not_offered", f"{facts.shop.name} 不包邮")
    if promise.scope == "全国" and shipping.excluded_regions:
        return Outcome(CheckOutcome.CONTRADICTED, "national_free_shipping_excludes_regions",
                       f"{facts.shop.name} 包邮不含 {'、'.join(shipping.excluded_regions)}")
    excluded = f"（不含 {'、'.join(shipping.excluded_regions)}）" if shipping.excluded_regions else ""
    return Outcome(CheckOutcome.HONEST, "free_shipping_not_offered", f"{facts.shop.name} 包邮{excluded}")


def _stock(promise: Promise, facts: StreamFacts, product: Product, at_s: float, rules: CheckRules) -> Outcome:
    check = "stock_far_above_claim"
    count = product.count_at(product.stock, facts.moment(at_s))
    if count is None:
        return _unchecked(f"{product.name}：没有平台库存", check)
    when = f"（{count.at.astimezone(facts.shop.zone()):%m-%d %H:%M}）" if count.at else ""
    basis = f"{product.name} 平台库存 {count.count:,}{when}"
    said = promise.amount
    # Far above even the most the words can mean (最后几单: up to nine) is false; anything near is not.
    if count.count > said.high * rules.stock_factor and count.count - said.high >= rules.stock_margin:
        return Outcome(CheckOutcome.CONTRADICTED, check, f"{basis}；说的 {promise.said}")
    return Outcome(CheckOutcome.HONEST, check, basis)


def _sales(promise: Promise, facts: StreamFacts, product: Product, at_s: float, rules: CheckRules) -> Outcome:
    check = "sales_above_platform"
    count = product.count_at(product.sales, facts.moment(at_s))
    if count is None:
        return _unchecked(f"{product.name}：没有平台销量", check)
    basis = f"{product.name} 平台销量 {count.count:,}"
    said = promise.amount
    ceiling = count.count * (1 + rules.sales_tolerance)
    if said.low > ceiling:
        return Outcome(CheckOutcome.CONTRADICTED, check, f"{basis}；说的 {promise.said}")
    if said.high <= ceiling:
        return Outcome(CheckOutcome.HONEST, check, basis)
    return _unchecked(f"{basis}；说的 {said} 说不准", check)
