"""Bounded pages: a case with hundreds of reports shows their tally and the latest ones, with the
rest a link away in pages; its history pages the same way; the queue pages past 200 cases and keeps
its filters from page to page."""

from __future__ import annotations

import re

from moderation_world import recording, verdict
from sqlmodel import Session
from web_client import login

from pinocchio.moderation.reports import ReportRequest, take_reports
from pinocchio.store import open_store


def many_reports(world, count: int) -> None:
    with Session(open_store(world.db_url)) as session:
        results = take_reports(session, [ReportRequest(world.stream_id, f"viewer-{i}", 57.0 + (i % 3),
                                                       "medical_claim" if i % 4 else None, f"第{i}条")
                                         for i in range(count)])
        session.commit()
    assert all(r.status == "accepted" for r in results)


def test_a_heavily_reported_case_shows_a_tally_and_the_latest_reports(client, world):
    many_reports(world, 260)
    login(client, "alice", world.password)
    page = client.get(f"/cases/{world.case_id}").text
    reports = page.split('<table class="grid reports">')[1].split("</table>")[0]
    assert reports.count("<tr>") == 21  # a header and the latest 20
    assert "第259条" in reports and "第0条" not in reports
    assert f'<a href="/cases/{world.case_id}/reports">all 260 reports</a>' in page
    tally = page.split('<table class="grid tally">')[1].split("</table>")[0]
    assert re.search(r"<td>medical_claim</td><td class=\"num\">195</td>", tally)
    assert re.search(r"<td>no label</td><td class=\"num\">65</td>", tally)
    assert "0.4 to 0.7: 260" in page  # every newcomer counts 0.5
    history = page.split('<ol class="history">')[1].split("</ol>")[0]
    assert history.count("<li>") == 30 and f'/cases/{world.case_id}/history">all' in page


def test_the_rest_of_the_reports_and_the_history_are_paged(client, world):
    many_reports(world, 260)
    login(client, "alice", world.password)
    second = client.get(f"/cases/{world.case_id}/reports", params={"page": 2}).text
    rows = second.split('<table class="grid reports">')[1].split("</table>")[0]
    assert rows.count("<tr>") == 101 and "page 2 of 3" in second
    assert f'href="/cases/{world.case_id}/reports?page=3" rel="next"' in second
    last = client.get(f"/cases/{world.case_id}/reports", params={"page": 3}).text
    assert last.split('<table class="grid reports">')[1].count("<tr>") == 61
    history = client.get(f"/cases/{world.case_id}/history").text
    assert "page 1 of 3" in history and history.split('<ol class="history">')[1].split("</ol>")[0].count("<li>") == 100
    assert client.get(f"/cases/{world.case_id}/history", params={"page": 0}).status_code == 422


def test_the_queue_pages_past_200_cases_and_keeps_its_filters(client, world):
    with Session(open_store(world.db_url)) as session:
        recording(session, name="busy-room", duration_s=3000.0,
                  verdicts=[verdict(i * 10, i * 10 + 5, "review", "medical_claim") for i in range(230)])
        session.commit()
    login(client, "alice", world.password)
    first = client.get("/queue").text
    assert "231 cases, 1–50 shown" in first  # the world's own case, and 230 more
    ids = re.findall(r'data-href="/cases/(\d+)"', first)
    assert len(ids) == 50
    last = client.get("/queue", params={"page": 5}).text
    assert len(re.findall(r'data-href="/cases/(\d+)"', last)) == 31 and "page 5 of 5" in last
    seen = set()
    for number in range(1, 6):
        seen |= set(re.findall(r'data-href="/cases/(\d+)"', client.get("/queue", params={"page": number}).text))
    assert len(seen) == 231  # every case on exactly one page
    filtered = client.get("/queue", params={"stream": "busy-room", "page": 2}).text
    assert "230 cases, 51–100 shown" in filtered
    assert 'href="/queue?stream=busy-room&amp;page=3" rel="next"' in filtered
