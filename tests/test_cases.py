"""Cases and the queue: which segments open cases, the priority formula, atomic claims, roles,
decisions, strikes and the ladder's penalties."""

from datetime import timedelta

import pytest
from moderation_world import race, recording, reviewers, verdict
from sqlmodel import Session, select

from pinocchio.core.clock import utcnow
from pinocchio.core.errors import Conflict, Forbidden, InputError, NotFound
from pinocchio.moderation.cases import (
    CaseOptions,
    case_history,
    claim_case,
    comment_case,
    confirm_case,
    dismiss_case,
    escalate_case,
    get_case,
    priority,
    review_queue,
)
from pinocchio.moderation.penalties import active_strike_points, list_penalties
from pinocchio.moderation.reports import submit_report
from pinocchio.store import open_store
from pinocchio.store.projections import Case, Strike


@pytest.fixture
def engine(db_url):
    return open_store(db_url)


@pytest.fixture
def session(engine):
    with Session(engine) as session:
        reviewers(session)
        session.commit()
        yield session


def test_priority_formula_with_numbers():
    assert priority(3, 0.8, 1.25, 3) == 43.75  # 30 + 4 + 3.75 + 6
    assert priority(0, 0.0, 0.5, 0) == 1.5  # one newcomer's report on an unflagged segment
    assert priority(2, 1.0, 40.0, 0) == 40.0  # reports count up to a weight of 5: 20 + 5 + 15
    assert priority(1, 0.5, 0.0, 12) == 22.5  # strikes count up to 5 points: 10 + 2.5 + 10
    assert priority(3, 0.8, 0, 0) > priority(2, 1.0, 0.5, 0)  # a severe claim outranks a reported mild one


def test_review_segments_open_cases_and_the_queue_orders_them(session):
    stream, rows = recording(session, verdicts=[
        verdict(0, 2), verdict(2, 4, "review", "medical_claim", severity=3, score=0.8, source="classifier"),
        verdict(4, 6, "remind", "absolute_claim", severity=2), verdict(6, 8, "review", "false_endorsement", severity=2)])
    queue = review_queue(session)
    assert [c.segment_id for c in queue] == [rows[1].id, rows[3].id]  # pass and remind open nothing
    assert queue[0].priority == 34.0 and queue[1].priority == 25.0
    submit_report(session, stream=stream.id, reporter_id="v1", at=7.0)  # reports lift the mild one...
    submit_report(session, stream=stream.id, reporter_id="v2", at=7.5)
    submit_report(session, stream=stream.id, reporter_id="v3", at=8.0)
    queue = review_queue(session)
    by_segment = {c.segment_id: c for c in queue}
    assert by_segment[rows[3].id].report_weight == 1.5 and by_segment[rows[3].id].priority == 29.5
    assert by_segment[rows[2].id].priority == 29.5  # the remind segment is now a reported case: 20 + 5 + 4.5
    assert queue[0].segment_id == rows[1].id


def test_strikes_raise_the_priority_of_a_streamers_cases(session):
    stream, rows = recording(session, verdicts=[verdict(0, 2, "review", "medical_claim"),
                                                verdict(2, 4, "review", "fake_scarcity", severity=1)])
    claim_case(session, reviewer="alice", segment_id=rows[0].id)
    confirm_case(session, reviewer="alice", segment_id=rows[0].id, labels=["medical_claim"])
    case = get_case(session, rows[1].id)
    assert case.strike_points == 4 and case.priority == 10 + 5 + 8


def test_claims_are_exclusive_across_sessions(engine, session):
    _, rows = recording(session, verdicts=[verdict(0, 2, "review", "medical_claim")])
    session.commit()
    with Session(engine) as other:
        claim_case(other, reviewer="alice", segment_id=rows[0].id)
        other.commit()
    with pytest.raises(Conflict, match=f"case {rows[0].id} is claimed by alice until"):
        claim_case(session, reviewer="bob", segment_id=rows[0].id)
    session.rollback()
    with pytest.raises(Conflict, match="claim case .* first; alice holds it"):
        dismiss_case(session, reviewer="bob", segment_id=rows[0].id)
    session.rollback()
    assert claim_case(session, reviewer="alice", segment_id=rows[0].id).claimed_by == "alice"  # renewing is fine
    session.commit()
    later = utcnow() + timedelta(minutes=31)  # an abandoned claim expires
    assert claim_case(session, reviewer="bob", segment_id=rows[0].id, now=later).claimed_by == "bob"


def test_a_claim_race_has_one_winner(engine, session):
    _, rows = recording(session, verdicts=[verdict(0, 2, "review", "medical_claim")])
    session.commit()
    review_queue(session)
    session.commit()
    segment_id = rows[0].id  # read here: the racers must not load it through the test's session
    names = ("alice", "bob")
    outcomes = race(engine, *[lambda mine, name=name: claim_case(mine, reviewer=name, segment_id=segment_id)
                              for name in names])
    assert sorted(outcomes) == ["lost", "won"]
    winner = names[outcomes.index("won")]
    session.expire_all()
    assert session.get(Case, rows[0].id).claimed_by == winner
    claims = [e for e in case_history(session, rows[0].id) if e.action == "claim"]
    assert [e.actor for e in claims] == [winner]


