"""Webhook delivery against a real HTTP receiver on loopback: signatures, retries, dead letters."""

import json

from conftest import WEBHOOK_SECRET as SECRET
from typer.testing import CliRunner

from pinocchio.cli import app
from pinocchio.live.webhooks import WebhookOptions, WebhookSender, failed_deliveries
from pinocchio.store import open_store

FAST = WebhookOptions(attempts=3, initial_s=0.05, max_s=0.1, timeout_s=2)


def test_signed_delivery_survives_two_failures(receiver, tmp_path):
    receiver["plan"] = [500, 503]
    engine = open_store(str(tmp_path / "w.db"))
    sender = WebhookSender(receiver["url"], SECRET, engine, FAST)
    sender.send({"type": "reminder", "label": "medical_claim", "message": "主播请注意"})
    sender.close()
    assert receiver["good"] == [{"type": "reminder", "label": "medical_claim", "message": "主播请注意"}]
    assert receiver["requests"] == 3 and receiver["bad_signatures"] == 0
    assert failed_deliveries(engine) == []


def test_what_still_fails_is_kept_and_listed(receiver, tmp_path):
    receiver["plan"] = [500] * 10
    db = tmp_path / "w.db"
    engine = open_store(str(db))
    sender = WebhookSender(receiver["url"], SECRET, engine, FAST)
    sender.send({"type": "reminder", "label": "superstition"})
    sender.close()
    [failure] = failed_deliveries(engine)
    assert failure.attempts == 3 and failure.last_error == "HTTP 500"
    assert json.loads(failure.payload)["label"] == "superstition"
    result = CliRunner().invoke(app, ["webhooks", "failed", "--db", str(db)])
    assert result.exit_code == 0 and "superstition" in result.stdout and "HTTP 500" in result.stdout


def test_a_wrong_secret_is_refused_and_not_retried(receiver, tmp_path):
    engine = open_store(str(tmp_path / "w.db"))
    sender = WebhookSender(receiver["url"], "wrong", engine, FAST)
    sender.send({"type": "reminder"})
    sender.close()
    assert receiver["bad_signatures"] == 1 and receiver["good"] == []
    assert failed_deliveries(engine)[0].last_error == "HTTP 401"


def test_webhook_needs_a_secret():
    result = CliRunner().invoke(app, ["live", "http://127.0.0.1:9/x.flv", "--webhook", "http://127.0.0.1:9/h",
                                      "--db", ":memory:", "--duration", "1"], env={"PINOCCHIO_WEBHOOK_SECRET": ""})
    assert result.exit_code == 2 and "--webhook needs a secret" in result.output
