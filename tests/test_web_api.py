"""The platform's HTTP API: reports and appeals in, receipts out, and every refusal a status with
a one-line reason (bad JSON, bad fields, bad rows the library refuses, rate limits)."""

from __future__ import annotations

from datetime import timedelta, timezone

import pytest
from sqlmodel import Session, select
from web_client import api, login
from web_world import STREAM_NAME, STREAMER

from pinocchio.core.clock import aware
from pinocchio.store import open_store, scans, tables


def report(client, **fields):
    return api(client, "/api/v1/reports", fields)


def test_a_report_by_stream_name_and_seconds_gets_a_receipt(client, world):
    answer = report(client, stream=STREAM_NAME, reporter="viewer_7719", at=58.5, label="medical_claim",
                    comment="桑叶茶能治糖尿病？")
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert body["status"] == "accepted" and body["credibility"] == 0.5
    assert world.case_id in body["segment_ids"] and isinstance(body["report_id"], int)
    again = report(client, stream=world.stream_id, reporter="viewer_7719", at=59)
    assert again.status_code == 201 and again.json() == {**body, "status": "folded", "segment_ids": []}


def test_a_report_by_wall_time_lands_on_the_segment_said_then(client, world):
    with Session(open_store(world.db_url)) as session:  # the scan began ten minutes ago
        scan = scans.completed_scan(session, stream_id=world.stream_id)
        scan.started_at = started = aware(scan.started_at) - timedelta(minutes=10)
        session.add(scan)
        session.commit()
    at = (started + timedelta(seconds=65)).astimezone(timezone(timedelta(hours=8))).isoformat()
    answer = report(client, stream=world.stream_id, reporter="u1", at=at)
    assert answer.status_code == 201 and world.remind_id in answer.json()["segment_ids"]


@pytest.mark.parametrize("body, status, reason", [
    (b"{\"stream\": 1, ", 422, "body is not JSON"),
    (b"[1, 2]", 422, "body: Input should be a valid dictionary"),
    ({"stream": 1, "reporter": "u1"}, 422, "at: Field required"),
    ({"stream": 1, "reporter": "u1", "at": 5, "when": 3}, 422, "when: Extra inputs are not permitted"),
    ({"stream": 1, "reporter": "u1", "at": 5, "label": "lies"}, 422, "label 'lies' is not one of: absolute_claim"),
    ({"stream": 1, "reporter": "u1", "at": 9999}, 422, "past the end of stream 1"),
    ({"stream": 1, "reporter": "u1", "at": -3}, 422, "must be 0 or more"),
    ({"stream": 1, "reporter": "u1", "at": "2025-06-01T20:15:00"}, 422, "has no UTC offset"),
    ({"stream": 1, "reporter": "u1", "at": "yesterday"}, 422, "neither seconds nor an ISO 8601 time"),
    ({"stream": 1, "reporter": " ", "at": 5}, 422, "reporter must be a non-empty id"),
    ({"stream": 1, "reporter": "u1", "at": 5, "comment": "长" * 2001}, 422, "more than 2000"),
    ({"stream": "no-such-room", "reporter": "u1", "at": 5}, 404, "stream no-such-room not found"),
])
def test_a_bad_report_is_refused_with_its_reason_and_nothing_is_stored(client, world, body, status, reason):
    if isinstance(body, bytes):
        answer = client.post("/api/v1/reports", content=body,
                             headers={"Authorization": "Bearer test-api-key-0123456789", "Content-Type": "application/json"})
    else:
        answer = report(client, **body)
    assert answer.status_code == status and reason in answer.json()["detail"], answer.text
    with Session(open_store(world.db_url)) as session:
        assert session.exec(select(tables.ModerationEvent).where(tables.ModerationEvent.action == "report")).first() is None


def test_a_flood_from_one_reporter_is_refused_with_429(client, world):
    for i in range(10):  # 70 s apart: ten separate reports, the limit per hour
        assert report(client, stream=world.stream_id, reporter="flooder", at=i * 50.0).status_code == 201
    answer = report(client, stream=world.stream_id, reporter="flooder", at=590)
    assert answer.status_code == 429 and "limit 10" in answer.json()["detail"]
    assert report(client, stream=world.stream_id, reporter="someone_else", at=590).status_code == 201


def confirmed_penalty(client, world) -> int:
    csrf = login(client, "alice", world.password)
    client.post(f"/cases/{world.case_id}/claim", data={"csrf_token": csrf})
    page = client.post(f"/cases/{world.case_id}/confirm", data={"csrf_token": csrf, "labels": "medical_claim"})
    return int(page.text.split("penalty #")[1].split(".")[0])


def test_an_appeal_is_filed_once_by_the_penalised_streamer(client, world):
    penalty_id = confirmed_penalty(client, world)
    body = {"penalty_id": penalty_id, "streamer_id": STREAMER, "reason": "我说的是“不能治病”，被听错了"}
    assert api(client, "/api/v1/appeals", {**body, "streamer_id": "someone"}).status_code == 403
    assert api(client, "/api/v1/appeals", {**body, "penalty_id": 9999}).status_code == 404
    assert api(client, "/api/v1/appeals", {**body, "reason": "  "}).json()["detail"] == "an appeal needs a reason"
    answer = api(client, "/api/v1/appeals", body)
    assert answer.status_code == 201, answer.text
    assert answer.json()["status"] == "pending" and answer.json()["penalty_id"] == penalty_id
    second = api(client, "/api/v1/appeals", body)
    assert second.status_code == 409 and "pending appeal already" in second.json()["detail"]


def test_the_backend_adds_and_removes_the_rooms_the_fleet_follows(client):
    auth = {"Authorization": "Bearer test-api-key-0123456789"}
    room = {"name": "room42", "url": "rtmp://127.0.0.1/live/room42", "streamer": "s-42", "room": "42"}
    made = api(client, "/api/v1/fleet/feeds", room)
    assert made.status_code == 201, made.text
    assert made.json()["state"] == "waiting" and made.json()["streamer"] == "s-42"
    assert api(client, "/api/v1/fleet/feeds", room).status_code == 200  # sent again: the same feed
    clash = api(client, "/api/v1/fleet/feeds", {**room, "url": "rtmp://127.0.0.1/live/other"})
    assert clash.status_code == 409 and "already followed from rtmp://127.0.0.1/live/room42" in clash.json()["detail"]
    bad = api(client, "/api/v1/fleet/feeds", {**room, "name": "room43", "url": "file:///etc/passwd"})
    assert bad.status_code == 422 and "is not a live URL" in bad.json()["detail"]
    listed = client.get("/api/v1/fleet", headers=auth).json()
    assert [f["name"] for f in listed["feeds"]] == ["room42"] and listed["members"] == []
    assert client.delete("/api/v1/fleet/feeds/room42", headers=auth).status_code == 204
    gone = client.delete("/api/v1/fleet/feeds/room42", headers=auth)
    assert gone.status_code == 404 and "no feed named 'room42'" in gone.json()["detail"]
    assert client.get("/api/v1/fleet").status_code == 401  # the API key is needed, as everywhere under /api/
