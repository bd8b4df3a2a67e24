"""The quality of decisions: a share of decided cases goes back, blind, to a second reviewer;
agreement per label and per reviewer with Cohen's kappa; disagreements go to a senior."""

from __future__ import annotations

import json

import pytest
from moderation_world import recording, reviewers, verdict
from sqlmodel import Session
from typer.testing import CliRunner
from web_client import login, token

from pinocchio.cli import app
from pinocchio.core.errors import Conflict, Forbidden, InputError
from pinocchio.moderation.cases import claim_case, confirm_case, dismiss_case
from pinocchio.moderation.ledger import rebuild, snapshot
from pinocchio.moderation.qa import (
    cohen_kappa,
    disagreements,
    qa_queue,
    qa_report,
    resolve_disagreement,
    review_again,
    sampled,
)
from pinocchio.store import open_store

runner = CliRunner()


def test_cohen_kappa_as_the_textbook_has_it():
    # Two raters, 50 items: both yes 20, yes/no 5, no/yes 10, both no 15 -> p_o 0.7, p_e 0.5, kappa 0.4.
    pairs = [("yes", "yes")] * 20 + [("yes", "no")] * 5 + [("no", "yes")] * 10 + [("no", "no")] * 15
    assert cohen_kappa(pairs) == 0.4
    assert cohen_kappa([("a", "a")] * 5) is None and cohen_kappa([]) is None  # no variation: undefined
    assert cohen_kappa([("a", "b"), ("b", "a")]) == -1.0


def test_the_sample_is_fixed_by_the_case_and_near_its_share():
    picked = [s for s in range(1, 10_001) if sampled(s, 0.1)]
    assert 900 < len(picked) < 1100 and picked == [s for s in range(1, 10_001) if sampled(s, 0.1)]
    assert all(sampled(s, 1.0) for s in range(1, 100)) and not any(sampled(s, 0.0) for s in range(1, 100))


@pytest.fixture
def decided(db_url):
    """Four decided cases: alice confirmed two and dismissed one, bob confirmed one."""
    engine = open_store(db_url)
    with Session(engine) as session:
        reviewers(session)
        _, rows = recording(session, verdicts=[verdict(t, t + 2, "review", "medical_claim") for t in (0, 10, 20, 30)])
        session.commit()
        for row, (who, labels) in zip(rows, [("alice", ["medical_claim"]), ("alice", ["medical_claim", "absolute_claim"]),
                                             ("alice", []), ("bob", ["medical_claim"])]):
            claim_case(session, reviewer=who, segment_id=row.id)
            if labels:
                confirm_case(session, reviewer=who, segment_id=row.id, labels=labels)
            else:
                dismiss_case(session, reviewer=who, segment_id=row.id)
        session.commit()
        return engine, [row.id for row in rows]


def test_second_reviews_blind_then_a_senior_on_the_disagreements(decided):
    engine, (a, b, c, d) = decided
    with Session(engine) as session:
        assert qa_queue(session, reviewer="alice", share=1.0) == [d]  # not her own decisions
        assert qa_queue(session, reviewer="bob", share=1.0) == [a, b, c]
        with pytest.raises(Conflict, match="decided by alice"):
            review_again(session, reviewer="alice", segment_id=a, confirm=True, labels=["medical_claim"], share=1.0)
        session.rollback()
        agreed = review_again(session, reviewer="bob", segment_id=a, confirm=True, labels=["medical_claim"], share=1.0)
        other_labels = review_again(session, reviewer="bob", segment_id=b, confirm=True, labels=["medical_claim"], share=1.0)
        other_call = review_again(session, reviewer="sam", segment_id=c, confirm=True, labels=["medical_claim"], share=1.0)
        same = review_again(session, reviewer="alice", segment_id=d, confirm=True, labels=["medical_claim"], share=1.0)
        session.commit()
        assert (agreed.agreed, other_labels.agreed, other_call.agreed, same.agreed) == (True, False, False, True)
        with pytest.raises(Conflict, match="reviewed again already"):
            review_again(session, reviewer="sam", segment_id=a, confirm=False, share=1.0)
        session.rollback()
        with pytest.raises(InputError, match="not one of those sampled"):
            review_again(session, reviewer="bob", segment_id=a, confirm=False, share=0.0)
        assert [r.segment_id for r in disagreements(session)] == [b, c]
        with pytest.raises(Forbidden):
            resolve_disagreement(session, reviewer="bob", segment_id=b, side="first")
        session.rollback()
        with pytest.raises(Conflict, match="sam reviewed case"):
            resolve_disagreement(session, reviewer="sam", segment_id=c, side="first")
        session.rollback()
        resolve_disagreement(session, reviewer="sam", segment_id=b, side="first", comment="both labels hold")
        resolve_disagreement(session, reviewer="tina", segment_id=c, side="second", comment="it is a claim")
        session.commit()
        assert disagreements(session) == []
        report = qa_report(session)
        before = snapshot(session)
        rebuild(session)
        session.commit()
        assert snapshot(session) == before
    assert (report.reviews, report.resolved, report.open_disagreements) == (4, 2, 0)
    assert (report.decision.n, report.decision.agreed) == (4, 0.75)  # c: dismissed, then confirmed
    labels = {x.name: x for x in report.labels}
    assert labels["absolute_claim"].agreed == 0.75 and labels["medical_claim"].agreed == 0.75
    reviewers_ = {x.name: x for x in report.reviewers}
    assert (reviewers_["alice"].n, reviewers_["alice"].agreed) == (3, round(2 / 3, 4)) and reviewers_["bob"].agreed == 1.0
    assert report.upheld["alice"] == (1, 2) and report.upheld["bob"] == (0, 1) and report.upheld["sam"] == (1, 1)


