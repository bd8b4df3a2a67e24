"""The reviewers' console: the queue, a case with its transcript, clip, reports and actions, the
penalties, and the appeals for seniors. Every route needs a logged-in reviewer (`ReviewerDep`)
and every POST the session's CSRF token (`check_csrf`, router-wide). Routes call the library and
commit once; a refused action (not claimed, decided already...) comes back as a message on the page
it was taken from, a forbidden one as 403."""

from __future__ import annotations

import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request
from fastapi.responses import FileResponse, RedirectResponse, Response
from sqlmodel import Session

from pinocchio.core import events as ev
from pinocchio.core.clock import utcnow
from pinocchio.core.errors import Conflict, InputError
from pinocchio.core.labels import LABELS
from pinocchio.moderation.appeals import list_appeals, resolve_appeal
from pinocchio.moderation.bundle import write_bundle
from pinocchio.moderation.cases import (
    OPEN,
    CaseInfo,
    Decision,
    QueueFilter,
    case_history,
    case_history_count,
    claim_case,
    comment_case,
    confirm_case,
    dismiss_case,
    escalate_case,
    get_case,
    queue_page,
    review_queue,
)
from pinocchio.moderation.penalties import active_strike_points, list_penalties
from pinocchio.moderation.reviewers import list_reviewers, require_role, set_active
from pinocchio.web import views
from pinocchio.web.auth import ReviewerDep, current_reviewer
from pinocchio.web.csrf import check_csrf
from pinocchio.web.deps import MAX_ID, RowId, SessionDep

router = APIRouter(dependencies=[Depends(current_reviewer), Depends(check_csrf)])  # who first, then the token

AGES = {"1h": timedelta(hours=1), "24h": timedelta(hours=24), "7d": timedelta(days=7)}  # "at least this old"
QUEUE_LIMIT = 500  # what "next case" looks through
QUEUE_PAGE = 50
CASE_REPORTS = 20  # the latest reports on a case's page; the rest are a link away
CASE_HISTORY = 30  # likewise the latest events
LIST_PAGE = 100
Page = Annotated[int, Query(ge=1, le=1_000_000, description="Page number, from 1")]
Comment = Annotated[str, Form()]


def _page(request: Request, name: str, context: dict, status_code: int = 200):
    return request.app.state.templates.TemplateResponse(request, name, context, status_code=status_code)


def flash(request: Request, text: str, kind: str = "ok") -> None:
    request.session["flash"] = [*request.session.get("flash", []), [kind, text]]


def _back_to_case(segment_id: int) -> RedirectResponse:
    return RedirectResponse(f"/cases/{segment_id}", status_code=303)


def _act(request: Request, session: Session, segment_id: int, do) -> RedirectResponse:
    """Run one library action: commit and say what happened, or roll back and say why not."""
    try:
        message = do()
    except (InputError, Conflict) as exc:
        session.rollback()
        flash(request, str(exc), "error")
    else:
        session.commit()
        flash(request, message)
    return _back_to_case(segment_id)


def decision_message(decision: Decision, points_now: int | None) -> str:
    if decision.decision == ev.Decision.DISMISS:
        return f"Case {decision.segment_id} dismissed."
    text = f"Case {decision.segment_id} confirmed: {', '.join(decision.labels)}."
    if decision.streamer_id is None:
        return text + " The stream names no streamer: no strikes, no penalty."
    gained = sum(s.points for s in decision.strikes)
    text += f" {decision.streamer_id} +{gained} points (now {points_now})."
    plan = decision.penalty
    if plan is None:
        return text + " Below the ladder's first step: no penalty."
    until = "permanent" if plan.ends_at is None else f"until {views.when(plan.ends_at)}"
    if plan.kind == ev.PenaltyKind.WARNING:
        until = "no ban"
    return text + f" Ladder: {plan.kind.replace('_', ' ')} (step {plan.step}, {until}), penalty #{decision.penalty_id}."


# ---------------------------------------------------------------- queue


@router.get("/")
def home():
    return RedirectResponse("/queue", status_code=303)


@router.get("/queue")
def queue(request: Request, session: SessionDep, me: ReviewerDep, label: str = "", stream: str = "",
          streamer: str = "", age: str = "", page: Page = 1):
    now = utcnow()
    where = QueueFilter(label=label or None, stream=stream.strip() or None, streamer_id=streamer.strip() or None,
                        older_than=AGES.get(age))
    shown = queue_page(session, reviewer=me.name, now=now, where=where, page=page, per_page=QUEUE_PAGE)  # reads only
    streams = {c.stream_id: views.stream_of(session, c.stream_id) for c in shown.cases}
    filters = {"label": label, "stream": stream.strip(), "streamer": streamer.strip(), "age": age}
    return _page(request, "queue.html", {
        "cases": shown.cases, "shown": shown, "streams": streams, "now": now, "age_of": views.age,
        "time_left": views.time_left, "labels": LABELS,
        "ages": AGES, "filters": filters, "page_url": _page_url("/queue", filters)})


