"""Shop facts in and out: files (YAML and CSV, every refusal FILE:LINE), versions in the store, the
`shops` commands, the HTTP API, and a checked segment on the case page."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta

import pytest
import yaml
from conftest import ROOT
from moderation_world import store_verdicts
from sqlmodel import Session, select
from typer.testing import CliRunner
from web_client import API_KEY, api, login
from web_world import STREAM_NAME

from pinocchio.cli import app
from pinocchio.core.records import CheckOutcome
from pinocchio.facts.catalog import import_facts, load_shop, stream_facts
from pinocchio.facts.checker import FactChecker
from pinocchio.facts.files import read_facts_file
from pinocchio.facts.shop import shop_from_data
from pinocchio.store import open_store, scans
from pinocchio.store.tables import SegmentRow, Stream

SHOP_FILE = ROOT / "fixtures" / "demo" / "shop.yaml"
runner = CliRunner()


def imported(db_url, path):
    engine = open_store(db_url)
    with Session(engine) as session:
        outcome = import_facts(session, read_facts_file(path))
        session.commit()
    return engine, outcome


# ---------------------------------------------------------------- files and versions


def test_the_demo_shop_file_is_stored_as_version_one_and_again_unchanged(db_url):
    engine, outcome = imported(db_url, SHOP_FILE)
    assert [(s.shop, s.version, s.changed) for s in outcome.saved] == [("meimei-shop", 1, True)]
    assert outcome.streams == [("demo_stream.m4a", 3)] and not outcome.errors
    _, again = imported(db_url, SHOP_FILE)
    assert [(s.version, s.changed) for s in again.saved] == [(1, False)] and again.streams == [("demo_stream.m4a", 0)]
    with Session(engine) as session:
        shop, version = load_shop(session, "meimei-shop")
        facts = stream_facts(session, "demo_stream.m4a", None)
    assert version == 1 and shop.product("rose-cream").lowest_before(facts.started_at.date()).price == 129
    assert [(c.link, c.product, c.at_s) for c in facts.links] == [(3, "rose-cream", 0), (5, "mulberry-tea", 55),
                                                                  (8, "jade-bracelet", 79)]
    assert facts.name == "meimei-shop@1" and facts.started_at.utcoffset() == timedelta(0)


def test_a_changed_shop_gets_the_next_version_and_the_old_one_stays(db_url, tmp_path):
    engine, _ = imported(db_url, SHOP_FILE)
    changed = tmp_path / "shop.yaml"
    changed.write_text(SHOP_FILE.read_text(encoding="utf-8").replace("price: 99", "price: 89"), encoding="utf-8")
    _, outcome = imported(db_url, changed)
    assert [(s.version, s.changed) for s in outcome.saved] == [(2, True)]
    with Session(engine) as session:
        assert load_shop(session, "meimei-shop")[0].product("rose-cream").price == 89
        assert load_shop(session, "meimei-shop", 1)[0].product("rose-cream").price == 99


@pytest.mark.parametrize("backend", ["sqlite"])
def test_csv_rows_update_the_newest_facts_one_version_per_shop(db_url, tmp_path):
    engine, _ = imported(db_url, SHOP_FILE)
    prices = tmp_path / "prices.csv"
    prices.write_text("shop,product,date,price\nmeimei-shop,rose-cream,2026-11-30,99\n"
                      "meimei-shop,rose-cream,2026-12-01,95\n", encoding="utf-8")
    products = tmp_path / "products.csv"
    products.write_text("shop,product,name,price,stock\nmeimei-shop,rose-cream,,109,\nmeimei-shop,lip-oil,润唇油,39,500\n",
                        encoding="utf-8")
    guarantees = tmp_path / "guarantees.csv"
    guarantees.write_text("shop,guarantee,n,exempt_categories\nmeimei-shop,假一赔N,3,\nother-shop,极速退款,,\n",
                          encoding="utf-8")
    for path, version in ((prices, 2), (products, 3)):
        _, outcome = imported(db_url, path)
        assert [(s.shop, s.version) for s in outcome.saved] == [("meimei-shop", version)] and not outcome.errors
    _, outcome = imported(db_url, guarantees)
    assert sorted((s.shop, s.version) for s in outcome.saved) == [("meimei-shop", 4), ("other-shop", 1)]
    with Session(engine) as session:
        shop, _ = load_shop(session, "meimei-shop")
    cream = shop.product("rose-cream")
    assert cream.price == 109 and cream.stock[0].count == 2000  # the empty stock cell kept what was there
    assert [(p.day.isoformat(), p.price) for p in cream.price_history][-2:] == [("2026-11-30", 99), ("2026-12-01", 95)]
    assert shop.product("lip-oil").stock[0].count == 500
    assert {e.shown() for e in shop.guarantees} == {"假一赔3", "七天无理由退货", "退货补运费（运费险）"}


BAD_YAML = """shops:
  - id: good-shop
    products:
      - {id: a, price: 10}
  - id: bad-shop
    guarantees:
      - 假一赔N
    products:
      - {id: b, price: 10}
  - id: worse-shop
    products:
      - id: c
        price: ninety