@pytest.mark.parametrize("backend", ["sqlite"])
def test_second_reviews_from_the_command_line_and_in_stats(db_url, decided, monkeypatch):
    _, (a, b, c, d) = decided
    monkeypatch.setenv("PINOCCHIO_QA_SHARE", "1")
    queue = runner.invoke(app, ["qa", "queue", "--as", "bob", "--db", db_url])
    assert queue.stdout.split() == [str(a), str(b), str(c)]
    review = runner.invoke(app, ["qa", "review", str(c), "--confirm", "-l", "medical_claim", "--as", "bob", "--db", db_url])
    assert review.exit_code == 0 and "you disagree with alice" in review.stdout
    resolve = runner.invoke(app, ["qa", "resolve", str(c), "--side", "second", "--as", "sam", "--db", db_url])
    assert resolve.exit_code == 0
    agreement = runner.invoke(app, ["qa", "agreement", "--db", db_url]).stdout
    assert "second reviews: 1" in agreement and "reviewer alice" in agreement and "0 of 1" in agreement
    lines = [json.loads(x) for x in runner.invoke(app, ["stats", "--db", db_url, "-f", "jsonl"]).stdout.splitlines()]
    assert {"qa": "decision", "cases": 1, "agreed": 0.0, "kappa": 0.0} in lines
    assert "Cohen's kappa" in runner.invoke(app, ["stats", "--db", db_url]).stdout


@pytest.mark.parametrize("backend", ["sqlite"])
def test_the_qa_pages_show_the_case_blind_and_take_both_reviews(db_url, decided, tmp_path, monkeypatch):
    _, (a, b, c, d) = decided
    monkeypatch.setenv("PINOCCHIO_QA_SHARE", "1")
    from fastapi.testclient import TestClient

    from pinocchio.core.settings import Settings
    from pinocchio.web import create_app

    with TestClient(create_app(Settings.from_env().with_overrides(db_url=db_url, secret_key="t", evidence_dir=tmp_path,
                                                                   deadline_sweep_s=0))) as client:
        csrf = login(client, "bob", "correct horse")
        page = client.get("/qa").text
        assert f'href="/qa/{c}"' in page and f'href="/qa/{d}"' not in page  # not his own decision
        blind = client.get(f"/qa/{c}").text
        assert "blind" in blind and "alice" not in blind and "dismiss" in blind.lower()
        assert "decided by" not in blind and "History" not in blind
        answer = client.post(f"/qa/{c}", data={"decision": "confirm", "labels": "medical_claim", "csrf_token": csrf},
                             follow_redirects=False)
        assert answer.status_code == 303
        assert "you disagree with the first review" in client.get("/qa").text
        assert client.get(f"/qa/{d}").status_code == 403
        client.post("/logout", data={"csrf_token": token(client, "/qa")})
        csrf = login(client, "sam", "correct horse")
        assert f"/qa/{c}/resolve" in client.get("/qa").text
        client.post(f"/qa/{c}/resolve", data={"side": "second", "comment": "a claim", "csrf_token": csrf})
        page = client.get("/qa").text
        assert "No open disagreements." in page and "reviewer alice" in page
