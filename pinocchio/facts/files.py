"""Shop facts from files, for `pinocchio shops import`: a YAML file of whole shops and the streams
they sell on, or CSV files of catalogue rows (products, a price history, guarantees, link changes).
Every refusal is `FILE:LINE: reason`; a shop with a refused row is left as it was and the file's
other shops are still read (a shop half-read could look unenrolled in a guarantee it holds)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from pinocchio.core.csv_file import csv_rows, file_lines
from pinocchio.core.errors import InputError
from pinocchio.core.yaml_file import line_of, read_yaml
from pinocchio.facts.shop import (
    Enrolment,
    FieldReader,
    Path_,
    PricePoint,
    Product,
    ShopFacts,
    StreamBinding,
    binding_from_data,
    link_from_data,
    shop_from_data,
)

TOP_KEYS = ("shops", "streams")
# CSV files, told apart by their header: the columns each must have, and those it may have.
CSV_KINDS = {
    "guarantees": ({"shop", "guarantee"}, {"n", "exempt_categories"}),
    "prices": ({"shop", "product", "date", "price"}, set()),
    "links": ({"stream", "shop", "at", "link", "product"}, {"started_at"}),
    "products": ({"shop", "product"}, {"name", "category", "price", "stock", "sales"}),
}


@dataclass(frozen=True)
class ProductUpdate:
    """A catalogue row: these fields of a product (others are kept as the shop had them)."""

    shop: str
    product: Product
    given: frozenset[str]


@dataclass(frozen=True)
class PriceUpdate:
    shop: str
    product: str
    point: PricePoint


@dataclass(frozen=True)
class EnrolmentUpdate:
    shop: str
    enrolment: Enrolment


Update = ProductUpdate | PriceUpdate | EnrolmentUpdate


@dataclass
class FactsFile:
    """What a file says, each item with its place (FILE:LINE), and what it could not say."""

    path: Path
    shops: list[tuple[ShopFacts, str]] = field(default_factory=list)
    updates: list[tuple[Update, str]] = field(default_factory=list)
    bindings: list[tuple[StreamBinding, str]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    refused_shops: set[str] = field(default_factory=set)  # shops with a refused row: left as they were


def read_facts_file(path: Path | str) -> FactsFile:
    """A facts file by its suffix: .yaml/.yml or .csv. A file that cannot be read at all raises
    InputError; bad entries are in `errors`."""
    path = Path(path)
    if path.suffix.lower() in (".yaml", ".yml"):
        return _yaml_file(path)
    if path.suffix.lower() == ".csv":
        return _csv_file(path)
    raise InputError(f"{path}: a facts file is .yaml, .yml or .csv")


# ---------------------------------------------------------------- YAML


def _yaml_file(path: Path) -> FactsFile:
    document = read_yaml(path, InputError)
    lines = _lines(document.root) if document.root is not None else {}

    def where(place: Path_) -> str:
        for end in range(len(place), -1, -1):
            if place[:end] in lines:
                return f"{path}:{lines[place[:end]]}"
        return f"{path}:1"

    data = document.data
    if not isinstance(data, dict) or not data or set(map(str, data)) - set(TOP_KEYS):
        raise InputError(f"{where(())}: expected a mapping with shops: (a list of shops) and streams: (optional)")
    read = FactsFile(path)
    for i, item in enumerate(_listed(data, "shops", where)):
        try:
            read.shops.append((shop_from_data(item, where, ("shops", i)), where(("shops", i))))
        except InputError as exc:
            read.errors.append(str(exc))
            if isinstance(item, dict) and isinstance(item.get("id"), str):
                read.refused_shops.add(item["id"])
    for i, item in enumerate(_listed(data, "streams", where)):
        try:
            read.bindings.append((binding_from_data(item, where, ("streams", i)), where(("streams", i))))
        except InputError as exc:
            read.errors.append(str(exc))
    return read


def _listed(data: dict, key: str, where) -> list:
    value = data.get(key, [])
    if not isinstance(value, list):
        raise InputError(f"{where((key,))}: {key} is a list")
    return value


def _lines(node: yaml.Node, place: Path_ = ()) -> dict[Path_, int]:
    """The line of every key and list item of a YAML document, by its path."""
    found = {place: line_of(node)}
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            found[place + (key.value,)] = line_of(key)
            found.update({k: v for k, v in _lines(value, place + (key.value,)).items() if k != place + (key.value,)})
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            found.update(_lines(item, place + (i,)))
    return found


# ---------------------------------------------------------------- CSV


def _csv_file(path: Path) -> FactsFile:
    kind: list[str] = []

    def check_header(header: list[str]) -> None:
        columns = set(header)
        for name, (required, optional) in CSV_KINDS.items():
            if required <= columns:
                unknown = columns - required - optional
                if unknown:
                    raise InputError(f"unknown column '{sorted(unknown)[0]}' for a {name} file "
                                     f"(columns: {', '.join(sorted(required | optional))})")
                kind.append(name)
                return
        raise InputError("not a facts CSV: its header must hold the columns of one of "
                         + "; ".join(f"{name} ({', '.join(sorted(req))})" for name, (req, _) in CSV_KINDS.items()))

    read = FactsFile(path)
    links: dict[tuple[str, str], list] = {}
    for number, row in csv_rows(path, file_lines(path), check_header):
        place = f"{path}:{number}"
        if isinstance(row, str):
            read.errors.append(f"{place}: {row}")
            continue
        try:
            _csv_row(kind[0], row, place, read, links)
        except InputError as exc:
            read.errors.append(str(exc))
            if row.get("shop"):
                read.refused_shops.add(row["shop"])
    for (stream, shop), items in links.items():
        started = next((s for s, _ in items if s is not None), None)
        read.bindings.append((StreamBinding(stream=stream, shop=shop, started_at=started,
                                            links=tuple(link for _, link in items)), f"{path}"))
    return read


def _csv_row(kind: str, row: dict, place: str, read: FactsFile, links: dict) -> None:
    reader = FieldReader(lambda column: f"{place}: {column[-1]}" if column else place)
    shop = reader.name(row.get("shop", ""), ("shop",), "shop id")
    if kind == "guarantees":
        data = {"guarantee": row["guarantee"]}
        if row.get("n"):
            data["n"] = row["n"]
        if row.get("exempt_categories"):
            data["exempt_categories"] = [c.strip() for c in row["exempt_categories"].replace("、", "|").split("|") if c.strip()]
        read.updates.append((EnrolmentUpdate(shop, reader.enrolment(data, ("guarantee",))), place))
    elif kind == "prices":
        point = PricePoint(reader.day(row["date"], ("date",)), reader.price(row["price"], ("price",)))
        read.updates.append((PriceUpdate(shop, reader.name(row["product"], ("product",), "product id"), point), place))
    elif kind == "links":
        at = row["at"]
        try:
            at = float(at)
        except ValueError:
            pass
        link = link_from_data({"at": at, "link": row["link"], "product": row["product"]},
                              lambda column: f"{place}: {column[-1]}" if column else place)
        started = reader.moment(row["started_at"], ("started_at",)) if row.get("started_at") else None
        links.setdefault((reader.name(row["stream"], ("stream",), "stream"), shop), []).append((started, link))
    else:
        given = {k for k in ("name", "category", "price", "stock", "sales") if row.get(k)}
        product = Product(id=reader.name(row["product"], ("product",), "product id"),
                          name=reader.text(row.get("name") or row["product"], ("name",)),
                          category=reader.text(row.get("category", ""), ("category",)),
                          price=reader.price(row["price"], ("price",)) if "price" in given else None,
                          stock=reader.counts(row["stock"], ("stock",)) if "stock" in given else (),
                          sales=reader.counts(row["sales"], ("sales",)) if "sales" in given else ())
        read.updates.append((ProductUpdate(shop, product, frozenset(given)), place))
