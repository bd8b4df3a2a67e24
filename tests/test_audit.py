"""The log is tamper-evident and the projections are what replaying it gives."""

from datetime import timedelta

import pytest
from moderation_world import PASSWORD, PIPELINE, recording, reviewers, store_verdicts, verdict
from sqlalchemy import delete, update
from sqlmodel import Session, select

from pinocchio.core import events as ev
from pinocchio.core.clock import utcnow
from pinocchio.core.errors import Conflict, Forbidden, InputError
from pinocchio.moderation.appeals import file_appeal, resolve_appeal
from pinocchio.moderation.audit import rebuild_projections, verify_chain
from pinocchio.moderation.cases import (
    claim_case,
    comment_case,
    confirm_case,
    dismiss_case,
    escalate_case,
)
from pinocchio.moderation.ledger import snapshot
from pinocchio.moderation.qa import resolve_disagreement, review_again
from pinocchio.moderation.reports import attach_waiting_reports, submit_report
from pinocchio.moderation.retention import purge_clips
from pinocchio.moderation.reviewers import (
    add_reviewer,
    password_matches,
    verify_reviewer,
)
from pinocchio.store import open_store, scans
from pinocchio.store.projections import Case, Penalty
from pinocchio.store.tables import ModerationEvent


def realistic(session):
    """Reports (one folded, one waiting for a live segment), claims, an escalation, confirmations,
    penalties, a dismissal, a comment, and an appeal upheld."""
    reviewers(session)
    stream, rows = recording(session, verdicts=[verdict(0, 2), verdict(2, 4, "review", "medical_claim", score=0.7),
                                                verdict(4, 6, "remind", "absolute_claim", 2),
                                                verdict(20, 22, "review", "off_platform_trade"), verdict(60, 62)])
    submit_report(session, stream=stream.id, reporter_id="v1", at=5, label="medical_claim")
    submit_report(session, stream=stream.id, reporter_id="v1", at=6)  # folded
    submit_report(session, stream=stream.id, reporter_id="v2", at=21)
    submit_report(session, stream=stream.id, reporter_id="v4", at=61.5)  # nothing flagged near: the sentence said
    live = scans.live_stream_for(session, source="rtmp://h/live/room7")
    live.streamer_id = "streamer-1"
    scan = scans.start_scan(session, stream=live, pipeline_version="t", provenance={})
    submit_report(session, stream=live.id, reporter_id="v3", at=3.0)
    session.commit()
    row, = store_verdicts(session, scan, [verdict(1, 3, "review", "efficacy_guarantee", 2)])
    attach_waiting_reports(session, row)
    PIPELINE.record(session, ev.Evidence(clip="e" * 64 + ".opus"), subject_id=row.id, stream_id=live.id)
    PIPELINE.record(session, ev.Remind(stream="room7", start_s=1, end_s=3, label="efficacy_guarantee", article="x",
                                       action="review", message="请注意", text="t"), subject_id=row.id, stream_id=live.id)
    PIPELINE.record(session, ev.FeedGap(start_s=3.5, end_s=9.0, reason="Connection reset by peer", scan_id=scan.id),
                    subject_id=live.id, stream_id=live.id)
    PIPELINE.record(session, ev.FeedLag(at_s=9.0, lag_s=11.0, growth_s=6.0, behind=True, scan_id=scan.id),
                    subject_id=live.id, stream_id=live.id)
    session.commit()
    claim_case(session, reviewer="alice", segment_id=rows[1].id)
    confirm_case(session, reviewer="alice", segment_id=rows[1].id, labels=["medical_claim"])
    claim_case(session, reviewer="bob", segment_id=rows[3].id)
    escalate_case(session, reviewer="bob", segment_id=rows[3].id, comment="account names?")
    claim_case(session, reviewer="sam", segment_id=rows[3].id)
    decision = confirm_case(session, reviewer="sam", segment_id=rows[3].id, labels=["off_platform_trade"])
    claim_case(session, reviewer="alice", segment_id=rows[2].id)
    dismiss_case(session, reviewer="alice", segment_id=rows[2].id)
    review_again(session, reviewer="bob", segment_id=rows[1].id, confirm=False, share=1.0)  # a second opinion
    resolve_disagreement(session, reviewer="sam", segment_id=rows[1].id, side="first")
    comment_case(session, reviewer="root", segment_id=rows[4].id, text="reported, nothing said")
    claim_case(session, reviewer="bob", segment_id=row.id)  # left claimed
    appeal = file_appeal(session, penalty_id=decision.penalty_id, streamer_id="streamer-1", reason="a joke")
    resolve_appeal(session, reviewer="tina", appeal_id=appeal.id, uphold=True)
    session.commit()
    PIPELINE.record(session, ev.Evidence(clip="f" * 64 + ".opus"), subject_id=rows[1].id, stream_id=stream.id)
    purge_clips(session, retention_days=1096, now=utcnow() + timedelta(days=1100))  # its case decided: the clip goes
    session.commit()
    return rows


