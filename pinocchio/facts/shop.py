"""What the platform knows of a shop, as typed records: the guarantees it is enrolled in (小店信任卡:
假一赔N, 七天无理由 with its exempt categories, 退货补运费 / 运费险, 破损包退, 退款不退货, 极速退款), its
shipping terms, and its products with their listed prices, price history, stock and sales; and which
product each link of a stream points at, from when.

One reader (`shop_from_data`) takes a shop from plain values, whether a YAML file, a CSV row set or
the API's JSON gave them; every refusal names its place through `where` (file:line, or the field).
`ShopFacts.as_json` is the canonical form that is stored, hashed and versioned."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pinocchio.core.errors import InputError
from pinocchio.core.text import checked_name

Path_ = tuple[str | int, ...]  # where a value sits in the document: ("products", 0, "price")
Where = Callable[[Path_], str]


class Guarantee(StrEnum):
    COUNTERFEIT_COMPENSATION = "counterfeit_compensation"  # 假一赔N
    SEVEN_DAY_RETURN = "seven_day_return"  # 七天无理由退货
    RETURN_SHIPPING = "return_shipping"  # 退货补运费 / 运费险
    DAMAGE_REFUND = "damage_refund"  # 破损包退
    REFUND_WITHOUT_RETURN = "refund_without_return"  # 退款不退货
    FAST_REFUND = "fast_refund"  # 极速退款


SHOWN = {Guarantee.COUNTERFEIT_COMPENSATION: "假一赔N", Guarantee.SEVEN_DAY_RETURN: "七天无理由退货",
         Guarantee.RETURN_SHIPPING: "退货补运费（运费险）", Guarantee.DAMAGE_REFUND: "破损包退",
         Guarantee.REFUND_WITHOUT_RETURN: "退款不退货", Guarantee.FAST_REFUND: "极速退款"}
# The names a facts file may use for a guarantee: its id or how the platform writes it.
GUARANTEE_NAMES = {g.value: g for g in Guarantee} | {
    "假一赔N": Guarantee.COUNTERFEIT_COMPENSATION, "假一赔": Guarantee.COUNTERFEIT_COMPENSATION,
    "七天无理由": Guarantee.SEVEN_DAY_RETURN, "七天无理由退货": Guarantee.SEVEN_DAY_RETURN,
    "退货补运费": Guarantee.RETURN_SHIPPING, "运费险": Guarantee.RETURN_SHIPPING, "退货包运费": Guarantee.RETURN_SHIPPING,
    "破损包退": Guarantee.DAMAGE_REFUND, "退款不退货": Guarantee.REFUND_WITHOUT_RETURN, "极速退款": Guarantee.FAST_REFUND}
MAX_PRICE = 10_000_000.0
MAX_COUNT = 10**12


@dataclass(frozen=True)
class Enrolment:
    guarantee: Guarantee
    n: int | None = None  # 假一赔N: the N enrolled
    exempt_categories: tuple[str, ...] = ()  # 七天无理由: categories it does not cover

    def shown(self) -> str:
        if self.guarantee is Guarantee.COUNTERFEIT_COMPENSATION:
            return f"假一赔{self.n}" if self.n else SHOWN[self.guarantee]
        return SHOWN[self.guarantee]


@dataclass(frozen=True)
class Shipping:
    free: bool  # 包邮
    excluded_regions: tuple[str, ...] = ()  # where 包邮 does not reach (新疆, 西藏)
    carriers: tuple[str, ...] = ()  # who ships (顺丰, 中通); empty: not given


@dataclass(frozen=True)
class PricePoint:
    day: date
    price: float  # the lowest price it sold at that day (成交价)


@dataclass(frozen=True)
class Sku:
    name: str
    quantity: int  # how many units the price buys (两盒装: 2)
    price: float


@dataclass(frozen=True)
class CountAt:
    count: int
    at: datetime | None = None  # when the platform counted; None: as of when the facts were given


@dataclass(frozen=True)
class Product:
    id: str
    name: str
    category: str = ""
    price: float | None = None  # the listed price of one unit at the link
    skus: tuple[Sku, ...] = ()
    price_history: tuple[PricePoint, ...] = ()  # by day, oldest first
    stock: tuple[CountAt, ...] = ()  # the platform's stock, oldest count first
    sales: tuple[CountAt, ...] = ()  # the platform's own sales count, oldest first

    def prices_for(self, quantity: int | None) -> list[float]:
        """What a buyer pays for `quantity` units at the link (None or 1: one unit, or any listed price)."""
        if quantity in (None, 1):
            return [p for p in [self.price, *(s.price for s in self.skus if s.quantity == 1)] if p is not None]
        return [s.price for s in self.skus if s.quantity == quantity]

    def lowest_before(self, day: date, days: int = 7) -> PricePoint | None:
        """The lowest price it sold at in the `days` days before `day`; with no sale in them, the
        last sale before (明码标价和禁止价格欺诈规定 art. 16)."""
        window = [p for p in self.price_history if day - timedelta(days=days) <= p.day < day]
        if window:
            return min(window, key=lambda p: (p.price, p.day))
        earlier = [p for p in self.price_history if p.day < day]
        return earlier[-1] if earlier else None

    def count_at(self, counts: Sequence[CountAt], moment: datetime) -> CountAt | None:
        """The last count at or before `moment`; the first one when all came later."""
        before = [c for c in counts if c.at is None or c.at <= moment]
        return before[-1] if before else (counts[0] if counts else None)


@dataclass(frozen=True)
class ShopFacts:
    id: str
    name: str
    timezone: str = "Asia/Shanghai"
    guarantees: tuple[Enrolment, ...] = ()
    shipping: Shipping | None = None
    products: tuple[Product, ...] = ()

    def product(self, product_id: str) -> Product | None:
        return next((p for p in self.products if p.id == product_id), None)

    def enrolment(self, guarantee: Guarantee) -> Enrolment | None:
        return next((e for e in self.guarantees if e.guarantee is guarantee), None)

    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def with_products(self, products: Sequence[Product]) -> "ShopFacts":
        """These products added, or in place of the ones with their ids."""
        given = {p.id: p for p in products}
        kept = [given.pop(p.id, p) for p in self.products]
        return replace(self, products=tuple(kept + list(given.values())))

    def as_json(self) -> dict:
        """The canonical form: what is stored, hashed and shown, and what `shop_from_data` reads back."""
        def counts(values: Sequence[CountAt]) -> list[dict]:
            return [{"count": c.count, **({"at": c.at.isoformat()} if c.at else {})} for c in values]

        found: dict[str, Any] = {"id": self.id, "name": self.name, "timezone": self.timezone,
                                 "guarantees": [{"guarantee": e.guarantee.value,
                                                 **({"n": e.n} if e.n is not None else {}),
                                                 **({"exempt_categories": list(e.exempt_categories)}
                                                    if e.exempt_categories else {})}
                                                for e in sorted(self.guarantees, key=lambda e: e.guarantee.value)]}
        if self.shipping is not None:
            found["shipping"] = {"free": self.shipping.free, "excluded_regions": list(self.shipping.excluded_regions),
                                 "carriers": list(self.shipping.carriers)}
        found["products"] = [
            {"id": p.id, "name": p.name, "category": p.category,
             **({"price": p.price} if p.price is not None else {}),
             "skus": [{"name": s.name, "quantity": s.quantity, "price": s.price} for s in p.skus],
             "price_history": [{"date": x.day.isoformat(), "price": x.price} for x in p.price_history],
             "stock": counts(p.stock), "sales": counts(p.sales)}
            for p in sorted(self.products, key=lambda p: p.id)]
        return found


@dataclass(frozen=True)
class LinkChange:
    """From `at` on, link number `link` of a stream points at `product`. The time is seconds of the
    stream's clock, or a wall time that becomes one once the stream's start is known."""

    link: int
    product: str
    at_s: float | None = None
    at: datetime | None = None


@dataclass(frozen=True)
class StreamBinding:
    """A stream (by its name: a live feed's, or a recording's file name) sold for a shop: when it
    began (for the 7 days before), and its link changes."""

    stream: str
    shop: str
    started_at: datetime | None = None
    links: tuple[LinkChange, ...] = ()


@dataclass(frozen=True)
class StreamFacts:
    """What the checks of one stream need: its shop's facts at one version, when the stream began,
    and its link changes on the stream's clock (oldest first)."""

    shop: ShopFacts
    version: int
    started_at: datetime
    links: tuple[LinkChange, ...] = ()
    seen: tuple[LinkChange, ...] = field(default=(), compare=False)

    @property
    def name(self) -> str:
        return f"{self.shop.id}@{self.version}"

    def moment(self, at_s: float) -> datetime:
        return self.started_at + timedelta(seconds=at_s)

    def link_product(self, link: int, at_s: float) -> str | None:
        """The product link number `link` points at, at `at_s` (or its first product if it was put up later)."""
        changes = [c for c in self.links if c.link == link]
        before = [c for c in changes if (c.at_s or 0.0) <= at_s]
        chosen = before[-1] if before else (changes[0] if changes else None)
        return chosen.product if chosen else None

    def latest_link(self, at_s: float) -> LinkChange | None:
        """The link put up last at or before `at_s`: the product being presented."""
        before = [c for c in self.links if (c.at_s or 0.0) <= at_s]
        return before[-1] if before else None


