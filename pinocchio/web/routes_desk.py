"""The desk's pages: the dashboard of coverage and outcomes (figures from `moderation.stats`,
charts drawn by `web.charts`), and second reviews (`moderation.qa`): a sampled decided case shown
blind — without its decision, labels or history — to a second reviewer, the disagreements for the
seniors, and the agreement figures. Login required, like every console page."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException, Request, Response
from fastapi.responses import RedirectResponse

from pinocchio.core.errors import Conflict, InputError
from pinocchio.core.labels import LABELS
from pinocchio.moderation.qa import disagreements, qa_queue, qa_report, resolve_disagreement, review_again, sampled
from pinocchio.moderation.reviewers import at_least, require_role
from pinocchio.moderation.stats import days_back, desk_stats
from pinocchio.store.projections import Case
from pinocchio.web import charts, views
from pinocchio.web.auth import ReviewerDep, current_reviewer
from pinocchio.web.csrf import check_csrf
from pinocchio.web.deps import RowId, SessionDep

router = APIRouter(dependencies=[Depends(current_reviewer), Depends(check_csrf)])

PERIODS = (7, 30, 90, 365)


def _days(days: int) -> int:
    if days not in PERIODS:
        raise HTTPException(status_code=422, detail=f"days must be one of {', '.join(map(str, PERIODS))}")
    return days


@router.get("/dashboard")
def dashboard(request: Request, session: SessionDep, days: int = 30):
    stats = desk_stats(session, since=days_back(_days(days)))
    return request.app.state.templates.TemplateResponse(request, "dashboard.html", {
        "stats": stats, "days": days, "periods": PERIODS, "charts": list(charts.CHARTS)})


@router.get("/dashboard/charts/{name}.svg")
def chart(session: SessionDep, name: str, days: int = 30):
    if name not in charts.CHARTS:
        raise HTTPException(status_code=404, detail="no such chart")
    svg = charts.render(name, desk_stats(session, since=days_back(_days(days))))
    return Response(svg, media_type="image/svg+xml", headers={
        "Content-Security-Policy": charts.SVG_POLICY, "Cache-Control": "private, max-age=60"})


# ---------------------------------------------------------------- second reviews


def _flash(request: Request, text: str, kind: str = "ok") -> None:
    request.session["flash"] = [*request.session.get("flash", []), [kind, text]]


@router.get("/qa")
def qa_page(request: Request, session: SessionDep, me: ReviewerDep):
    share = request.app.state.settings.qa_share
    info = require_role(session, me.name, "reviewer", "second reviews")
    return request.app.state.templates.TemplateResponse(request, "qa.html", {
        "waiting": qa_queue(session, reviewer=me.name, share=share), "share": share, "report": qa_report(session),
        "open": disagreements(session) if at_least(info, "senior") else []})


@router.get("/qa/{segment_id}")
def qa_case(request: Request, session: SessionDep, me: ReviewerDep, segment_id: RowId):
    """The case as the first reviewer saw it before deciding: no decision, labels or history."""
    require_role(session, me.name, "reviewer", "second reviews")
    case = session.get(Case, segment_id)
    if case is None or not sampled(segment_id, request.app.state.settings.qa_share):
        raise HTTPException(status_code=404, detail="no case sampled for a second review here")
    if case.decided_by == me.name:
        raise HTTPException(status_code=403, detail="you decided this case: its second review is someone else's")
    return request.app.state.templates.TemplateResponse(request, "qa_case.html", {
        "segment_id": segment_id, "transcript": views.transcript(session, segment_id),
        "findings": views.findings(session, segment_id), "promises": views.promise_checks(session, segment_id),
        "reports": views.case_reports(session, segment_id, newest_first=True, limit=20),
        "clip": views.clip_name(session, segment_id), "labels": LABELS})


@router.post("/qa/{segment_id}")
def qa_submit(request: Request, session: SessionDep, me: ReviewerDep, segment_id: RowId,
              decision: Annotated[str, Form()] = "", labels: Annotated[list[str], Form()] = [],  # noqa: B006
              comment: Annotated[str, Form()] = ""):
    if decision not in ("confirm", "dismiss"):
        raise HTTPException(status_code=422, detail="decision must be confirm or dismiss")
    try:
        row = review_again(session, reviewer=me.name, segment_id=segment_id, confirm=decision == "confirm",
                           labels=labels, comment=comment, share=request.app.state.settings.qa_share)
    except (InputError, Conflict) as exc:
        session.rollback()
        _flash(request, str(exc), "error")
        return RedirectResponse(f"/qa/{segment_id}", status_code=303)
    agreed = row.agreed
    session.commit()
    _flash(request, f"Case {segment_id}: " + ("you agree with the first review." if agreed
                                              else "you disagree with the first review: a senior will resolve it."))
    return RedirectResponse("/qa", status_code=303)


@router.post("/qa/{segment_id}/resolve")
def qa_resolve(request: Request, session: SessionDep, me: ReviewerDep, segment_id: RowId,
               side: Annotated[str, Form()] = "", comment: Annotated[str, Form()] = ""):
    try:
        resolve_disagreement(session, reviewer=me.name, segment_id=segment_id, side=side, comment=comment)
    except (InputError, Conflict) as exc:
        session.rollback()
        _flash(request, str(exc), "error")
    else:
        session.commit()
        _flash(request, f"Case {segment_id}: the {side} review was right.")
    return RedirectResponse("/qa", status_code=303)
