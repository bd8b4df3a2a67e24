"""The console's pages and actions over HTTP: the queue and its filters, a case with its
transcript, findings, reports and clip, the actions and what they say, penalties and appeals."""

from __future__ import annotations

import re

import pytest
from web_client import api, client_for, login
from web_world import STREAM_NAME, STREAMER


def flashes(page) -> list[str]:
    return re.findall(r'<p class="flash \w+" role="status">([^<]*)</p>', page.text)


def queue_ids(page) -> list[int]:
    return [int(x) for x in re.findall(r'data-href="/cases/(\d+)"', page.text)]


def test_the_queue_lists_cases_by_priority_with_what_a_reviewer_needs(client, world):
    api(client, "/api/v1/reports", {"stream": world.stream_id, "reporter": "u1", "at": 66, "comment": "全网最低价？"})
    login(client, "alice", world.password)
    page = client.get("/queue")
    ids = queue_ids(page)
    assert ids[0] == world.case_id and world.remind_id in ids  # severity 3 before a reported severity 2
    row = page.text.split(f'data-href="/cases/{world.case_id}"')[1].split("</tr>")[0]
    for shown in ("36.5", "medical_claim", STREAMER, STREAM_NAME, "00:56.0", "0 min", "open", "喝了这个茶能治糖尿病"):
        assert shown in row, shown


@pytest.mark.parametrize("filters, shown", [
    ({"label": "medical_claim"}, True), ({"label": "superstition"}, False),
    ({"stream": STREAM_NAME}, True), ({"stream": "1"}, True), ({"stream": "2"}, False),
    ({"streamer": STREAMER}, True), ({"streamer": "someone"}, False),
    ({"age": "1h"}, False), ({"age": ""}, True),
])
def test_the_queue_filters(client, world, filters, shown):
    login(client, "alice", world.password)
    assert (world.case_id in queue_ids(client.get("/queue", params=filters))) == shown


def test_a_case_shows_the_talk_around_it_with_the_claim_marked(client, world):
    api(client, "/api/v1/reports", {"stream": STREAM_NAME, "reporter": "viewer_7719", "at": 58,
                                    "label": "medical_claim", "comment": "这是把食品当药卖"})
    login(client, "alice", world.password)
    page = client.get(f"/cases/{world.case_id}").text
    transcript = page.split('<ol class="transcript">')[1].split("</ol>")[0]
    assert transcript.count("<li") == 6  # every segment within 30 s
    assert '<span class="say">喝了这个茶<mark>能治糖尿病</mark>，还能降血压</span>' in transcript
    assert "我们家是<mark>全网最低价</mark>" in transcript  # another flagged segment nearby, its own link
    assert f'href="/cases/{world.remind_id}">remind' in transcript
    for shown in ("广告法第十七条", "classifier", "0.95", "viewer_7719", "0.50", "这是把食品当药卖",
                  f"/evidence/{world.clip}", "0</strong> active strike points", "No penalties."):
        assert shown in page, shown


def test_deciding_needs_a_claim_and_confirming_gives_the_ladders_penalty(client, world):
    csrf = login(client, "alice", world.password)
    page = client.post(f"/cases/{world.case_id}/confirm", data={"csrf_token": csrf, "labels": "medical_claim"})
    assert flashes(page) == [f"claim case {world.case_id} first"]
    assert 'id="claim"' in page.text and "<fieldset disabled>" in page.text
    page = client.post(f"/cases/{world.case_id}/claim", data={"csrf_token": csrf})
    assert flashes(page)[0].startswith(f"Case {world.case_id} is yours until")
    assert 'id="claim"' not in page.text and "<fieldset >" in page.text
    page = client.post(f"/cases/{world.case_id}/confirm", data={"csrf_token": csrf, "labels": "medical_claim",
                                                               "comment": "明确宣称治疗疾病"})
    message, = flashes(page)
    assert re.fullmatch(rf"Case {world.case_id} confirmed: medical_claim\. {STREAMER} \+4 points \(now 4\)\. "
                        r"Ladder: ban \(step 4, until \d{4}-\d\d-\d\d \d\d:\d\d UTC\), penalty #\d+\.", message), message
    assert "This case is confirmed." in page.text and "4</strong> active strike points" in page.text
    assert "明确宣称治疗疾病" in page.text  # the decision's comment in the history
    penalties = client.get("/penalties", params={"streamer": STREAMER, "active": "true"}).text
    assert "1 penalties" in penalties and "in force" in penalties


def test_confirming_without_a_label_is_refused_and_nothing_is_decided(client, world):
    csrf = login(client, "alice", world.password)
    client.post(f"/cases/{world.case_id}/claim", data={"csrf_token": csrf})
    page = client.post(f"/cases/{world.case_id}/confirm", data={"csrf_token": csrf})
    assert flashes(page) == ["confirming needs at least one label"] and "This case is" not in page.text