# ---------------------------------------------------------------- reading plain values


def shop_from_data(data: Any, where: Where, path: Path_ = ()) -> ShopFacts:
    """A shop from plain values (YAML, JSON or the canonical form); InputError naming the place."""
    reader = FieldReader(where)
    shop = reader.mapping(data, path, required={"id"},
                          allowed={"id", "name", "timezone", "guarantees", "shipping", "products"})
    shop_id = reader.name(shop["id"], path + ("id",), "shop id")
    zone = reader.text(shop.get("timezone", "Asia/Shanghai"), path + ("timezone",))
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        reader.fail(path + ("timezone",), f"unknown time zone {zone!r} (an IANA name such as Asia/Shanghai)")
    products = tuple(product_from_data(p, where, path + ("products", i))
                     for i, p in enumerate(reader.sequence(shop.get("products", []), path + ("products",))))
    ids = [p.id for p in products]
    if len(set(ids)) != len(ids):
        reader.fail(path + ("products",), f"product ids repeat: {sorted({i for i in ids if ids.count(i) > 1})}")
    guarantees = tuple(reader.enrolment(g, path + ("guarantees", i))
                       for i, g in enumerate(reader.sequence(shop.get("guarantees", []), path + ("guarantees",))))
    kinds = [g.guarantee for g in guarantees]
    if len(set(kinds)) != len(kinds):
        reader.fail(path + ("guarantees",), "a guarantee is listed twice")
    shipping = None
    if shop.get("shipping") is not None:
        s = reader.mapping(shop["shipping"], path + ("shipping",), required={"free"},
                           allowed={"free", "excluded_regions", "carriers"})
        shipping = Shipping(free=reader.flag(s["free"], path + ("shipping", "free")),
                            excluded_regions=reader.words(s.get("excluded_regions", []), path + ("shipping", "excluded_regions")),
                            carriers=reader.words(s.get("carriers", []), path + ("shipping", "carriers")))
    return ShopFacts(id=shop_id, name=reader.text(shop.get("name", shop_id), path + ("name",)), timezone=zone,
                     guarantees=guarantees, shipping=shipping, products=products)


