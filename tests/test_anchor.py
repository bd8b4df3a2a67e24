"""An audit chain anchored outside the database: what the chain alone cannot show — its last events
cut off, everything after an edit hashed again, an event slipped in behind an anchor — is caught
once the head is anchored; a forged anchor is refused; and `audit anchor` / `audit verify
--anchor` do it from the command line. Every column of an event is in its hash."""

import json
from datetime import timedelta

import pytest
from sqlalchemy import delete, update
from sqlmodel import Session, select
from test_audit import realistic
from typer.testing import CliRunner

from pinocchio.cli import app
from pinocchio.core.clock import utcnow
from pinocchio.moderation.audit import anchor_head, check_anchors, read_anchors, verify_chain
from pinocchio.store import open_store
from pinocchio.store.chain import event_hash
from pinocchio.store.tables import ModerationEvent

KEY = "kept-in-a-vault-not-in-the-database"
runner = CliRunner()


@pytest.fixture
def session(db_url):
    with Session(open_store(db_url)) as session:
        realistic(session)
        yield session


def rehash_from(session, first_id: int) -> None:
    """What a careful forger does after an edit: hash every later event of its chain again, so the
    chain is valid."""
    chain = session.get(ModerationEvent, first_id).chain
    rows = session.exec(select(ModerationEvent).where(ModerationEvent.chain == chain).order_by(ModerationEvent.id)).all()
    prev = next((r.hash for r in reversed(rows) if r.id < first_id), "0" * 64)
    for row in rows:
        if row.id < first_id:
            continue
        row.prev_hash = prev
        row.hash = event_hash(prev, row.id, row.created_at, row.actor, row.action, row.subject, row.stream_id,
                              row.payload)
        prev = row.hash
        session.add(row)
    session.flush()


def test_an_anchor_holds_for_the_log_it_was_taken_of(session):
    anchor = anchor_head(session, KEY)
    assert anchor.count > 10 and anchor.last_id >= anchor.count and anchor.valid(KEY)
    report = check_anchors(session, [anchor], KEY)
    assert report.ok and report.covered_id == anchor.last_id and report.after == 0


def test_a_cut_off_tail_passes_the_chain_but_not_the_anchor(session):
    anchor = anchor_head(session, KEY)
    session.exec(delete(ModerationEvent).where(ModerationEvent.id > anchor.last_id - 3))
    assert verify_chain(session).ok  # the chain alone cannot tell
    problems = check_anchors(session, [anchor], KEY).problems
    assert len(problems) == 1 and "cut off the end" in problems[0]


def test_a_rehashed_chain_passes_the_chain_but_not_the_anchor(session):
    anchor = anchor_head(session, KEY)
    session.exec(update(ModerationEvent).where(ModerationEvent.id == 5).values(actor="someone-else"))
    rehash_from(session, 5)
    assert verify_chain(session).ok
    problems = check_anchors(session, [anchor], KEY).problems
    assert len(problems) == 1 and "re-hashed" in problems[0]


def test_an_event_slipped_in_behind_an_anchor_is_caught(session):
    anchor = anchor_head(session, KEY)
    last = session.exec(select(ModerationEvent).order_by(ModerationEvent.id.desc())).first()
    backdated = utcnow() - timedelta(hours=1)
    payload = json.dumps({"at": backdated.isoformat(), "clip": "f" * 64 + ".opus"})
    forged = ModerationEvent(id=last.id + 1, chain=last.chain, created_at=backdated, actor="pinocchio", action="evidence",
                             subject=last.subject, stream_id=last.stream_id, payload=payload, prev_hash=last.hash,
                             hash=event_hash(last.hash, last.id + 1, backdated, "pinocchio", "evidence", last.subject,
                                             last.stream_id, payload))
    session.add(forged)
    session.flush()
    assert verify_chain(session).ok  # correctly chained
    report = check_anchors(session, [anchor], KEY)
    assert report.after == 1 and len(report.problems) == 1 and "added later" in report.problems[0]


def test_a_forged_anchor_is_refused(session):
    anchor = anchor_head(session, KEY)
    assert "not signed with this key" in check_anchors(session, [anchor], "another key").problems[0]