def test_a_case_claimed_by_another_is_refused_and_dismissing_closes_it(client, world):
    csrf = login(client, "alice", world.password)
    client.post(f"/cases/{world.case_id}/claim", data={"csrf_token": csrf})
    with client_for(world) as bob:
        bob_csrf = login(bob, "bob", world.password)
        page = bob.post(f"/cases/{world.case_id}/claim", data={"csrf_token": bob_csrf})
        assert flashes(page)[0].startswith(f"case {world.case_id} is claimed by alice")
        assert world.case_id not in queue_ids(bob.get("/queue"))
    page = client.post(f"/cases/{world.case_id}/dismiss", data={"csrf_token": csrf, "comment": "听错了"})
    assert flashes(page) == [f"Case {world.case_id} dismissed."] and "This case is dismissed." in page.text


def test_escalated_cases_go_to_the_seniors_and_comments_stay_in_the_history(client, world):
    csrf = login(client, "alice", world.password)
    client.post(f"/cases/{world.case_id}/comment", data={"csrf_token": csrf, "text": "需要医学背景判断"})
    client.post(f"/cases/{world.case_id}/claim", data={"csrf_token": csrf})
    page = client.post(f"/cases/{world.case_id}/escalate", data={"csrf_token": csrf})
    assert flashes(page) == [f"Case {world.case_id} escalated to the seniors."]
    assert "需要医学背景判断" in page.text and world.case_id not in queue_ids(client.get("/queue"))
    with client_for(world) as senior:
        login(senior, "sam", world.password)
        assert world.case_id in queue_ids(senior.get("/queue"))


def test_next_case_skips_the_one_being_left(client, world):
    api(client, "/api/v1/reports", {"stream": world.stream_id, "reporter": "u1", "at": 66})
    login(client, "alice", world.password)
    first = client.get("/cases/next", follow_redirects=False)
    assert first.headers["location"] == f"/cases/{world.case_id}"
    second = client.get("/cases/next", params={"after": world.case_id}, follow_redirects=False)
    assert second.headers["location"] != f"/cases/{world.case_id}"


def test_an_upheld_appeal_reverses_the_penalty_and_its_strikes(client, world):
    csrf = login(client, "alice", world.password)
    client.post(f"/cases/{world.case_id}/claim", data={"csrf_token": csrf})
    page = client.post(f"/cases/{world.case_id}/confirm", data={"csrf_token": csrf, "labels": "medical_claim"})
    penalty_id = int(flashes(page)[0].split("penalty #")[1].rstrip("."))
    appeal = api(client, "/api/v1/appeals", {"penalty_id": penalty_id, "streamer_id": STREAMER, "reason": "说的是不能治病"})
    appeal_id = appeal.json()["id"]
    with client_for(world) as senior:
        senior_csrf = login(senior, "sam", world.password)
        pending = senior.get("/appeals").text
        assert f'id="appeal-{appeal_id}"' in pending and "说的是不能治病" in pending
        page = senior.post(f"/appeals/{appeal_id}/resolve", data={"csrf_token": senior_csrf, "decision": "uphold",
                                                                  "comment": "录音里是“不能治病”"})
        assert flashes(page) == [f"Appeal {appeal_id} upheld: penalty #{penalty_id} reversed, its strikes no longer count."]
        assert "No appeals." in page.text
        penalties = senior.get("/penalties").text
        assert "reversed by sam" in penalties
    case = client.get(f"/cases/{world.case_id}").text
    assert "This case is overturned." in case and "0</strong> active strike points" in case


@pytest.mark.parametrize("backend", ["sqlite"])  # read from the database file itself
def test_reading_writes_nothing(client, world):
    """The queue, a case, the next case, penalties and appeals are reads: the database file is the
    same byte for byte after them (a GET never commits)."""
    from pathlib import Path

    db = Path(world.db_url.removeprefix("sqlite:///"))
    login(client, "alice", world.password)
    before = db.read_bytes(), Path(f"{db}-wal").read_bytes() if Path(f"{db}-wal").exists() else b""
    for path in ("/queue", f"/cases/{world.case_id}", "/cases/next", "/penalties", "/queue?label=medical_claim"):
        assert client.get(path).status_code in (200, 303), path
    after = db.read_bytes(), Path(f"{db}-wal").read_bytes() if Path(f"{db}-wal").exists() else b""
    assert after == before


def test_pieces_merge_overlapping_spans_and_cut_those_past_the_text():
    from pinocchio.web.views import Piece, pieces

    assert pieces("全网最低价第一", [(2, 4), (3, 5), (6, 99), (-3, 0)]) == (
        Piece("全网", False), Piece("最低价", True), Piece("第", False), Piece("一", True))
    assert pieces("", [(0, 3)]) == () and pieces("好", []) == (Piece("好", False),)
