"""Shop facts kept in the store (store/shops.py) as records: save a shop's facts as a new version,
read it back, say which shop a stream sells for and when its links changed, and assemble what one
stream's checks need (`stream_facts`, `checker_for`). The CLI's `shops` commands, the HTTP API and
the listening side all come through here."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path

from sqlalchemy.engine import Engine
from sqlmodel import Session

from pinocchio.core.clock import aware, utcnow
from pinocchio.core.errors import InputError, NotFound
from pinocchio.facts.checker import FactChecker
from pinocchio.facts.files import EnrolmentUpdate, FactsFile, PriceUpdate, ProductUpdate, Update
from pinocchio.facts.shop import LinkChange, ShopFacts, StreamBinding, StreamFacts, shop_from_data
from pinocchio.store import shops as store
from pinocchio.store.tables import Stream

log = logging.getLogger(__name__)

LIVE_REFRESH_S = 5.0  # a live stream reads its facts again this often: links the platform posts take effect


@dataclass(frozen=True)
class SavedShop:
    shop: str
    version: int
    changed: bool  # False: the facts equal the newest version, so none was added


def save_shop(session: Session, shop: ShopFacts, source: str) -> SavedShop:
    version, changed = store.save_version(session, shop_id=shop.id, name=shop.name, body=shop.as_json(), source=source)
    return SavedShop(shop.id, version, changed)


def load_shop(session: Session, shop_id: str, version: int | None = None) -> tuple[ShopFacts, int] | None:
    found = store.version_body(session, shop_id, version)
    if found is None:
        return None
    number, body = found
    return shop_from_data(body, lambda place: f"shop {shop_id} v{number}"), number


def link_stream(session: Session, binding: StreamBinding, source: str) -> int:
    """The stream sells for the binding's shop from now on, with these link changes added (the
    ones stored already are not added twice); how many were added. The shop must be known and
    every linked product in it."""
    loaded = load_shop(session, binding.shop)
    if loaded is None:
        raise NotFound(f"no shop '{binding.shop}' (import its facts first)")
    shop, _ = loaded
    for i, link in enumerate(binding.links):
        if shop.product(link.product) is None:
            raise InputError(f"links[{i}].product: no product '{link.product}' in shop '{shop.id}'")
    store.bind(session, stream=binding.stream, shop_id=shop.id, started_at=binding.started_at)
    have = {(r.link, r.product, r.at_s, aware(r.at)) for r in store.links(session, binding.stream)}
    added = 0
    for link in binding.links:
        key = (link.link, link.product, link.at_s, aware(link.at))
        if key in have:
            continue
        session.add(store.StreamLink(stream=binding.stream, link=link.link, product=link.product, at_s=link.at_s,
                                     at=link.at, source=source))
        have.add(key)
        added += 1
    session.flush()
    return added


def stream_facts(session: Session, stream: str, default_start: datetime | None) -> StreamFacts | None:
    """What the checks of a stream need, or None when it sells for no known shop. The stream's
    0 s is the binding's start, else `default_start` (a recording: its scan's start; a live feed:
    its clock's epoch), else now."""
    bound = store.binding(session, stream)
    if bound is None:
        return None
    loaded = load_shop(session, bound.shop_id)
    if loaded is None:
        return None
    shop, version = loaded
    started = aware(bound.started_at) or aware(default_start) or utcnow()
    changes = []
    for row in store.links(session, stream):
        at_s = row.at_s if row.at_s is not None else (aware(row.at) - started).total_seconds()
        changes.append(LinkChange(link=row.link, product=row.product, at_s=max(0.0, at_s), at=aware(row.at)))
    changes.sort(key=lambda c: c.at_s)
    return StreamFacts(shop=shop, version=version, started_at=started, links=tuple(changes))


def stream_name(stream: Stream) -> str:
    """How bindings name a stream: a live feed by its name, a recording by its file name."""
    return stream.name or Path(stream.source).name


def recording_checker(engine: Engine, stream: Stream, started: datetime) -> FactChecker | None:
    """The facts stage of a recording's scan begun at `started`: None when its stream sells for
    no shop (nothing is checked, as before facts existed); the facts are read once."""
    name = stream_name(stream)
    with Session(engine) as session:
        facts = stream_facts(session, name, started)
    if facts is None:
        return None
    log.info("%s: checking promises against %s", name, facts.name)
    return FactChecker(lambda: facts)