def test_every_column_is_in_the_hash(session):
    for column, value in (("stream_id", None), ("id", 10_000)):
        with session.begin_nested() as savepoint:
            session.exec(update(ModerationEvent).where(ModerationEvent.id == 7).values(**{column: value}))
            report = verify_chain(session)
            assert not report.ok, column
            savepoint.rollback()


def test_anchor_and_verify_from_the_command_line(db_url, tmp_path):
    with Session(open_store(db_url)) as session:
        realistic(session)
    key_file, anchors = tmp_path / "anchor.key", tmp_path / "anchors.jsonl"
    key_file.write_text(KEY + "\n", encoding="utf-8")
    for _ in range(2):
        done = runner.invoke(app, ["audit", "anchor", "--db", db_url, "--key-file", str(key_file), "--out", str(anchors)])
        assert done.exit_code == 0, done.output
    assert len(read_anchors(anchors)) == 2
    ok = runner.invoke(app, ["audit", "verify", "--db", db_url, "--anchor", str(anchors), "--key-file", str(key_file)])
    assert ok.exit_code == 0 and "2 anchors hold" in ok.output
    with Session(open_store(db_url)) as session:
        last = session.exec(select(ModerationEvent.id).order_by(ModerationEvent.id.desc())).first()
        session.exec(delete(ModerationEvent).where(ModerationEvent.id == last))
        session.commit()
    cut = runner.invoke(app, ["audit", "verify", "--db", db_url, "--anchor", str(anchors), "--key-file", str(key_file)])
    assert cut.exit_code == 1 and "cut off the end" in cut.output
    missing = runner.invoke(app, ["audit", "anchor", "--db", db_url], env={"PINOCCHIO_ANCHOR_KEY": ""})
    assert missing.exit_code == 2 and "no anchor key" in missing.output
    anchors.write_text("not an anchor\n", encoding="utf-8")
    bad = runner.invoke(app, ["audit", "verify", "--db", db_url, "--anchor", str(anchors), "--key-file", str(key_file)])
    assert bad.exit_code == 2 and f"{anchors}:1: not an anchor" in bad.output


def test_an_anchor_posted_to_a_webhook_is_signed(db_url, tmp_path):
    import hashlib
    import hmac
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    with Session(open_store(db_url)) as session:
        realistic(session)
    received = []

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((body, self.headers["X-Pinocchio-Signature"]))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.handle_request, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/anchors"
    done = runner.invoke(app, ["audit", "anchor", "--db", db_url, "--webhook", url], env={"PINOCCHIO_ANCHOR_KEY": KEY})
    server.server_close()
    assert done.exit_code == 0, done.output
    (body, signature), = received
    assert signature == "sha256=" + hmac.new(KEY.encode(), body, hashlib.sha256).hexdigest()
    assert json.loads(body)["last_id"] >= json.loads(body)["count"] > 10


def test_a_stream_chain_cut_short_before_the_last_event_is_caught(session):
    """The last events of one stream's chain deleted, while other chains' later events stay: each
    chain still links up, but the anchor counted them."""
    anchor = anchor_head(session, KEY)
    chains = session.exec(select(ModerationEvent.chain, ModerationEvent.id).order_by(ModerationEvent.id.desc())).all()
    last_chain = chains[0].chain
    victim = next(row for row in chains if row.chain != last_chain)  # another chain's last event
    session.exec(delete(ModerationEvent).where(ModerationEvent.id == victim.id))
    assert verify_chain(session).ok  # the chains alone cannot tell
    problems = check_anchors(session, [anchor], KEY).problems
    assert len(problems) == 1 and "cut off the end of a chain" in problems[0]


def test_an_anchor_of_the_one_chain_before_chains_still_holds(session):
    """Anchors written before the log had a chain per stream (format 1) vouched for the last
    event's hash; they are still checked that way."""
    from pinocchio.moderation.audit import Anchor

    last = session.exec(select(ModerationEvent).order_by(ModerationEvent.id.desc())).first()
    count = len(session.exec(select(ModerationEvent.id)).all())
    old = Anchor(last_id=last.id, hash=last.hash, count=count, anchored_at=utcnow().isoformat(), format=1).signed(KEY)
    assert check_anchors(session, [old], KEY).ok
    forged = Anchor(last_id=last.id, hash="0" * 64, count=count, anchored_at=utcnow().isoformat(), format=1).signed(KEY)
    assert "re-hashed" in check_anchors(session, [forged], KEY).problems[0]
