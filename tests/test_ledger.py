"""The moderation log's one writer and its pure transitions, action by action: what each event does
to the state it touches, which ones a state refuses, and that a refused event leaves nothing."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest
from moderation_world import PIPELINE, recording, reviewers, verdict
from sqlmodel import Session

from pinocchio.core import events as ev
from pinocchio.core.errors import Conflict, Forbidden, NotFound
from pinocchio.core.events import Action, AppealStatus, CaseStatus, ReportOutcome
from pinocchio.moderation import projection as p
from pinocchio.moderation import projector
from pinocchio.moderation.ledger import event_count, history, record, snapshot
from pinocchio.store import open_store

T0 = datetime(2026, 6, 1, 20, 0, tzinfo=timezone.utc)
LATER = T0 + timedelta(minutes=10)
EXPIRES = T0 + timedelta(minutes=30)


def case(status=CaseStatus.OPEN, held_by=None, expires=EXPIRES, **changes) -> p.CaseState:
    base = p.case_opened(p.SegmentFacts(segment_id=7, stream_id=1, severity=3, score=0.8), T0)
    return replace(base, status=status, claimed_by=held_by, claim_expires_at=expires if held_by else None, **changes)


def test_every_action_has_one_payload_record_and_one_transition():
    assert set(ev.PAYLOADS) == set(Action) == set(projector._HANDLERS)
    assert all(cls.ACTION == action for action, cls in ev.PAYLOADS.items())


def test_payloads_travel_as_json_and_come_back_the_same():
    decision = ev.Decide(decision=ev.Decision.CONFIRM, labels=("medical_claim",), comment="why", streamer_id="s1",
                         ladder_version="3", strikes=(ev.StrikeGiven("medical_claim", 3, 4, EXPIRES),))
    assert ev.decode(Action.DECIDE, ev.encode(decision)) == decision
    flag = ev.Flag(action="review", labels=["medical_claim"], start_s=1, end_s=2, scan_id=3)  # loose types...
    assert ev.decode(Action.FLAG, ev.encode(flag)).labels == ("medical_claim",)  # ...come back typed


CLAIMS = [  # (case before, who claims, at) -> holder after, or the refusal
    (case(), "alice", T0, "alice"),
    (case(held_by="alice"), "alice", LATER, "alice"),  # renewing one's own claim
    (case(held_by="bob"), "alice", LATER, Conflict("claimed by bob")),  # one claim wins
    (case(held_by="bob"), "alice", EXPIRES + timedelta(seconds=1), "alice"),  # an expired claim is free
    (case(CaseStatus.ESCALATED), "sam", T0, "sam"),  # roles are checked by the command, not the state
    (case(CaseStatus.CONFIRMED), "alice", T0, Conflict("is confirmed: nothing to claim")),
    (case(CaseStatus.DISMISSED), "alice", T0, Conflict("nothing to claim")),
]


@pytest.mark.parametrize("before, who, at, after", CLAIMS)
def test_claim(before, who, at, after):
    if isinstance(after, Exception):
        with pytest.raises(type(after), match=str(after)):
            p.case_claimed(before, who, at + timedelta(minutes=30), at)
    else:
        claimed = p.case_claimed(before, who, at + timedelta(minutes=30), at)
        assert claimed.claimed_by == after and claimed.claim_expires_at == at + timedelta(minutes=30)


DECIDE = ev.Decide(decision=ev.Decision.CONFIRM, labels=("medical_claim",), comment="")
DISMISS = ev.Decide(decision=ev.Decision.DISMISS, labels=(), comment="")
DECISIONS = [  # (case before, payload, who, at) -> status after, or the refusal
    (case(held_by="alice"), DECIDE, "alice", LATER, CaseStatus.CONFIRMED),
    (case(held_by="alice"), DISMISS, "alice", LATER, CaseStatus.DISMISSED),
    (case(CaseStatus.ESCALATED, held_by="sam"), DECIDE, "sam", LATER, CaseStatus.CONFIRMED),
    (case(), DECIDE, "alice", LATER, Conflict("claim case 7 first")),
    (case(held_by="bob"), DECIDE, "alice", LATER, Conflict("claim case 7 first; bob holds it")),
    (case(held_by="alice"), DECIDE, "alice", EXPIRES, Conflict("claim case 7 first")),  # the claim ran out
    (case(CaseStatus.CONFIRMED, held_by="alice"), DISMISS, "alice", LATER, Conflict("is confirmed already")),
]


@pytest.mark.parametrize("before, payload, who, at, after", DECISIONS)
def test_decide(before, payload, who, at, after):
    if isinstance(after, Exception):
        with pytest.raises(type(after), match=str(after)):
            p.case_decided(before, payload, reviewer=who, event_id=99, at=at)
        return
    decided = p.case_decided(before, payload, reviewer=who, event_id=99, at=at)
    assert (decided.status, decided.decided_by, decided.decide_event_id, decided.claimed_by) == (after, who, 99, None)
    assert decided.labels == payload.labels


ESCALATIONS = [
    (case(held_by="bob"), "bob", CaseStatus.ESCALATED),
    (case(), "bob", Conflict("claim case 7 first")),
    (case(CaseStatus.ESCALATED, held_by="sam"), "sam", Conflict("escalated already")),
    (case(CaseStatus.DISMISSED, held_by="bob"), "bob", Conflict("dismissed already")),
]


@pytest.mark.parametrize("before, who, after", ESCALATIONS)
def test_escalate(before, who, after):
    if isinstance(after, Exception):
        with pytest.raises(type(after), match=str(after)):
            p.case_escalated(before, who, LATER)
    else:
        escalated = p.case_escalated(before, who, LATER)
        assert (escalated.status, escalated.claimed_by) == (after, None)


def test_reports_comments_and_reversals_change_only_their_counts_and_status():
    reported = p.case_reported(p.case_reported(case(), 0.5, T0), 0.75, LATER)
    assert (reported.report_count, reported.report_weight, reported.updated_at) == (2, 1.25, LATER)
    assert p.case_commented(case(CaseStatus.DISMISSED), LATER).comments == 1  # any state takes a note
    assert p.case_overturned(case(CaseStatus.CONFIRMED), LATER).status == CaseStatus.OVERTURNED
    assert p.case_overturned(case(CaseStatus.DISMISSED), LATER).status == CaseStatus.DISMISSED


@pytest.mark.parametrize("statuses, outcome", [
    ([], ReportOutcome.PENDING), (["open"], ReportOutcome.PENDING), (["confirmed", "dismissed"], ReportOutcome.CONFIRMED),
    (["dismissed", "overturned"], ReportOutcome.DISMISSED), (["dismissed", "open"], ReportOutcome.PENDING),
])
def test_a_report_is_decided_by_its_cases(statuses, outcome):
    assert p.report_outcome(statuses) == outcome


def test_strikes_only_for_a_confirmed_decision_with_a_streamer():
    strike = ev.StrikeGiven("medical_claim", 3, 4, EXPIRES)
    confirmed = replace(DECIDE, streamer_id="s1", strikes=(strike,))
    given, = p.strikes_decided(confirmed, event_id=5, segment_id=7, at=T0)
    assert (given.streamer_id, given.points, given.expires_at, given.reversed_at) == ("s1", 4, EXPIRES, None)
    assert p.strikes_decided(replace(confirmed, streamer_id=None), event_id=5, segment_id=7, at=T0) == ()
    assert p.strikes_decided(replace(DISMISS, strikes=(strike,)), event_id=5, segment_id=7, at=T0) == ()


PENALTY = p.PenaltyState(id=3, streamer_id="s1", segment_id=7, kind="ban", step=4, points=5, starts_at=T0,
                         ends_at=T0 + timedelta(hours=24), ladder_version="1", reversed_at=None, reversed_by=None)
PENDING = p.AppealState(id=8, penalty_id=3, streamer_id="s1", reason="r", filed_at=T0, status=AppealStatus.PENDING,
                        resolved_by=None, resolved_at=None, comment="")


@pytest.mark.parametrize("appeal, penalty, pending, after", [
    (ev.Appeal("s1", "a joke"), PENALTY, None, AppealStatus.PENDING),
    (ev.Appeal("s2", "not mine"), PENALTY, None, Forbidden("is not streamer s2's")),
    (ev.Appeal("s1", "again"), PENALTY, PENDING, Conflict("pending appeal already")),
    (ev.Appeal("s1", "late"), replace(PENALTY, reversed_at=T0), None, Conflict("reversed already")),
])
def test_appeal(appeal, penalty, pending, after):
    if isinstance(after, Exception):
        with pytest.raises(type(after), match=str(after)):
            p.appeal_filed(appeal, penalty, pending, event_id=9, at=LATER)
    else:
        assert p.appeal_filed(appeal, penalty, pending, event_id=9, at=LATER).status == after


def test_an_appeal_is_resolved_once_and_a_penalty_reversed_once():
    upheld = p.appeal_resolved(PENDING, upheld=True, by="tina", at=LATER, comment="")
    assert (upheld.status, upheld.resolved_by) == (AppealStatus.UPHELD, "tina")
    assert p.appeal_resolved(PENDING, upheld=False, by="tina", at=LATER, comment="").status == AppealStatus.DENIED
    with pytest.raises(Conflict, match="appeal 8 is upheld already"):
        p.appeal_resolved(upheld, upheld=False, by="sam", at=LATER, comment="")
    reversed_ = p.penalty_reversed(PENALTY, "tina", LATER)
    with pytest.raises(Conflict, match="penalty 3 was reversed already"):
        p.penalty_reversed(reversed_, "tina", LATER)


@pytest.fixture
def session(db_url):
    with Session(open_store(db_url)) as session:
        reviewers(session)
        yield session


def test_a_refused_event_leaves_nothing_behind(session):
    """The writer appends and projects inside one savepoint: a transition that refuses takes its
    row with it, and the session goes on (an import keeps its other rows)."""
    _, rows = recording(session, verdicts=[verdict(0, 2, "review", "medical_claim")])
    segment = rows[0].id
    record(session, ev.Claim(expires_at=EXPIRES), actor="bob", subject_id=segment, at=T0)
    before, events = snapshot(session), event_count(session)
    with pytest.raises(Conflict, match="claimed by bob"):
        record(session, ev.Claim(expires_at=EXPIRES), actor="alice", subject_id=segment, at=LATER)
    with pytest.raises(NotFound, match="no case for segment 999"):
        record(session, ev.Comment(text="hello"), actor="alice", subject_id=999, at=LATER)
    assert event_count(session) == events and snapshot(session) == before
    record(session, ev.Comment(text="still writable"), actor="alice", subject_id=segment, at=LATER)
    session.commit()
    assert [e.action for e in history(session, f"segment:{segment}")] == ["flag", "claim", "comment"]


def test_the_pipeline_records_its_own_events_through_the_writer(session):
    _, rows = recording(session, verdicts=[verdict(0, 2), verdict(2, 4, "remind", "absolute_claim", 2),
                                           verdict(4, 6, "review", "medical_claim")])
    pass_row, remind_row, review_row = rows
    PIPELINE.record(session, ev.Evidence(clip="a" * 64 + ".opus"), subject_id=review_row.id)
    PIPELINE.record(session, ev.Remind(stream="room1", start_s=2, end_s=4, label="absolute_claim", article="x",
                                       action="remind", message="m", text="t"), subject_id=remind_row.id)
    assert [e.action for e in history(session, f"segment:{pass_row.id}")] == []  # a pass is not flagged
    assert [(e.action, e.actor) for e in history(session, f"segment:{review_row.id}")] == \
        [("flag", "pipeline@test"), ("evidence", "pipeline@test")]
    live = snapshot(session)
    assert [c["segment_id"] for c in live["review_case"]] == [review_row.id]  # only review opens a case
    assert [c["clip"] for c in live["evidence_clip"]] == ["a" * 64 + ".opus"]


def _world(session):
    """A reviewed stream with a case held by alice, a confirmed case with a penalty, and a report."""
    stream, rows = recording(session, verdicts=[verdict(0, 2), verdict(2, 4, "review", "medical_claim"),
                                                verdict(10, 12, "review", "off_platform_trade")])
    record(session, ev.Claim(expires_at=LATER + timedelta(hours=1)), actor="alice", subject_id=rows[1].id, at=T0)
    record(session, ev.Claim(expires_at=LATER + timedelta(hours=1)), actor="sam", subject_id=rows[2].id, at=T0)
    decide = record(session, ev.Decide(decision=ev.Decision.CONFIRM, labels=("off_platform_trade",), comment="",
                                       streamer_id="streamer-1", ladder_version="t",
                                       strikes=(ev.StrikeGiven("off_platform_trade", 3, 5, T0 + timedelta(days=90)),)),
                    actor="sam", subject_id=rows[2].id, at=T0)
    penalty = record(session, ev.Penalize(streamer_id="streamer-1", segment_id=rows[2].id, kind="ban", step=4,
                                          points=5, starts_at=T0, ends_at=T0 + timedelta(hours=24), ladder_version="t",
                                          decided_by="sam"), actor="ladder@t", subject_id="streamer-1", at=T0)
    report = record(session, ev.Report(reporter_id="v1", at_s=1.0, reported_at=None, scan_id=None, label=None,
                                       comment="", credibility=0.5), actor="viewer:v1", subject_id=stream.id, at=T0)
    appeal = record(session, ev.Appeal(streamer_id="streamer-1", reason="r"), actor="streamer:streamer-1",
                    subject_id=penalty.id, at=T0)
    record(session, ev.Evidence(clip="d" * 64 + ".opus"), actor="pipeline@test", subject_id=rows[2].id, at=T0)
    return dict(stream=stream.id, passed=rows[0].id, held=rows[1].id, confirmed=rows[2].id, penalty=penalty.id,
                decide=decide.id, report=report.id, appeal=appeal.id)


# action -> (the subject and payload to record, given the world's ids; what it must change, read from the snapshot)
EVERY_ACTION = {
    Action.FLAG: (lambda w: ("passed", ev.Flag(action="review", labels=("x",), start_s=0, end_s=2, scan_id=1)),
                  lambda w, s: w["passed"] in {c["segment_id"] for c in s["review_case"]}),
    Action.EVIDENCE: (lambda w: ("held", ev.Evidence(clip="c" * 64 + ".opus")),
                      lambda w, s: [c["clip"] for c in s["evidence_clip"] if c["segment_id"] == w["held"]]
                      == ["c" * 64 + ".opus"]),
    Action.REMIND: (lambda w: ("held", ev.Remind(stream="room1", start_s=2, end_s=4, label="medical_claim",
                                                 article="a", action="review", message="m", text="t")),
                    lambda w, s: s == BEFORE[0]),
    Action.FEED_GAP: (lambda w: ("stream", ev.FeedGap(start_s=1, end_s=5, reason="ended", scan_id=1)),
                      lambda w, s: s == BEFORE[0]),
    Action.FEED_LAG: (lambda w: ("stream", ev.FeedLag(at_s=60, lag_s=12.5, growth_s=6, behind=True, scan_id=1)),
                      lambda w, s: s == BEFORE[0]),
    Action.REPORT: (lambda w: ("stream", ev.Report(reporter_id="v2", at_s=3, reported_at=None, scan_id=None,
                                                   label="medical_claim", comment="", credibility=0.8)),
                    lambda w, s: len(s["report"]) == 2),
    Action.FOLD_REPORT: (lambda w: ("stream", ev.FoldReport(report_id=w["report"], at_s=2, label=None, comment="")),
                         lambda w, s: s["report"][0]["duplicates"] == 1),
    Action.ATTACH_REPORT: (lambda w: ("held", ev.AttachReport(report_id=w["report"])),
                           lambda w, s: {(x["report_id"], x["segment_id"]) for x in s["report_link"]}
                           == {(w["report"], w["held"])}),
    Action.CLAIM: (lambda w: ("held", ev.Claim(expires_at=LATER + timedelta(hours=2))),
                   lambda w, s: _case(s, w["held"])["claim_expires_at"] == LATER + timedelta(hours=2)),
    Action.ESCALATE: (lambda w: ("held", ev.Escalate(comment="names?")),
                      lambda w, s: _case(s, w["held"])["status"] == "escalated"),
    Action.DECIDE: (lambda w: ("held", ev.Decide(decision=ev.Decision.DISMISS, labels=(), comment="fine")),
                    lambda w, s: _case(s, w["held"])["status"] == "dismissed"),
    Action.PENALIZE: (lambda w: ("streamer-1", ev.Penalize(streamer_id="streamer-1", segment_id=w["confirmed"],
                                                           kind="warning", step=1, points=5, starts_at=LATER,
                                                           ends_at=LATER, ladder_version="t", decided_by="sam")),
                      lambda w, s: len(s["penalty"]) == 2),
    Action.COMMENT: (lambda w: ("held", ev.Comment(text="look at 2 s")),
                     lambda w, s: _case(s, w["held"])["comments"] == 1),
    Action.APPEAL: (lambda w: ("penalty", ev.Appeal(streamer_id="streamer-1", reason="again")),
                    Conflict("pending appeal already")),
    Action.RESOLVE_APPEAL: (lambda w: ("appeal", ev.ResolveAppeal(upheld=False, comment="no", penalty_id=w["penalty"])),
                            lambda w, s: s["appeal"][0]["status"] == "denied"),
    Action.REVERSE: (lambda w: ("penalty", ev.Reverse(appeal_id=w["appeal"], segment_id=w["confirmed"],
                                                      decide_event_id=w["decide"])),
                     lambda w, s: s["penalty"][0]["reversed_at"] == LATER and _case(s, w["confirmed"])["status"]
                     == "overturned" and all(x["reversed_at"] == LATER for x in s["strike"])),
    Action.PURGE_EVIDENCE: (lambda w: ("confirmed", ev.PurgeEvidence(clip="d" * 64 + ".opus", cut_at=T0,
                                                                       retention_days=1096)),
                            lambda w, s: [(c["clip"], c["purged_at"]) for c in s["evidence_clip"]]
                            == [("d" * 64 + ".opus", LATER)]),
    Action.QA_REVIEW: (lambda w: ("confirmed", ev.QaReview(decision=ev.Decision.DISMISS, labels=(), comment="")),
                       lambda w, s: [(q["segment_id"], q["second_reviewer"], q["agreed"]) for q in s["qa_review"]]
                       == [(w["confirmed"], "alice", False)]),
    Action.QA_RESOLVE: (lambda w: ("confirmed", ev.QaResolve(side="first", comment="")),
                        NotFound("no second review of case")),
}
BEFORE: list[dict] = []


def _case(snap: dict, segment_id: int) -> dict:
    return next(c for c in snap["review_case"] if c["segment_id"] == segment_id)


def test_the_table_covers_every_action():
    assert set(EVERY_ACTION) == set(Action)


@pytest.mark.parametrize("action", list(Action))
def test_every_action_through_the_one_writer_and_replayed(session, action):
    """Each action recorded on the same world: it changes what its transition says (or is refused
    and leaves nothing), and replaying the whole log gives exactly the state the writer left."""
    from pinocchio.moderation.ledger import rebuild

    world = _world(session)
    BEFORE[:] = [snapshot(session)]
    subject, payload = EVERY_ACTION[action][0](world)
    subject_id = world.get(subject, subject)
    expected = EVERY_ACTION[action][1]
    actor = {"REVERSE": "tina", "RESOLVE_APPEAL": "tina"}.get(action.name, "alice")
    if isinstance(expected, Exception):
        with pytest.raises(type(expected), match=str(expected)):
            record(session, payload, actor=actor, subject_id=subject_id, at=LATER)
        assert snapshot(session) == BEFORE[0]
    else:
        event = record(session, payload, actor=actor, subject_id=subject_id, at=LATER)
        assert event.action == action and event.subject == f"{payload.SUBJECT}:{subject_id}"
        assert expected(world, snapshot(session)), action
    live = snapshot(session)
    rebuild(session)
    assert snapshot(session) == live