def test_escalated_cases_are_for_seniors(session):
    _, rows = recording(session, verdicts=[verdict(0, 2, "review", "medical_claim")])
    segment = rows[0].id
    with pytest.raises(Conflict, match="claim case"):
        escalate_case(session, reviewer="alice", segment_id=segment)
    claim_case(session, reviewer="alice", segment_id=segment)
    case = escalate_case(session, reviewer="alice", segment_id=segment, comment="not sure it is a cure claim")
    assert case.status == "escalated" and case.claimed_by is None
    assert [c.segment_id for c in review_queue(session, reviewer="bob")] == []
    with pytest.raises(Forbidden, match="escalated: it needs a senior; 'bob' is a reviewer"):
        claim_case(session, reviewer="bob", segment_id=segment)
    assert [c.segment_id for c in review_queue(session, reviewer="sam")] == [segment]
    claim_case(session, reviewer="sam", segment_id=segment)
    decision = confirm_case(session, reviewer="sam", segment_id=segment, labels=["medical_claim"])
    assert decision.decision == "confirm" and get_case(session, segment).status == "confirmed"
    with pytest.raises(Conflict, match="is confirmed"):
        claim_case(session, reviewer="sam", segment_id=segment)


def test_unknown_reviewers_cases_and_labels(session):
    _, rows = recording(session, verdicts=[verdict(0, 2, "review", "medical_claim")])
    with pytest.raises(NotFound, match="no reviewer 'mallory'"):
        claim_case(session, reviewer="mallory", segment_id=rows[0].id)
    with pytest.raises(NotFound, match="no case for segment 999"):
        claim_case(session, reviewer="alice", segment_id=999)
    claim_case(session, reviewer="alice", segment_id=rows[0].id)
    with pytest.raises(InputError, match="label 'cure' is not one of"):
        confirm_case(session, reviewer="alice", segment_id=rows[0].id, labels=["cure"])
    with pytest.raises(InputError, match="at least one label"):
        confirm_case(session, reviewer="alice", segment_id=rows[0].id, labels=[])


def test_confirmations_climb_the_ladder(session):
    _, rows = recording(session, verdicts=[verdict(i * 10, i * 10 + 2, "review", "medical_claim") for i in range(5)])
    now = utcnow()
    got = []
    for i, row in enumerate(rows):
        claim_case(session, reviewer="alice", segment_id=row.id, now=now)
        labels = ["medical_claim", "absolute_claim"] if i == 3 else ["medical_claim"]
        decision = confirm_case(session, reviewer="alice", segment_id=row.id, labels=labels, now=now)
        got.append((sum(s.points for s in decision.strikes), decision.penalty.kind, decision.penalty.points,
                    decision.penalty.ends_at - now if decision.penalty.ends_at else None))
    assert got == [(4, "ban", 4, timedelta(hours=24)), (4, "ban", 8, timedelta(hours=72)),
                   (4, "ban", 12, timedelta(hours=168)), (6, "permanent_ban", 18, None),
                   (4, "permanent_ban", 22, None)]
    assert active_strike_points(session, "streamer-1", now) == 22
    assert active_strike_points(session, "streamer-1", now + timedelta(days=90, seconds=1)) == 0  # strikes expire
    assert [p.kind for p in list_penalties(session, streamer_id="streamer-1", active=True, now=now)] == \
        ["ban", "ban", "ban", "permanent_ban", "permanent_ban"]
    assert [p.kind for p in list_penalties(session, active=True, now=now + timedelta(days=30))] == \
        ["permanent_ban", "permanent_ban"]


def test_severity_of_the_finding_sets_the_points(session):
    _, rows = recording(session, verdicts=[verdict(0, 2, "review", "absolute_claim", severity=3)])
    claim_case(session, reviewer="alice", segment_id=rows[0].id)
    decision = confirm_case(session, reviewer="alice", segment_id=rows[0].id, labels=["absolute_claim", "fake_scarcity"])
    # absolute_claim as found (severity 3): 4 points; fake_scarcity not found: its default severity 1: 1 point
    assert [(s.label, s.severity, s.points) for s in decision.strikes] == [("absolute_claim", 3, 4), ("fake_scarcity", 1, 1)]
    assert decision.penalty.kind == "ban" and decision.penalty.points == 5


def test_a_stream_without_a_streamer_is_decided_without_strikes(session):
    _, rows = recording(session, name="anon", streamer_id=None, verdicts=[verdict(0, 2, "review", "medical_claim")])
    claim_case(session, reviewer="alice", segment_id=rows[0].id)
    decision = confirm_case(session, reviewer="alice", segment_id=rows[0].id, labels=["medical_claim"])
    assert decision.streamer_id is None and decision.strikes == () and decision.penalty is None
    assert session.exec(select(Strike)).all() == [] and list_penalties(session) == []
    assert get_case(session, rows[0].id).status == "confirmed"


def test_dismiss_and_comment(session):
    _, rows = recording(session, verdicts=[verdict(0, 2, "review", "medical_claim")])
    comment_case(session, reviewer="bob", segment_id=rows[0].id, text="listen from 0:01")
    claim_case(session, reviewer="alice", segment_id=rows[0].id, options=CaseOptions(claim_minutes=5))
    decision = dismiss_case(session, reviewer="alice", segment_id=rows[0].id, comment="a joke about the weather")
    assert decision.penalty is None and active_strike_points(session, "streamer-1") == 0
    case = get_case(session, rows[0].id)
    assert (case.status, case.decided_by, case.claimed_by) == ("dismissed", "alice", None)
    assert [e.action for e in case_history(session, rows[0].id)] == ["flag", "comment", "claim", "decide"]
    assert review_queue(session) == []
