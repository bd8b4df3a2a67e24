"""Shop facts in the store: each shop's facts as versioned documents (a new version whenever they
change, never edited, so a finding can name the version it was checked against), which shop each
stream sells for, and its link changes. Plain rows and queries; `facts.catalog` turns them into
the facts' records."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime

from sqlalchemy import UniqueConstraint, func
from sqlmodel import Field, Session, SQLModel, select

from pinocchio.core.clock import utcnow


class Shop(SQLModel, table=True):
    id: str = Field(primary_key=True)  # the platform's shop id
    name: str
    version: int  # the newest version of its facts
    updated_at: datetime = Field(default_factory=utcnow)


class ShopFactsVersion(SQLModel, table=True):
    """One version of a shop's facts, whole, in their canonical JSON form."""

    __tablename__ = "shop_facts"
    __table_args__ = (UniqueConstraint("shop_id", "version"),)

    id: int | None = Field(default=None, primary_key=True)
    shop_id: str = Field(foreign_key="shop.id", index=True)
    version: int
    sha256: str
    body: str  # JSON
    source: str  # the file and line, or who PUT it
    created_at: datetime = Field(default_factory=utcnow)


class StreamShop(SQLModel, table=True):
    """A stream sells for a shop. Keyed by the stream's name (a live feed's, a recording's file
    name), so the platform can say it before the stream is first heard."""

    __tablename__ = "stream_shop"

    stream: str = Field(primary_key=True)
    shop_id: str = Field(foreign_key="shop.id", index=True)
    started_at: datetime | None = None  # 0 s of the stream; None: the scan's start, or the live clock's
    updated_at: datetime = Field(default_factory=utcnow)


class StreamLink(SQLModel, table=True):
    """From a moment on, link number `link` of a stream points at `product`: seconds on the stream's
    clock, or a wall time."""

    __tablename__ = "stream_link"

    id: int | None = Field(default=None, primary_key=True)
    stream: str = Field(index=True)
    link: int
    product: str
    at_s: float | None = None
    at: datetime | None = None
    source: str
    created_at: datetime = Field(default_factory=utcnow)


def canonical(body: dict) -> tuple[str, str]:
    """The JSON that is stored and its sha256: keys sorted, so equal facts hash alike."""
    text = json.dumps(body, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return text, hashlib.sha256(text.encode("utf-8")).hexdigest()


def save_version(session: Session, *, shop_id: str, name: str, body: dict, source: str) -> tuple[int, bool]:
    """Store the shop's facts as its next version unless they equal its newest; (version, changed)."""
    text, digest = canonical(body)
    shop = session.exec(select(Shop).where(Shop.id == shop_id).with_for_update()).first()
    if shop is not None:
        newest = session.exec(select(ShopFactsVersion.sha256).where(
            ShopFactsVersion.shop_id == shop_id, ShopFactsVersion.version == shop.version)).first()
        if newest == digest:
            return shop.version, False
        shop.version += 1
        shop.name, shop.updated_at = name, utcnow()
    else:
        shop = Shop(id=shop_id, name=name, version=1)
    session.add(shop)
    session.flush()
    session.add(ShopFactsVersion(shop_id=shop_id, version=shop.version, sha256=digest, body=text, source=source))
    session.flush()
    return shop.version, True


def version_body(session: Session, shop_id: str, version: int | None = None) -> tuple[int, dict] | None:
    """A shop's facts at `version` (its newest by default), or None."""
    query = select(ShopFactsVersion).where(ShopFactsVersion.shop_id == shop_id)
    if version is None:
        query = query.order_by(ShopFactsVersion.version.desc())
    else:
        query = query.where(ShopFactsVersion.version == version)
    row = session.exec(query.limit(1)).first()
    return None if row is None else (row.version, json.loads(row.body))


def shops(session: Session) -> list[Shop]:
    return list(session.exec(select(Shop).order_by(Shop.id)).all())


def versions(session: Session, shop_id: str) -> list[ShopFactsVersion]:
    return list(session.exec(select(ShopFactsVersion).where(ShopFactsVersion.shop_id == shop_id)
                             .order_by(ShopFactsVersion.version)).all())


def binding(session: Session, stream: str) -> StreamShop | None:
    return session.get(StreamShop, stream)


def bind(session: Session, *, stream: str, shop_id: str, started_at: datetime | None) -> None:
    row = session.get(StreamShop, stream) or StreamShop(stream=stream, shop_id=shop_id)
    row.shop_id, row.updated_at = shop_id, utcnow()
    if started_at is not None:
        row.started_at = started_at
    session.add(row)
    session.flush()


def links(session: Session, stream: str) -> list[StreamLink]:
    return list(session.exec(select(StreamLink).where(StreamLink.stream == stream).order_by(StreamLink.id)).all())


def link_count(session: Session, stream: str) -> int:
    return session.exec(select(func.count()).select_from(StreamLink).where(StreamLink.stream == stream)).one()
