"""`pinocchio live` end to end on a real loopback HTTP-FLV feed publishing in real time."""

import json

import pytest
from conftest import WEBHOOK_SECRET, demo_sentences
from test_feeds import free_port, serve_flv
from typer.testing import CliRunner

from pinocchio.cli import app

pytestmark = pytest.mark.slow


def test_live_command_reports_a_claim_while_the_feed_plays(tmp_path, receiver):
    port = free_port()
    start_s = 58.0  # 20 s around the tea's medical claim, with the honest price talk after it
    server = serve_flv(port, 20.0, start_s=start_s)
    try:
        result = CliRunner().invoke(app, ["live", f"http://127.0.0.1:{port}/room7.flv", "--db", str(tmp_path / "l.db"),
                                          "--format", "jsonl", "--duration", "28", "--pause", "0.4",
                                          "--webhook", receiver["url"], "--webhook-secret", WEBHOOK_SECRET])
    finally:
        server.kill()
    objects = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    rows = [o for o in objects if "type" not in o]
    reminders = [o for o in objects if o.get("type") == "reminder"]
    assert rows and {r["stream"] for r in rows} == {"room7"}
    claim = next(s for s in demo_sentences() if "medical_claim" in s["labels"])
    at = claim["start_s"] - start_s
    hits = [r for r in rows if "medical_claim" in r["labels"] and r["action"] == "review"
            and r["start"] < at + claim["end_s"] - claim["start_s"] + 1.5 and r["end"] > at - 1.5]
    assert hits, rows
    medical = [r for r in reminders if r["label"] == "medical_claim"]
    assert len(medical) == 1 and "广告法第十七条" in medical[0]["message"]
    assert medical[0]["start"] == hits[0]["start"]
    assert medical[0] in receiver["good"]  # the same reminder, delivered signed to the platform
    assert receiver["bad_signatures"] == 0