def _page_url(path: str, query: dict[str, str]):
    """A function from page number to this page's URL with the same query."""
    kept = {k: v for k, v in query.items() if v}
    return lambda number: f"{path}?{urlencode({**kept, 'page': number})}"


@router.get("/cases/next")
def next_case(request: Request, session: SessionDep, me: ReviewerDep, after: Annotated[int | None, Query(ge=0, le=MAX_ID)] = None):
    """The highest-priority case this reviewer may take, other than the one they are leaving."""
    cases = [c for c in review_queue(session, reviewer=me.name, limit=QUEUE_LIMIT) if c.segment_id != after]
    if not cases:
        flash(request, "The queue is empty.")
        return RedirectResponse("/queue", status_code=303)
    return _back_to_case(cases[0].segment_id)


# ---------------------------------------------------------------- a case


def _holds(case: CaseInfo, name: str) -> bool:
    return case.claimed_by == name and case.claim_expires_at is not None and case.claim_expires_at > utcnow()


@router.get("/cases/{segment_id}")
def case_page(request: Request, session: SessionDep, me: ReviewerDep, segment_id: RowId):
    case = get_case(session, segment_id)
    stream = views.stream_of(session, case.stream_id)
    penalties = list_penalties(session, streamer_id=case.streamer_id) if case.streamer_id else []
    events = case_history_count(session, segment_id)
    return _page(request, "case.html", {
        "case": case, "stream": stream, "transcript": views.transcript(session, segment_id),
        "findings": views.findings(session, segment_id), "tally": views.report_tally(session, segment_id),
        "promises": views.promise_checks(session, segment_id),
        "reports": views.case_reports(session, segment_id, newest_first=True, limit=CASE_REPORTS),
        "clip": views.clip_name(session, segment_id), "clip_purged_at": views.clip_purged_at(session, segment_id),
        "events": events,
        "history": case_history(session, segment_id, offset=max(0, events - CASE_HISTORY)),
        "summary": views.event_summary, "penalties": list(reversed(penalties)),
        "case_penalties": [p for p in penalties if p.segment_id == segment_id],
        "labels": LABELS, "checked": set(case.labels or case.found_labels), "open": case.status in OPEN,
        "mine": _holds(case, me.name), "age_of": views.age, "time_left": views.time_left, "now": utcnow()})