streams:
  - {stream: room1, shop: good-shop, links: [{at: 5, link: 1, product: a}]}
  - {stream: room2, shop: good-shop, links: [{at: 5, link: 1, product: nothing}]}
  - {stream: room3, shop: good-shop, started_at: "2026-12-01 20:00"}
"""


def test_bad_entries_are_file_and_line_and_the_good_ones_are_stored(tmp_path, db_url):
    path = tmp_path / "facts.yaml"
    path.write_text(BAD_YAML, encoding="utf-8")
    engine, outcome = imported(db_url, path)
    assert [s.shop for s in outcome.saved] == ["good-shop"]
    assert outcome.errors == [
        f"{path}:7: 假一赔N needs its n (假一赔三: n: 3)",
        f"{path}:13: not a price: 'ninety'",
        f"{path}:17: a time needs its offset (2026-12-01T20:00:00+08:00)",
        f"{path}:16: stream room2: links[0].product: no product 'nothing' in shop 'good-shop'",
    ]
    assert outcome.streams == [("room1", 1)]


@pytest.mark.parametrize("backend", ["sqlite"])
@pytest.mark.parametrize("content,reason", [
    ("shop,product,date,price\nmeimei-shop,rose-cream,yesterday,99\n", "2: date: not a date (YYYY-MM-DD): 'yesterday'"),
    ("shop,product,date,price\nmeimei-shop,rose-cream,2026-11-30,-5\n", "2: price: a price is a number of yuan"),
    ("shop,product,date,price\nmeimei-shop,nothing,2026-11-30,5\n", "2: no product 'nothing' in shop 'meimei-shop'"),
    ("shop,guarantee\nmeimei-shop,包治百病\n", "2: guarantee: unknown guarantee '包治百病'"),
    ("shop,product,date,price\nmeimei-shop,rose-cream,2026-11-30\n", "2: 3 fields, the header has 4"),
    ("shop,product,date,price\nmeimei-shop,rose\x00,2026-11-30,5\n", "2: a NUL byte at column 17"),
])
def test_a_bad_csv_row_is_file_and_line_and_leaves_its_shop_as_it_was(db_url, tmp_path, content, reason):
    engine, _ = imported(db_url, SHOP_FILE)
    path = tmp_path / "rows.csv"
    path.write_text(content, encoding="utf-8")
    _, outcome = imported(db_url, path)
    assert len(outcome.errors) == 1 and outcome.errors[0].startswith(f"{path}:{reason}"), outcome.errors
    assert not outcome.saved
    with Session(engine) as session:
        assert load_shop(session, "meimei-shop")[1] == 1


@pytest.mark.parametrize("content,reason", [
    ("shop,colour\nx,red\n", "1: not a facts CSV"),
    ("shop,product,date,price,colour\n", "1: unknown column 'colour' for a prices file"),
])
def test_a_csv_that_is_no_facts_file_is_refused_at_its_header(tmp_path, content, reason):
    from pinocchio.core.errors import InputError

    path = tmp_path / "rows.csv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(InputError, match=f"^{path}:{reason}"):
        read_facts_file(path)


# ---------------------------------------------------------------- the commands


@pytest.mark.parametrize("backend", ["sqlite"])
def test_shops_commands_import_list_show_and_links(db_url, tmp_path):
    result = runner.invoke(app, ["shops", "import", "--db", db_url, str(SHOP_FILE)])
    assert result.exit_code == 0, result.output
    assert "shop meimei-shop: version 1" in result.stderr and "3 link change(s) added" in result.stderr
    listed = runner.invoke(app, ["shops", "list", "--db", db_url, "--format", "jsonl"])
    row = json.loads(listed.stdout)
    assert (row["id"], row["version"], row["products"]) == ("meimei-shop", 1, 3)
    shown = json.loads(runner.invoke(app, ["shops", "show", "--db", db_url, "meimei-shop"]).stdout)
    assert shown["version"] == 1 and shown["products"][0]["id"] == "jade-bracelet"
    links = runner.invoke(app, ["shops", "links", "--db", db_url, "demo_stream.m4a"])
    assert "shop meimei-shop" in links.stdout and "link 5" in links.stdout and "mulberry-tea" in links.stdout
    missing = runner.invoke(app, ["shops", "show", "--db", db_url, "nobody"])
    assert missing.exit_code == 2 and missing.stderr.strip() == "error: no shop 'nobody'"
    bad = tmp_path / "bad.csv"
    bad.write_text("shop,guarantee\nmeimei-shop,包治百病\n", encoding="utf-8")
    refused = runner.invoke(app, ["shops", "import", "--db", db_url, str(bad)])
    assert refused.exit_code == 1 and refused.stderr.startswith(f"error: {bad}:2: guarantee: unknown guarantee")


# ---------------------------------------------------------------- the HTTP API


def put(client, shop_id, body, key=API_KEY):
    return client.put(f"/api/v1/shops/{shop_id}", json=body, headers={"X-API-Key": key})


def demo_shop_json() -> dict:
    """The demo shop as the backend would send it: JSON in the stored form, the id in the path."""
    shop = shop_from_data(yaml.safe_load(SHOP_FILE.read_text(encoding="utf-8"))["shops"][0], str).as_json()
    return {k: v for k, v in shop.items() if k != "id"}


def test_the_backend_puts_a_shop_and_posts_a_stream_s_links(client, world):
    first = put(client, "meimei-shop", demo_shop_json())
    assert first.status_code == 201 and first.json() == {"shop": "meimei-shop", "version": 1, "changed": True}
    assert put(client, "meimei-shop", demo_shop_json()).status_code == 200
    got = client.get("/api/v1/shops/meimei-shop", headers={"X-API-Key": API_KEY}).json()
    assert got["version"] == 1 and got["facts"]["shipping"]["excluded_regions"] == ["新疆", "西藏"]
    links = {"shop": "meimei-shop", "links": [{"at": 0, "link": 3, "product": "rose-cream"},
                                              {"at": "2026-12-01T20:01:00+08:00", "link": 5, "product": "mulberry-tea"}]}
    posted = api(client, f"/api/v1/streams/{STREAM_NAME}/links", links)
    assert posted.status_code == 201 and posted.json() == {"stream": STREAM_NAME, "shop": "meimei-shop", "added": 2}
    assert api(client, f"/api/v1/streams/{STREAM_NAME}/links", links).json()["added"] == 0


@pytest.mark.parametrize("backend", ["sqlite"])
@pytest.mark.parametrize("body,status,reason", [
    ({"products": [{"id": "a", "price": "ninety"}]}, 422, "body.products.0.price: not a price: 'ninety'"),
    ({"guarantees": ["包治百病"]}, 422, "body.guarantees.0.guarantee: unknown guarantee '包治百病'"),
    ({"id": "another"}, 422, "body.id: 'another' is not the shop of the path ('meimei-shop')"),
    ({"colour": "red"}, 422, "body.colour: unknown field 'colour'"),
    ({"timezone": "Mars/Olympus"}, 422, "body.timezone: unknown time zone 'Mars/Olympus'"),
])
def test_a_bad_shop_is_refused_with_the_field_and_nothing_is_stored(client, body, status, reason):
    answer = put(client, "meimei-shop", body)
    assert answer.status_code == status and answer.json()["detail"].startswith(reason), answer.text
    assert client.get("/api/v1/shops/meimei-shop", headers={"X-API-Key": API_KEY}).status_code == 404


@pytest.mark.parametrize("backend", ["sqlite"])
def test_links_need_a_known_shop_and_product_and_a_key(client):
    assert put(client, "meimei-shop", {"products": [{"id": "a", "price": 10}]}).status_code == 201
    unknown = api(client, "/api/v1/streams/room9/links", {"shop": "nobody", "links": []})
    assert unknown.status_code == 404 and "no shop 'nobody'" in unknown.json()["detail"]
    product = api(client, "/api/v1/streams/room9/links", {"shop": "meimei-shop", "links": [
        {"at": 1, "link": 1, "product": "zzz"}]})
    assert product.status_code == 422 and "no product 'zzz'" in product.json()["detail"]
    naive = api(client, "/api/v1/streams/room9/links", {"shop": "meimei-shop", "links": [
        {"at": "2026-12-01T20:00:00", "link": 1, "product": "a"}]})
    assert naive.status_code == 422 and "needs its offset" in naive.json()["detail"]
    assert put(client, "meimei-shop", {}, key="wrong").status_code == 401
    assert client.post("/api/v1/streams/room9/links", json={"shop": "meimei-shop"}).status_code == 401


# ---------------------------------------------------------------- on the case page


@pytest.mark.parametrize("backend", ["sqlite"])
def test_the_case_page_shows_the_promises_checked_and_the_fact_a_finding_breaks(client, world, pipeline):
    """A stream's segment checked by the real facts stage, stored as the pipeline stores it, then
    reported by a viewer: its case shows what held, what the facts break, and which facts."""
    assert put(client, "meimei-shop", demo_shop_json()).status_code == 201
    assert api(client, f"/api/v1/streams/{STREAM_NAME}/links",
               {"shop": "meimei-shop", "started_at": "2026-12-01T20:00:00+08:00",
                "links": [{"at": 0, "link": 3, "product": "rose-cream"}]}).status_code == 201
    engine = open_store(world.db_url)
    with Session(engine) as session:
        facts = stream_facts(session, STREAM_NAME, None)
        checked = pipeline.check_text("原价九百九十九,今天只要九十九", FactChecker(lambda: facts))
        verdict = replace(checked, segment=replace(checked.segment, start_s=100.0, end_s=104.0))
        scan = scans.start_scan(session, stream=session.get(Stream, world.stream_id), pipeline_version="test",
                                provenance={})
        row, = store_verdicts(session, scan, [verdict])
        session.commit()
        segment_id = row.id
        assert session.exec(select(SegmentRow).where(SegmentRow.id == segment_id)).one().action == "remind"
    assert {c.outcome for c in verdict.checks} == {CheckOutcome.CONTRADICTED, CheckOutcome.HONEST}
    assert api(client, "/api/v1/reports", {"stream": world.stream_id, "reporter": "viewer_1", "at": 102,
                                           "label": "price_deception"}).status_code == 201
    login(client, "alice", world.password)
    page = client.get(f"/cases/{segment_id}")
    assert page.status_code == 200
    text = page.text
    assert "Promises checked" in text and "against meimei-shop@1" in text
    assert "✗ false" in text and "✓ holds" in text and "最低成交价 ¥129" in text and "链接标价 ¥99" in text
    assert "breaks the fact: 玫瑰面霜 前七日" in text and "明码标价和禁止价格欺诈规定第十六条" in text