def live_checker(engine: Engine, stream_id: int, name: str) -> FactChecker:
    """The facts stage of a live feed: its facts are read again every few seconds, so a shop
    bound, a link put up or a new version while the feed runs is used from then on."""
    def load() -> StreamFacts | None:
        with Session(engine) as session:
            stream = session.get(Stream, stream_id)
            return stream_facts(session, name, stream.live_epoch if stream else None)

    return FactChecker(load, refresh_s=LIVE_REFRESH_S)


def file_stream_facts(read: FactsFile, stream: str | None = None) -> StreamFacts:
    """A stream's facts straight from a facts file, without a store (`pinocchio eval --facts`): the
    stream named, or the file's first; its shop from the same file; 0 s at its start, else now."""
    bindings = [b for b, _ in read.bindings if stream is None or b.stream == stream]
    if not bindings:
        raise InputError(f"{read.path}: no stream {stream!r} in its streams" if stream else
                         f"{read.path}: names no stream (a streams: entry says which shop and links)")
    binding = bindings[0]
    shops = {shop.id: shop for shop, _ in read.shops}
    if binding.shop not in shops:
        raise InputError(f"{read.path}: stream {binding.stream}: its shop {binding.shop!r} is not in the file")
    started = binding.started_at or utcnow()
    links = tuple(LinkChange(c.link, c.product, at_s=c.at_s if c.at_s is not None else
                             max(0.0, (c.at - started).total_seconds())) for c in binding.links)
    return StreamFacts(shop=shops[binding.shop], version=0, started_at=started,
                       links=tuple(sorted(links, key=lambda c: c.at_s)))


# ---------------------------------------------------------------- imports


@dataclass
class ImportOutcome:
    saved: list[SavedShop] = field(default_factory=list)
    streams: list[tuple[str, int]] = field(default_factory=list)  # (stream, links added)
    errors: list[str] = field(default_factory=list)


def import_facts(session: Session, read: FactsFile) -> ImportOutcome:
    """Store what a facts file says: whole shops, then catalogue updates (each shop's onto its
    newest facts: one new version per shop), then streams. A shop with a refused row is left as
    it was; each stream is linked on its own."""
    outcome = ImportOutcome(errors=list(read.errors))
    refused = set(read.refused_shops)
    whole = {shop.id: (shop, where) for shop, where in read.shops if shop.id not in refused}
    by_shop: dict[str, list[tuple[Update, str]]] = {}
    for update, where in read.updates:
        if update.shop not in refused:
            by_shop.setdefault(update.shop, []).append((update, where))
    for shop_id in sorted(set(whole) | set(by_shop)):
        shop, where = whole.get(shop_id, (None, None))
        if shop is None:
            loaded = load_shop(session, shop_id)
            shop = loaded[0] if loaded else ShopFacts(id=shop_id, name=shop_id)
        try:
            for update, place in by_shop.get(shop_id, []):
                shop = _updated(shop, update, place)
        except InputError as exc:
            outcome.errors.append(str(exc))
            continue
        first = where or by_shop[shop_id][0][1]
        outcome.saved.append(save_shop(session, shop, source=first))
    for binding, where in read.bindings:
        try:
            outcome.streams.append((binding.stream, link_stream(session, binding, source=where)))
        except (InputError, NotFound) as exc:
            outcome.errors.append(f"{where}: stream {binding.stream}: {exc}")
    return outcome


def _updated(shop: ShopFacts, update: Update, place: str) -> ShopFacts:
    if isinstance(update, EnrolmentUpdate):
        kept = [e for e in shop.guarantees if e.guarantee is not update.enrolment.guarantee]
        return replace(shop, guarantees=tuple(kept + [update.enrolment]))
    if isinstance(update, PriceUpdate):
        product = shop.product(update.product)
        if product is None:
            raise InputError(f"{place}: no product '{update.product}' in shop '{shop.id}' (list it first)")
        history = [p for p in product.price_history if p.day != update.point.day] + [update.point]
        return shop.with_products([replace(product, price_history=tuple(sorted(history, key=lambda p: p.day)))])
    assert isinstance(update, ProductUpdate)
    old = shop.product(update.product.id)
    if old is None:
        return shop.with_products([update.product])
    changes = {k: getattr(update.product, k) for k in update.given}
    return shop.with_products([replace(old, **changes)])


def shops_overview(session: Session) -> Sequence[store.Shop]:
    return store.shops(session)
