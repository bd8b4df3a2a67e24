"""Sessions end on the server and logins slow down (issue 13): a cookie saved before logout, a
password change, a deactivation or a deleted-and-recreated account opens nothing; wrong passwords
throttle, then lock, the account and the client, logged and counted."""

from __future__ import annotations

import logging

from sqlalchemy import delete
from sqlmodel import Session, select
from typer.testing import CliRunner
from web_client import API_KEY, client_for, login, token

from pinocchio.cli import app
from pinocchio.moderation.reviewers import ThrottleOptions, add_reviewer, login_failed, login_wait
from pinocchio.store import open_store
from pinocchio.store.projections import LoginFailure, Reviewer

runner = CliRunner()


def comment(client, world, csrf: str):
    return client.post(f"/cases/{world.case_id}/comment", data={"text": "still here?", "csrf_token": csrf},
                       follow_redirects=False)


def saved_cookie(client) -> str:
    return client.cookies.get("pinocchio_session")


def replay(world, cookie: str):
    """Another client that only has the saved cookie (an attacker who copied it)."""
    other = client_for(world)
    other.cookies.set("pinocchio_session", cookie)
    return other


def test_a_cookie_saved_before_logout_opens_nothing_after_it(client, world):
    csrf = login(client, "alice", world.password)
    cookie = saved_cookie(client)
    with replay(world, cookie) as thief:
        assert thief.get("/queue", follow_redirects=False).status_code == 200  # the stolen cookie works...
    assert client.post("/logout", data={"csrf_token": csrf}, follow_redirects=False).status_code == 303
    with replay(world, cookie) as thief:
        assert thief.get("/queue", follow_redirects=False).status_code == 303  # ...until the owner logs out
        assert comment(thief, world, csrf).status_code == 401


def test_a_new_password_and_a_deactivation_end_every_session(client, world):
    login(client, "alice", world.password)
    cookie = saved_cookie(client)
    result = runner.invoke(app, ["reviewers", "passwd", "alice", "--db", world.db_url, "--password-stdin"],
                           input="a brand new secret\n")
    assert result.exit_code == 0 and "sessions ended" in result.output
    with replay(world, cookie) as thief:
        assert thief.get("/queue", follow_redirects=False).status_code == 303
    login(client, "alice", "a brand new secret")
    cookie = saved_cookie(client)
    result = runner.invoke(app, ["reviewers", "deactivate", "alice", "--db", world.db_url])
    assert result.exit_code == 0
    with replay(world, cookie) as thief:
        assert thief.get("/queue", follow_redirects=False).status_code == 303
    answer = client.post("/login", data={"name": "alice", "password": "a brand new secret",
                                         "csrf_token": token(client)}, follow_redirects=False)
    assert answer.status_code == 401
    assert runner.invoke(app, ["reviewers", "activate", "alice", "--db", world.db_url]).exit_code == 0
    login(client, "alice", "a brand new secret")


def test_a_recreated_account_of_the_same_name_does_not_inherit_old_sessions(client, world):
    login(client, "bob", world.password)
    cookie = saved_cookie(client)
    with Session(open_store(world.db_url)) as session:
        session.exec(delete(Reviewer).where(Reviewer.name == "bob"))
        add_reviewer(session, name="bob", role="admin", password="another password")
        session.commit()
    with replay(world, cookie) as thief:
        assert thief.get("/reviewers", follow_redirects=False).status_code == 303  # not the new admin


def test_wrong_passwords_slow_then_lock_the_account_even_for_the_right_one(client, world, caplog):
    caplog.set_level(logging.WARNING)
    for _ in range(4):  # three free tries, the fourth already costs a wait
        answer = client.post("/login", data={"name": "sam", "password": "wrong", "csrf_token": token(client)})
        assert answer.status_code in (401, 429)
    answer = client.post("/login", data={"name": "sam", "password": world.password, "csrf_token": token(client)},
                         follow_redirects=False)
    assert answer.status_code == 429 and int(answer.headers["Retry-After"]) >= 1
    assert "Too many wrong passwords" in answer.text
    assert "failed login for 'sam'" in caplog.text and "refused" in caplog.text
    metrics = client.get("/api/v1/metrics", headers={"Authorization": f"Bearer {API_KEY}"}).text
    assert "pinocchio_console_failed_logins_total 4.0" in metrics
    assert "pinocchio_console_refused_logins_total 1.0" in metrics


def test_the_throttle_grows_and_locks_per_account_and_per_client(world):
    options = ThrottleOptions(free_failures=2, max_delay_s=60, lock_after=6, lock_minutes=15)
    with Session(open_store(world.db_url)) as session:
        waits = []
        for _ in range(6):
            login_failed(session, name="tina", client="10.0.0.9", options=options)
            waits.append(login_wait(session, name="tina", client="10.0.0.9", options=options))
        assert waits[:2] == [0.0, 0.0] and 0 < waits[2] <= 1 and 1 < waits[3] <= 2 and 3 < waits[4] <= 4
        assert 14 * 60 < waits[5] <= 15 * 60  # locked
        assert login_wait(session, name="root", client="10.0.0.9", options=options) > 0  # the client is locked too
        assert login_wait(session, name="tina", client="10.0.0.1", options=options) > 0  # and the account
        assert login_wait(session, name="root", client="10.0.0.1", options=options) == 0.0
        assert len(session.exec(select(LoginFailure)).all()) == 6


def test_an_admin_sees_the_accounts_and_a_reviewer_does_not(client, world):
    login(client, "alice", world.password)
    assert client.get("/reviewers").status_code == 403
    client.post("/logout", data={"csrf_token": token(client, "/queue")})
    csrf = login(client, "root", world.password)
    page = client.get("/reviewers")
    assert page.status_code == 200 and 'id="account-alice"' in page.text and "active of" in page.text
    answer = client.post("/reviewers/alice/deactivate", data={"csrf_token": csrf}, follow_redirects=False)
    assert answer.status_code == 303
    assert "deactivated" in client.get("/reviewers").text