def product_from_data(data: Any, where: Where, path: Path_ = ()) -> Product:
    reader = FieldReader(where)
    p = reader.mapping(data, path, required={"id"},
                       allowed={"id", "name", "category", "price", "skus", "price_history", "stock", "sales"})
    product_id = reader.name(p["id"], path + ("id",), "product id")
    skus = tuple(reader.sku(s, path + ("skus", i)) for i, s in enumerate(reader.sequence(p.get("skus", []), path + ("skus",))))
    return Product(id=product_id, name=reader.text(p.get("name", product_id), path + ("name",)),
                   category=reader.text(p.get("category", ""), path + ("category",)),
                   price=None if p.get("price") is None else reader.price(p["price"], path + ("price",)),
                   skus=skus, price_history=reader.history(p.get("price_history", []), path + ("price_history",)),
                   stock=reader.counts(p.get("stock", []), path + ("stock",)),
                   sales=reader.counts(p.get("sales", []), path + ("sales",)))


def binding_from_data(data: Any, where: Where, path: Path_ = ()) -> StreamBinding:
    reader = FieldReader(where)
    b = reader.mapping(data, path, required={"stream", "shop"}, allowed={"stream", "shop", "started_at", "links"})
    return StreamBinding(stream=reader.name(b["stream"], path + ("stream",), "stream"),
                         shop=reader.name(b["shop"], path + ("shop",), "shop id"),
                         started_at=None if b.get("started_at") is None else reader.moment(b["started_at"], path + ("started_at",)),
                         links=tuple(link_from_data(x, where, path + ("links", i))
                                     for i, x in enumerate(reader.sequence(b.get("links", []), path + ("links",)))))


