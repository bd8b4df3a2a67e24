"""Appeals: filed by the penalised streamer, resolved by a senior who did not decide the case;
upholding reverses the penalty and the decision's strikes with new events."""

from datetime import timedelta

import pytest
from moderation_world import race, recording, reviewers, verdict
from sqlmodel import Session

from pinocchio.core.clock import utcnow
from pinocchio.core.errors import Conflict, Forbidden, InputError, NotFound
from pinocchio.moderation.appeals import file_appeal, list_appeals, resolve_appeal
from pinocchio.moderation.cases import claim_case, confirm_case, get_case
from pinocchio.moderation.penalties import active_strike_points, list_penalties
from pinocchio.moderation.reports import (
    list_reports,
    reporter_credibility,
    submit_report,
)
from pinocchio.store import open_store


@pytest.fixture
def world(db_url):
    """Two confirmed cases against streamer-1: 4 points (a ban of 24 h), then 8 (72 h)."""
    with Session(open_store(db_url)) as session:
        reviewers(session)
        stream, rows = recording(session, verdicts=[verdict(0, 2, "review", "medical_claim"),
                                                    verdict(100, 102, "review", "medical_claim")])
        submit_report(session, stream=stream.id, reporter_id="v1", at=101)
        now = utcnow()
        decisions = []
        for row in rows:
            claim_case(session, reviewer="sam", segment_id=row.id, now=now)
            decisions.append(confirm_case(session, reviewer="sam", segment_id=row.id, labels=["medical_claim"], now=now))
        session.commit()
        yield session, rows, decisions, now


def test_a_plain_reviewer_cannot_resolve_appeals(world):
    session, rows, decisions, now = world
    appeal = file_appeal(session, penalty_id=decisions[1].penalty_id, streamer_id="streamer-1", reason="I meant 能止渴")
    with pytest.raises(Forbidden, match="resolving an appeal needs the role senior or above; 'alice' is a reviewer"):
        resolve_appeal(session, reviewer="alice", appeal_id=appeal.id, uphold=True)
    with pytest.raises(Forbidden, match="'sam' decided case .*: another senior resolves its appeal"):
        resolve_appeal(session, reviewer="sam", appeal_id=appeal.id, uphold=True)
    assert list_appeals(session, status="pending")[0].id == appeal.id


def test_upholding_reverses_the_penalty_and_its_strikes(world):
    session, rows, decisions, now = world
    second = decisions[1]
    assert active_strike_points(session, "streamer-1", now) == 8
    assert [p.kind for p in list_penalties(session, active=True, now=now)] == ["ban", "ban"]
    appeal = file_appeal(session, penalty_id=second.penalty_id, streamer_id="streamer-1", reason="I said 能止渴")
    result = resolve_appeal(session, reviewer="tina", appeal_id=appeal.id, uphold=True, comment="misheard",
                            now=now + timedelta(hours=1))
    assert (result.status, result.resolved_by) == ("upheld", "tina")
    assert active_strike_points(session, "streamer-1", now + timedelta(hours=1)) == 4  # only the first decision's
    penalties = {p.id: p for p in list_penalties(session, now=now + timedelta(hours=1))}
    assert penalties[second.penalty_id].reversed_by == "tina" and not penalties[second.penalty_id].active
    assert penalties[second.penalty_id].appeal == "upheld"
    assert penalties[decisions[0].penalty_id].active
    assert get_case(session, rows[1].id).status == "overturned"
    assert list_reports(session)[0].outcome == "dismissed"  # the report behind it no longer counts for v1
    assert reporter_credibility(session, "v1") == pytest.approx(1 / 3)
    with pytest.raises(Conflict, match="appeal .* is upheld already"):
        resolve_appeal(session, reviewer="root", appeal_id=appeal.id, uphold=False)
    with pytest.raises(Conflict, match="was reversed already"):
        file_appeal(session, penalty_id=second.penalty_id, streamer_id="streamer-1", reason="again")


def test_denying_keeps_the_penalty(world):
    session, rows, decisions, now = world
    appeal = file_appeal(session, penalty_id=decisions[0].penalty_id, streamer_id="streamer-1", reason="unfair")
    with pytest.raises(Conflict, match="has a pending appeal already"):
        file_appeal(session, penalty_id=decisions[0].penalty_id, streamer_id="streamer-1", reason="really unfair")
    assert resolve_appeal(session, reviewer="root", appeal_id=appeal.id, uphold=False).status == "denied"
    assert active_strike_points(session, "streamer-1", now) == 8
    assert list_penalties(session, now=now)[0].reversed_at is None


def test_only_the_penalised_streamer_appeals(world):
    session, _, decisions, _ = world
    with pytest.raises(Forbidden, match="is not streamer streamer-2's"):
        file_appeal(session, penalty_id=decisions[0].penalty_id, streamer_id="streamer-2", reason="x")
    with pytest.raises(NotFound, match="no penalty 9999"):
        file_appeal(session, penalty_id=9999, streamer_id="streamer-1", reason="x")
    with pytest.raises(InputError, match="needs a reason"):
        file_appeal(session, penalty_id=decisions[0].penalty_id, streamer_id="streamer-1", reason="  ")


def test_two_appeals_of_one_penalty_at_once_leave_one_pending(world):
    session, rows, decisions, now = world
    penalty_id = decisions[0].penalty_id
    engine = session.get_bind()
    outcomes = race(engine, *[lambda s, k=k: file_appeal(s, penalty_id=penalty_id, streamer_id="streamer-1",
                                                        reason=f"unfair {k}") for k in range(2)])
    assert sorted(outcomes) == ["lost", "won"]
    session.expire_all()
    assert len(list_appeals(session, status="pending")) == 1


def test_two_seniors_resolving_one_appeal_at_once_give_one_resolution(world):
    session, rows, decisions, now = world
    appeal = file_appeal(session, penalty_id=decisions[1].penalty_id, streamer_id="streamer-1", reason="misheard")
    session.commit()
    engine = session.get_bind()
    outcomes = race(engine, lambda s: resolve_appeal(s, reviewer="tina", appeal_id=appeal.id, uphold=True),
                    lambda s: resolve_appeal(s, reviewer="root", appeal_id=appeal.id, uphold=False))
    assert sorted(outcomes) == ["lost", "won"]
    session.expire_all()
    resolved = list_appeals(session)[0]
    winner = "tina" if outcomes[0] == "won" else "root"
    assert resolved.resolved_by == winner and resolved.status == ("upheld" if winner == "tina" else "denied")
    penalty = {p.id: p for p in list_penalties(session, now=now)}[decisions[1].penalty_id]
    assert penalty.active == (winner == "root")  # reversed only if the upholding senior won
