"""`pinocchio shops`: load shop facts (guarantees, prices, stock, sales, stream links) and look at
what is stored. The reading, checking and versioning are `facts.files` and `facts.catalog`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer
from sqlalchemy.engine import Engine
from sqlmodel import Session

from pinocchio.cli.common import (
    DbOption,
    FormatOption,
    OutputFormat,
    emit_json,
    fail,
    or_exit,
    out,
    session,
    visible,
)
from pinocchio.core.clock import aware
from pinocchio.core.errors import NotFound

shops_app = typer.Typer(help="Shop facts: what promises and prices are checked against.", no_args_is_help=True)


def import_facts_files(engine: Engine, paths: list[Path]) -> int:
    """Import facts files into the store, each in its own transaction; every refusal is one
    `error: FILE:LINE: reason` line and the rest is stored. How many refusals there were."""
    from pinocchio.facts.catalog import import_facts
    from pinocchio.facts.files import read_facts_file

    refused = 0
    for path in paths:
        with or_exit():
            read = read_facts_file(path)
            with Session(engine) as s:
                outcome = import_facts(s, read)
                s.commit()
        for saved in outcome.saved:
            what = f"version {saved.version}" if saved.changed else f"unchanged at version {saved.version}"
            typer.echo(f"{path}: shop {saved.shop}: {what}", err=True)  # ids and names were checked: no control codes
        for stream, added in outcome.streams:
            typer.echo(f"{path}: stream {stream}: {added} link change(s) added", err=True)
        for error in outcome.errors:
            fail(error)
        refused += len(outcome.errors)
    return refused


@shops_app.command("import")
def shops_import(files: Annotated[list[Path], typer.Argument(help="Facts files: .yaml (shops and streams) or .csv (products, prices, guarantees or links).")],
                 db: DbOption = None) -> None:
    """Store shop facts; each shop's facts get a new version when they change. Bad entries are
    FILE:LINE: reason (exit 1); the rest is stored."""
    from pinocchio.cli.common import settings
    from pinocchio.store import open_store

    with or_exit():
        engine = open_store(settings(db_url=db).db_url)
    raise typer.Exit(1 if import_facts_files(engine, files) else 0)


@shops_app.command("list")
def shops_list(db: DbOption = None, format: FormatOption = OutputFormat.table) -> None:
    """Every shop with its newest facts version."""
    from rich.table import Table

    from pinocchio.facts.catalog import load_shop, shops_overview

    with session(db) as s:
        rows = []
        for shop in shops_overview(s):
            facts, _ = load_shop(s, shop.id)
            rows.append({"id": shop.id, "name": shop.name, "version": shop.version,
                         "updated_at": shop.updated_at.isoformat(timespec="seconds"), "products": len(facts.products),
                         "guarantees": [e.shown() for e in facts.guarantees]})
    if format is OutputFormat.jsonl:
        for row in rows:
            emit_json(row)
        return
    table = Table(title=f"{len(rows)} shop(s)", title_justify="left")
    for column in ("shop", "name", "version", "guarantees", "products", "updated"):
        table.add_column(column)
    for row in rows:
        table.add_row(visible(row["id"]), visible(row["name"]), str(row["version"]), visible("、".join(row["guarantees"])),
                      str(row["products"]), row["updated_at"])
    out.print(table)


@shops_app.command("show")
def shops_show(shop: Annotated[str, typer.Argument(help="The shop's id.")],
               version: Annotated[Optional[int], typer.Option("--version", min=1, help="This version (default: the newest).")] = None,
               db: DbOption = None) -> None:
    """A shop's facts, as stored (JSON), with their version."""
    from pinocchio.facts.catalog import load_shop

    with session(db) as s:
        loaded = load_shop(s, shop, version)
        if loaded is None:
            with or_exit():
                raise NotFound(f"no shop '{shop}'" + (f" at version {version}" if version else ""))
    facts, number = loaded
    typer.echo(json.dumps({"version": number, **facts.as_json()}, ensure_ascii=False, indent=1))


@shops_app.command("links")
def shops_links(stream: Annotated[str, typer.Argument(help="The stream's name (a live feed's, or a recording's file name).")],
                db: DbOption = None) -> None:
    """Which shop a stream sells for, and its link changes."""
    from pinocchio.store import shops as store

    with session(db) as s:
        bound = store.binding(s, stream)
        if bound is None:
            with or_exit():
                raise NotFound(f"stream '{stream}' sells for no shop")
        started = f", 0 s at {aware(bound.started_at).isoformat()}" if bound.started_at else ""
        lines = [f"{stream}: shop {bound.shop_id}{started}"]
        for row in store.links(s, stream):
            when = f"{row.at_s:g} s" if row.at_s is not None else aware(row.at).isoformat()
            lines.append(f"  {when:>10}  link {row.link:<3}  {row.product}  ({row.source})")
    for line in lines:
        typer.echo(visible(line))
