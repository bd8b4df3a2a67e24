"""The console's and the API's security points over HTTP (FastAPI TestClient): authentication
on every route, CSRF on every form, escaping of everything people typed or said, roles, no SQL
from strings, no path traversal on the evidence route."""

from __future__ import annotations

import json
import os
import stat
from base64 import b64encode
from pathlib import Path

import pytest
from fastapi.routing import APIRoute
from itsdangerous import TimestampSigner
from moderation_world import store_verdicts
from sqlmodel import Session, select
from web_client import API_KEY, api, client_for, login, token
from web_world import STREAMER

from pinocchio.core.records import Finding, Segment, Verdict
from pinocchio.store import open_store, scans, tables
from pinocchio.web import auth, routes_api, routes_console

PUBLIC = {("GET", "/login"), ("POST", "/login"), ("POST", "/logout")}


def routes(client, api: bool):
    """(method, concrete path) of every route of the app's routers, path parameters filled in."""
    found = []
    for route in [*auth.router.routes, *routes_console.router.routes, *routes_api.router.routes]:
        if not isinstance(route, APIRoute) or route.path.startswith("/api/") != api:
            continue
        path = route.path.replace("{segment_id}", "3").replace("{appeal_id}", "1").replace("{name}", "a" * 64 + ".opus")
        found += [(m, path) for m in route.methods if (m, route.path) not in PUBLIC]
    assert found
    return found


def penalty_and_appeal(client, world) -> tuple[int, int]:
    """alice confirms the medical claim (a penalty), the streamer appeals through the API."""
    csrf = login(client, "alice", world.password)
    client.post(f"/cases/{world.case_id}/claim", data={"csrf_token": csrf})
    page = client.post(f"/cases/{world.case_id}/confirm", data={"csrf_token": csrf, "labels": ["medical_claim"]})
    assert "Ladder: ban" in page.text, page.text
    penalty_id = int(page.text.split("penalty #")[1].split(".")[0])
    appeal = api(client, "/api/v1/appeals", {"penalty_id": penalty_id, "streamer_id": STREAMER, "reason": "我没说治病"})
    assert appeal.status_code == 201, appeal.text
    return penalty_id, appeal.json()["id"]


# ---------------------------------------------------------------- authentication


def test_every_console_page_sends_a_stranger_to_the_login_form(client):
    for method, path in routes(client, api=False):
        if method != "GET":
            continue
        answer = client.get(path, follow_redirects=False)
        assert answer.status_code == 303 and answer.headers["location"].startswith("/login?next="), path


def test_every_console_action_refuses_a_stranger_with_401(client, world):
    csrf = token(client)  # even with a valid token of an anonymous session
    for method, path in routes(client, api=False):
        if method == "POST":
            answer = client.post(path, data={"csrf_token": csrf, "labels": "medical_claim", "decision": "uphold"})
            assert answer.status_code == 401, path
    with Session(open_store(world.db_url)) as session:
        assert scans.completed_scan(session, stream_id=world.stream_id) is not None
        assert session.exec(select(tables.ModerationEvent).where(  # nothing was written after the pipeline's
            tables.ModerationEvent.action.not_in(("flag", "evidence")))).first() is None