def link_from_data(data: Any, where: Where, path: Path_ = ()) -> LinkChange:
    reader = FieldReader(where)
    x = reader.mapping(data, path, required={"at", "link", "product"}, allowed={"at", "link", "product"})
    link = reader.count(x["link"], path + ("link",))
    if not 1 <= link <= 999:
        reader.fail(path + ("link",), "a link number is 1 to 999")
    product = reader.name(x["product"], path + ("product",), "product id")
    at = x["at"]
    if isinstance(at, (int, float)) and not isinstance(at, bool):
        if not (math.isfinite(at) and 0 <= at <= 7 * 86400):
            reader.fail(path + ("at",), "seconds into the stream: 0 to 604800")
        return LinkChange(link=link, product=product, at_s=float(at))
    return LinkChange(link=link, product=product, at=reader.moment(at, path + ("at",)))


class FieldReader:
    """Checks plain values one field at a time; the first bad one fails naming its place."""

    def __init__(self, where: Where):
        self.where = where

    def fail(self, path: Path_, reason: str):
        raise InputError(f"{self.where(path)}: {reason}")

    def mapping(self, value: Any, path: Path_, required: set[str], allowed: set[str]) -> dict:
        if not isinstance(value, dict):
            self.fail(path, f"expected a mapping with {', '.join(sorted(required))}")
        unknown = set(map(str, value)) - allowed
        if unknown:
            self.fail(path + (sorted(unknown)[0],), f"unknown field {sorted(unknown)[0]!r} (fields: {', '.join(sorted(allowed))})")
        missing = required - set(value)
        if missing:
            self.fail(path, f"missing {', '.join(sorted(missing))}")
        return value

    def sequence(self, value: Any, path: Path_) -> list:
        if not isinstance(value, list):
            self.fail(path, "expected a list")
        return value

    def text(self, value: Any, path: Path_, limit: int = 200) -> str:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str):
            self.fail(path, "expected text")
        try:
            return checked_name(value, "the value", limit) if value.strip() else ""
        except InputError as exc:
            self.fail(path, str(exc))

    def name(self, value: Any, path: Path_, what: str) -> str:
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str):
            self.fail(path, f"a {what} is text")
        try:
            return checked_name(value, f"a {what}", 120)
        except InputError as exc:
            self.fail(path, str(exc))

    def words(self, value: Any, path: Path_) -> tuple[str, ...]:
        return tuple(self.text(v, path + (i,)) for i, v in enumerate(self.sequence(value, path)))

    def flag(self, value: Any, path: Path_) -> bool:
        if not isinstance(value, bool):
            self.fail(path, "expected true or false")
        return value

    def price(self, value: Any, path: Path_) -> float:
        if isinstance(value, str):
            try:
                value = float(value.strip().lstrip("¥￥"))
            except ValueError:
                self.fail(path, f"not a price: {value!r}")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                or not 0 <= value <= MAX_PRICE:
            self.fail(path, f"a price is a number of yuan from 0 to {MAX_PRICE:,.0f}")
        return round(float(value), 2)

    def count(self, value: Any, path: Path_) -> int:
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value.strip())
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_COUNT:
            self.fail(path, f"expected a whole number from 0 to {MAX_COUNT:,}")
        return value

    def day(self, value: Any, path: Path_) -> date:
        if isinstance(value, datetime):
            return value.date()
        if isinstance(value, date):
            return value
        try:
            return date.fromisoformat(str(value).strip())
        except ValueError:
            self.fail(path, f"not a date (YYYY-MM-DD): {value!r}")

    def moment(self, value: Any, path: Path_) -> datetime:
        if isinstance(value, datetime):
            moment = value
        else:
            try:
                moment = datetime.fromisoformat(str(value).strip())
            except ValueError:
                self.fail(path, f"not a time in ISO 8601: {value!r}")
        if moment.tzinfo is None:
            self.fail(path, "a time needs its offset (2026-12-01T20:00:00+08:00)")
        return moment

    def enrolment(self, value: Any, path: Path_) -> Enrolment:
        if isinstance(value, str):
            value = {"guarantee": value}
        g = self.mapping(value, path, required={"guarantee"}, allowed={"guarantee", "n", "exempt_categories"})
        name = self.text(g["guarantee"], path + ("guarantee",))
        if name not in GUARANTEE_NAMES:
            self.fail(path + ("guarantee",), f"unknown guarantee {name!r} (one of: {', '.join(g.value for g in Guarantee)}, "
                                              f"or {', '.join(n for n in GUARANTEE_NAMES if not n.isascii())})")
        guarantee = GUARANTEE_NAMES[name]
        n = None
        if guarantee is Guarantee.COUNTERFEIT_COMPENSATION:
            if "n" not in g:
                self.fail(path, "假一赔N needs its n (假一赔三: n: 3)")
            n = self.count(g["n"], path + ("n",))
            if not 1 <= n <= 100:
                self.fail(path + ("n",), "n is 1 to 100")
        elif "n" in g:
            self.fail(path + ("n",), "only 假一赔N has an n")
        exempt = self.words(g.get("exempt_categories", []), path + ("exempt_categories",))
        if exempt and guarantee is not Guarantee.SEVEN_DAY_RETURN:
            self.fail(path + ("exempt_categories",), "only 七天无理由 has exempt categories")
        return Enrolment(guarantee=guarantee, n=n, exempt_categories=exempt)

    def sku(self, value: Any, path: Path_) -> Sku:
        s = self.mapping(value, path, required={"quantity", "price"}, allowed={"name", "quantity", "price"})
        quantity = self.count(s["quantity"], path + ("quantity",))
        if not 1 <= quantity <= 1000:
            self.fail(path + ("quantity",), "a quantity is 1 to 1000")
        return Sku(name=self.text(s.get("name", f"{quantity}件"), path + ("name",)), quantity=quantity,
                   price=self.price(s["price"], path + ("price",)))

    def history(self, value: Any, path: Path_) -> tuple[PricePoint, ...]:
        if isinstance(value, dict):  # {2026-11-24: 129, ...}
            points = [PricePoint(self.day(d, path + (str(d),)), self.price(p, path + (str(d),))) for d, p in value.items()]
        else:
            points = []
            for i, item in enumerate(self.sequence(value, path)):
                x = self.mapping(item, path + (i,), required={"date", "price"}, allowed={"date", "price"})
                points.append(PricePoint(self.day(x["date"], path + (i, "date")), self.price(x["price"], path + (i, "price"))))
        days = [p.day for p in points]
        if len(set(days)) != len(days):
            self.fail(path, "a day is listed twice (one lowest price a day)")
        return tuple(sorted(points, key=lambda p: p.day))

    def counts(self, value: Any, path: Path_) -> tuple[CountAt, ...]:
        if not isinstance(value, list):  # a plain number: as of when the facts were given
            return (CountAt(self.count(value, path)),)
        counts = []
        for i, item in enumerate(value):
            x = self.mapping(item, path + (i,), required={"count"}, allowed={"count", "at"})
            counts.append(CountAt(self.count(x["count"], path + (i, "count")),
                                  None if x.get("at") is None else self.moment(x["at"], path + (i, "at"))))
        if sum(c.at is None for c in counts) > 1:
            self.fail(path, "only one count may go without its time")
        return tuple(sorted(counts, key=lambda c: (c.at is not None, c.at or datetime.min)))