def test_rebuild_gives_the_live_state(db_url):
    with Session(open_store(db_url)) as session:
        realistic(session)
        actions = set(session.exec(select(ModerationEvent.action)).all())
        assert actions == set(ev.Action)  # every kind of event is replayed here
        live = snapshot(session)
        assert len(live["review_case"]) == 5 and len(live["penalty"]) == 2 and len(live["strike"]) == 2
        assert len(live["report"]) == 4 and len(live["report_link"]) == 7 and len(live["appeal"]) == 1
        report = rebuild_projections(session)
        session.commit()
        assert report.changed == ()
        assert report.events == len(session.exec(select(ModerationEvent)).all())
        assert snapshot(session) == live


def test_rebuild_repairs_a_projection_that_drifted(db_url):
    with Session(open_store(db_url)) as session:
        rows = realistic(session)
        live = snapshot(session)
        session.exec(update(Case).where(Case.segment_id == rows[1].id).values(status="dismissed"))
        session.exec(update(Penalty).values(reversed_at=None, reversed_by=None))  # the upheld appeal forgotten
        session.commit()
        assert rebuild_projections(session).changed == ("penalty", "review_case")
        session.commit()
        assert snapshot(session) == live


def test_an_edited_event_is_found(db_url):
    with Session(open_store(db_url)) as session:
        realistic(session)
        assert verify_chain(session).ok
        victim = session.exec(select(ModerationEvent).where(ModerationEvent.action == "decide")).first()
        session.exec(update(ModerationEvent).where(ModerationEvent.id == victim.id)
                     .values(payload=victim.payload.replace("medical_claim", "absolute_claim")))
        session.commit()
        report = verify_chain(session)
        earlier = len(session.exec(select(ModerationEvent.id).where(ModerationEvent.id < victim.id)).all())
        assert (report.ok, report.broken_id, report.checked) == (False, victim.id, earlier)
        assert report.reason == "its hash does not match its content (the row was edited)"


def test_a_deleted_event_is_found(db_url):
    with Session(open_store(db_url)) as session:
        realistic(session)
        victim = session.exec(select(ModerationEvent).where(ModerationEvent.action == "penalize")).first()
        same_chain = select(ModerationEvent.id).where(ModerationEvent.chain == victim.chain)
        before = session.exec(same_chain.where(ModerationEvent.id < victim.id).order_by(ModerationEvent.id.desc())).first()
        after = session.exec(same_chain.where(ModerationEvent.id > victim.id).order_by(ModerationEvent.id)).first()
        session.exec(delete(ModerationEvent).where(ModerationEvent.id == victim.id))
        session.commit()
        report = verify_chain(session)
        assert report.broken_id == after  # the next event of the victim's chain names the gap
        assert report.reason.startswith(f"prev_hash does not match the hash of event {before}, the one before it in")


def test_passwords_are_salted_scrypt(db_url):
    with Session(open_store(db_url)) as session:
        add_reviewer(session, name="alice", role="senior", password=PASSWORD)
        add_reviewer(session, name="bob", role="reviewer", password=PASSWORD)
        from pinocchio.store.projections import Reviewer
        hashes = [r.password_hash for r in session.exec(select(Reviewer).order_by(Reviewer.name))]
        assert all(h.startswith("scrypt$16384$8$1$") for h in hashes) and hashes[0] != hashes[1]  # salted
        assert PASSWORD not in hashes[0]
        assert verify_reviewer(session, name="alice", password=PASSWORD).role == "senior"
        assert verify_reviewer(session, name="alice", password="wrong horse") is None
        assert verify_reviewer(session, name="nobody", password=PASSWORD) is None
        assert not password_matches(PASSWORD, "md5$abc")
        with pytest.raises(Conflict, match="exists already"):
            add_reviewer(session, name="alice", role="senior", password=PASSWORD)
        with pytest.raises(InputError, match="role 'boss' is not one of: reviewer, senior, admin"):
            add_reviewer(session, name="carol", role="boss", password=PASSWORD)
        with pytest.raises(InputError, match="at least 8 characters"):
            add_reviewer(session, name="carol", role="reviewer", password="short")


def test_only_admins_add_reviewers_from_the_console(db_url):
    with Session(open_store(db_url)) as session:
        reviewers(session)
        with pytest.raises(Forbidden, match="adding reviewers needs the role admin or above; 'sam' is a senior"):
            add_reviewer(session, name="carol", role="reviewer", password=PASSWORD, by="sam")
        assert add_reviewer(session, name="carol", role="senior", password=PASSWORD, by="root").role == "senior"