def test_every_api_route_needs_a_known_key_even_for_a_bad_body(client):
    for method, path in routes(client, api=True):
        for stranger in ({}, {"Authorization": "Bearer wrong"}, {"X-API-Key": API_KEY[:-1]}):
            assert client.request(method, path, headers=stranger).status_code == 401, (method, path)
        if method != "POST":
            continue
        assert client.post(path, json={}).status_code == 401
        assert client.post(path, content=b"{not json").status_code == 401  # no 422: strangers learn nothing
        assert client.post(path, json={}, headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert client.post(path, json={}, headers={"X-API-Key": API_KEY[:-1]}).status_code == 401
        assert client.post(path, json={}, headers={"X-API-Key": API_KEY}).status_code == 422
        assert client.post(path, json={}, headers={"Authorization": f"Bearer {API_KEY}"}).status_code == 422


def test_an_api_without_configured_keys_refuses_everyone(world):
    with client_for(world, api_keys=()) as c:
        for key in ("", API_KEY):
            assert api(c, "/api/v1/reports", {"stream": 1, "reporter": "u", "at": 1}, key=key).status_code == 401


def test_a_wrong_password_does_not_log_in(client, world):
    answer = client.post("/login", data={"name": "alice", "password": "wrong password", "csrf_token": token(client)})
    assert answer.status_code == 401 and "Wrong name or password" in answer.text
    assert client.get("/queue", follow_redirects=False).status_code == 303


def test_the_session_cookie_is_signed_httponly_and_samesite_lax(client, world):
    csrf = token(client)
    answer = client.post("/login", data={"name": "alice", "password": world.password, "csrf_token": csrf},
                         follow_redirects=False)
    cookie = answer.headers["set-cookie"].lower()
    assert "pinocchio_session=" in cookie and "httponly" in cookie and "samesite=lax" in cookie
    assert csrf != token(client, "/queue")  # a new token once logged in
    assert client.get("/queue", follow_redirects=False).status_code == 200
    forged = TimestampSigner("another-secret").sign(b64encode(json.dumps({"reviewer": "root"}).encode()))
    client.cookies.clear()
    client.cookies.set("pinocchio_session", forged.decode())
    assert client.get("/queue", follow_redirects=False).status_code == 303  # a forged cookie is no login


def test_logging_in_never_redirects_off_the_site(client, world):
    for target in ("https://evil.example/", "//evil.example/x", "/\\evil.example"):
        answer = client.post("/login", data={"name": "alice", "password": world.password, "next": target,
                                             "csrf_token": token(client)}, follow_redirects=False)
        assert answer.headers["location"] == "/queue"


def test_a_deactivated_reviewer_is_logged_out_at_once(client, world):
    login(client, "alice", world.password)
    with Session(open_store(world.db_url)) as session:
        from pinocchio.store.projections import Reviewer
        row = session.exec(select(Reviewer).where(Reviewer.name == "alice")).one()
        row.active = False
        session.add(row)
        session.commit()
    assert client.get("/queue", follow_redirects=False).status_code == 303


@pytest.mark.parametrize("backend", ["sqlite"])  # a database file to keep it beside
def test_the_session_secret_is_kept_beside_the_database_owner_only(world):
    from pinocchio.web.auth import secret_key_for

    first = secret_key_for(world.db_url, None)
    key_file = Path(world.db_url.removeprefix("sqlite:///") + ".secret")
    assert key_file.exists() and stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    assert secret_key_for(world.db_url, None) == first and len(first) >= 32
    assert secret_key_for(world.db_url, "from-env") == "from-env"


# ---------------------------------------------------------------- CSRF


def test_every_console_form_needs_the_sessions_csrf_token(client, world):
    login(client, "alice", world.password)
    for method, path in routes(client, api=False):
        if method != "POST":
            continue
        assert client.post(path, data={"labels": "medical_claim"}).status_code == 403, path
        assert client.post(path, data={"csrf_token": "forged", "labels": "medical_claim"}).status_code == 403, path
    assert "claimed by" not in client.get(f"/cases/{world.case_id}").text  # nothing happened


def test_a_token_from_another_session_is_refused(client, world):
    with client_for(world) as other:
        stolen = login(other, "bob", world.password)
    login(client, "alice", world.password)
    assert client.post(f"/cases/{world.case_id}/claim", data={"csrf_token": stolen}).status_code == 403


def test_the_login_form_and_logout_need_the_token_too(client, world):
    token(client)
    assert client.post("/login", data={"name": "alice", "password": world.password}).status_code == 403
    csrf = login(client, "alice", world.password)
    assert client.post("/logout", data={}).status_code == 403
    assert client.get("/queue", follow_redirects=False).status_code == 200
    assert client.post("/logout", data={"csrf_token": csrf}, follow_redirects=False).status_code == 303
    assert client.get("/queue", follow_redirects=False).status_code == 303


def test_with_the_token_an_action_goes_through(client, world):
    csrf = login(client, "alice", world.password)
    answer = client.post(f"/cases/{world.case_id}/claim", data={"csrf_token": csrf}, follow_redirects=False)
    assert answer.status_code == 303
    assert "claimed by alice" in client.get(f"/cases/{world.case_id}").text


# ---------------------------------------------------------------- escaping


def test_a_script_in_a_report_comment_renders_as_text(client, world):
    payload = "<script>alert(1)</script>"
    receipt = api(client, "/api/v1/reports", {"stream": world.stream_id, "reporter": '<img src=x onerror="alert(2)">',
                                              "at": 58, "comment": payload})
    assert receipt.status_code == 201 and world.case_id in receipt.json()["segment_ids"]
    login(client, "alice", world.password)
    page = client.get(f"/cases/{world.case_id}").text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and payload not in page
    assert "&lt;img src=x onerror=&#34;alert(2)&#34;&gt;" in page and "<img" not in page


def test_a_transcript_with_markup_is_escaped_and_only_the_flagged_span_is_marked(client, world):
    text = "<b>喝了</b>能治病"
    with Session(open_store(world.db_url)) as session:
        scan = scans.completed_scan(session, stream_id=world.stream_id)
        finding = Finding("lexicon", "medical_claim", 3, "广告法第十七条", (9, 12), term="能治病", matched="能治病",
                          match_kind="literal", score=1.0)
        row, = store_verdicts(session, scan, [Verdict(Segment(80.0, 82.0, text, ()), (finding,), "review")])
        segment_id = row.id
        session.commit()
    login(client, "alice", world.password)
    page = client.get(f"/cases/{segment_id}").text
    assert "&lt;b&gt;喝了&lt;/b&gt;<mark>能治病</mark>" in page and "<b>喝了" not in page


def test_sql_in_filters_and_names_is_only_text(client, world):
    assert client.post("/login", data={"name": "alice' OR '1'='1", "password": "x' OR '1'='1",
                                       "csrf_token": token(client)}).status_code == 401
    login(client, "alice", world.password)
    page = client.get("/queue", params={"stream": "1 OR 1=1", "streamer": "' OR ''='"}).text
    assert "0 cases" in page
    page = client.get("/penalties", params={"streamer": "x' OR '1'='1"}).text
    assert "0 penalties" in page
    assert api(client, "/api/v1/reports", {"stream": "x' OR '1'='1", "reporter": "u", "at": 1}).status_code == 404


# ---------------------------------------------------------------- roles


def test_a_plain_reviewer_cannot_see_or_resolve_appeals(client, world):
    _, appeal_id = penalty_and_appeal(client, world)
    csrf = token(client, "/queue")  # alice, a plain reviewer
    assert client.get("/appeals").status_code == 403
    answer = client.post(f"/appeals/{appeal_id}/resolve", data={"csrf_token": csrf, "decision": "uphold"})
    assert answer.status_code == 403 and "senior" in answer.text
    assert 'href="/appeals"' not in client.get("/queue").text


def test_a_senior_resolves_an_appeal_but_not_of_a_case_they_decided(client, world):
    _, appeal_id = penalty_and_appeal(client, world)
    with client_for(world) as senior:
        csrf = login(senior, "sam", world.password)
        assert senior.get("/appeals").status_code == 200
        answer = senior.post(f"/appeals/{appeal_id}/resolve", data={"csrf_token": csrf, "decision": "deny"})
        assert answer.status_code == 200 and f"Appeal {appeal_id} denied" in answer.text


def test_a_plain_reviewer_cannot_claim_an_escalated_case(client, world):
    csrf = login(client, "alice", world.password)
    client.post(f"/cases/{world.case_id}/claim", data={"csrf_token": csrf})
    client.post(f"/cases/{world.case_id}/escalate", data={"csrf_token": csrf, "comment": "not sure"})
    with client_for(world) as bob:
        csrf = login(bob, "bob", world.password)
        assert bob.post(f"/cases/{world.case_id}/claim", data={"csrf_token": csrf}).status_code == 403


# ---------------------------------------------------------------- evidence


def test_the_evidence_clip_is_served_to_reviewers_as_ogg(client, world):
    login(client, "alice", world.password)
    page = client.get(f"/cases/{world.case_id}").text
    assert f'<audio id="clip" controls preload="metadata" src="/evidence/{world.clip}">' in page
    clip = client.get(f"/evidence/{world.clip}")
    assert clip.status_code == 200 and clip.headers["content-type"] == "audio/ogg" and clip.content[:4] == b"OggS"


@pytest.mark.parametrize("name", ["..%2Fconsole.db", "%2e%2e%2fconsole.db", "..%2F..%2F..%2Fetc%2Fpasswd",
                                  "console.db", "%2e%2e%2f%2e%2e%2fconsole.db", "A" * 64 + ".opus", "a" * 64 + ".opus",
                                  "a" * 64 + ".opus%00.txt", "a" * 63 + ".opus"])
def test_the_evidence_route_serves_clip_names_only(client, world, name):
    login(client, "alice", world.password)
    answer = client.get(f"/evidence/{name}")
    assert answer.status_code == 404 and b"SQLite" not in answer.content


def test_a_clip_name_that_links_out_of_the_evidence_folder_is_refused(client, world, tmp_path):
    (world.evidence_dir / ("b" * 64 + ".opus")).symlink_to(tmp_path / "console.db")
    login(client, "alice", world.password)
    assert client.get(f"/evidence/{'b' * 64}.opus").status_code == 404