@router.get("/cases/{segment_id}/reports")
def case_reports_page(request: Request, session: SessionDep, me: ReviewerDep, segment_id: RowId, page: Page = 1):
    case = get_case(session, segment_id)
    tally = views.report_tally(session, segment_id)
    reports = views.case_reports(session, segment_id, offset=(page - 1) * LIST_PAGE, limit=LIST_PAGE)
    return _page(request, "case_reports.html", {
        "case": case, "tally": tally, "reports": reports, "page": page, "pages": max(1, -(-tally.total // LIST_PAGE)),
        "page_url": _page_url(f"/cases/{segment_id}/reports", {})})


@router.get("/cases/{segment_id}/history")
def case_history_page(request: Request, session: SessionDep, me: ReviewerDep, segment_id: RowId, page: Page = 1):
    case = get_case(session, segment_id)
    events = case_history_count(session, segment_id)
    return _page(request, "case_history.html", {
        "case": case, "events": events, "page": page, "pages": max(1, -(-events // LIST_PAGE)),
        "history": case_history(session, segment_id, offset=(page - 1) * LIST_PAGE, limit=LIST_PAGE),
        "summary": views.event_summary, "page_url": _page_url(f"/cases/{segment_id}/history", {})})


@router.post("/cases/{segment_id}/claim")
def claim(request: Request, session: SessionDep, me: ReviewerDep, segment_id: RowId):
    def do():
        info = claim_case(session, reviewer=me.name, segment_id=segment_id)
        return f"Case {segment_id} is yours until {views.when(info.claim_expires_at)}."
    return _act(request, session, segment_id, do)


@router.post("/cases/{segment_id}/confirm")
def confirm(request: Request, session: SessionDep, me: ReviewerDep, segment_id: RowId,
            labels: Annotated[list[str], Form()] = [], comment: Comment = ""):  # noqa: B006 (FastAPI copies it)
    def do():
        decision = confirm_case(session, reviewer=me.name, segment_id=segment_id, labels=labels, comment=comment)
        points = active_strike_points(session, decision.streamer_id) if decision.streamer_id else None
        return decision_message(decision, points)
    return _act(request, session, segment_id, do)


@router.post("/cases/{segment_id}/dismiss")
def dismiss(request: Request, session: SessionDep, me: ReviewerDep, segment_id: RowId, comment: Comment = ""):
    return _act(request, session, segment_id, lambda: decision_message(
        dismiss_case(session, reviewer=me.name, segment_id=segment_id, comment=comment), None))


@router.post("/cases/{segment_id}/escalate")
def escalate(request: Request, session: SessionDep, me: ReviewerDep, segment_id: RowId, comment: Comment = ""):
    def do():
        escalate_case(session, reviewer=me.name, segment_id=segment_id, comment=comment)
        return f"Case {segment_id} escalated to the seniors."
    return _act(request, session, segment_id, do)


@router.post("/cases/{segment_id}/comment")
def comment(request: Request, session: SessionDep, me: ReviewerDep, segment_id: RowId, text: Comment = ""):
    def do():
        comment_case(session, reviewer=me.name, segment_id=segment_id, text=text)
        return "Comment added."
    return _act(request, session, segment_id, do)


@router.get("/cases/{segment_id}/bundle")
def case_bundle(request: Request, session: SessionDep, me: ReviewerDep, segment_id: RowId):
    """The case's bundle for a regulator or a court (`cases export`), for seniors and admins."""
    require_role(session, me.name, "senior", "exporting a case's bundle")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"case-{segment_id}.zip"
        write_bundle(session, segment_id, path, request.app.state.evidence_dir)
        data = path.read_bytes()
    return Response(data, media_type="application/zip",
                    headers={"Content-Disposition": f'attachment; filename="case-{segment_id}.zip"'})


@router.get("/evidence/{name}")
def evidence(request: Request, name: str):
    """A clip, by its content-hash name only: anything else (a path, another file) is 404."""
    if not views.CLIP_NAME.match(name):
        raise HTTPException(status_code=404, detail="no such clip")
    folder = request.app.state.evidence_dir
    path = (folder / name).resolve()
    if path.parent != folder or not path.is_file():
        raise HTTPException(status_code=404, detail="no such clip")
    return FileResponse(path, media_type="audio/ogg", headers={"Cache-Control": "private, max-age=86400"})


# ---------------------------------------------------------------- penalties and appeals


@router.get("/penalties")
def penalties(request: Request, session: SessionDep, streamer: str = "", active: bool = False):
    rows = list(reversed(list_penalties(session, streamer_id=streamer.strip() or None, active=active)))
    points = {s: active_strike_points(session, s) for s in {p.streamer_id for p in rows}}
    return _page(request, "penalties.html", {"penalties": rows, "points": points,
                                             "filters": {"streamer": streamer.strip(), "active": active}})


@router.get("/reviewers")
def accounts(request: Request, session: SessionDep, me: ReviewerDep):
    """The accounts and which are active (admins only)."""
    require_role(session, me.name, "admin", "seeing the accounts")
    return _page(request, "reviewers.html", {"accounts": list_reviewers(session)})


@router.post("/reviewers/{name}/{change}")
def account_change(request: Request, session: SessionDep, me: ReviewerDep, name: str, change: str):
    """Deactivate (every session of theirs ends) or activate an account; admins only."""
    if change not in ("activate", "deactivate"):
        raise HTTPException(status_code=404, detail="no such change")
    if name == me.name:
        raise Conflict("you cannot deactivate your own account here")
    set_active(session, name=name, active=change == "activate", by=me.name)
    session.commit()
    flash(request, f"{name} {change}d.")
    return RedirectResponse("/reviewers", status_code=303)


@router.get("/appeals")
def appeals(request: Request, session: SessionDep, me: ReviewerDep, status: str = "pending"):
    require_role(session, me.name, "senior", "resolving appeals")
    rows = list_appeals(session, status=status if status in tuple(ev.AppealStatus) else None)
    by_id = {p.id: p for p in list_penalties(session)}
    return _page(request, "appeals.html", {"appeals": rows, "penalty": by_id, "status": status})


@router.post("/appeals/{appeal_id}/resolve")
def resolve(request: Request, session: SessionDep, me: ReviewerDep, appeal_id: RowId,
            decision: Annotated[str, Form()] = "", comment: Comment = ""):
    if decision not in ("uphold", "deny"):
        raise HTTPException(status_code=422, detail="decision must be uphold or deny")
    try:
        appeal = resolve_appeal(session, reviewer=me.name, appeal_id=appeal_id, uphold=decision == "uphold",
                                comment=comment)
    except (InputError, Conflict) as exc:
        session.rollback()
        flash(request, str(exc), "error")
    else:
        session.commit()
        flash(request, f"Appeal {appeal_id} {appeal.status}: penalty #{appeal.penalty_id} "
                       + ("reversed, its strikes no longer count." if appeal.status == "upheld" else "stands."))
    return RedirectResponse("/appeals", status_code=303)
