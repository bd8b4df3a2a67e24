"""The quality of decisions: a share of decided cases (`qa_share`) goes back, blind, to a second
reviewer, who decides it again without seeing the first decision (`qa_review` event); where the two
disagree a senior says which was right (`qa_resolve`). Agreement is reported per label and per
reviewer with Cohen's kappa, on the QA page and in `pinocchio stats`.

Which cases are sampled is decided by their id (the sha256 of it under the share), so it needs no
event, the same case is always in or out, and a reviewer cannot pick or avoid one."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, select

from pinocchio.core import events as ev
from pinocchio.core.clock import aware, utcnow
from pinocchio.core.errors import InputError, NotFound
from pinocchio.core.labels import LABELS, check_label
from pinocchio.moderation.ledger import hold, record
from pinocchio.moderation.reviewers import require_role
from pinocchio.store.projections import Case, QaReviewRow

MAX_COMMENT_CHARS = 4000


def sampled(segment_id: int, share: float) -> bool:
    """Whether the case goes back for a second review: its id's hash falls under the share."""
    digest = int.from_bytes(hashlib.sha256(f"qa:{segment_id}".encode()).digest()[:8], "big")
    return digest < share * 2**64


def qa_queue(session: Session, *, reviewer: str, share: float, limit: int = 50) -> list[int]:
    """Decided cases sampled for a second review that `reviewer` may do (not their own decisions),
    oldest decision first: their segment ids."""
    require_role(session, reviewer, "reviewer", "second reviews")
    done = select(QaReviewRow.segment_id)
    rows = session.exec(select(Case.segment_id, Case.decided_by).where(
        Case.status.in_((ev.CaseStatus.CONFIRMED, ev.CaseStatus.DISMISSED)), Case.segment_id.not_in(done))
        .order_by(Case.decided_at, Case.segment_id)).all()
    return [segment_id for segment_id, decided_by in rows if decided_by != reviewer and sampled(segment_id, share)][:limit]


def review_again(session: Session, *, reviewer: str, segment_id: int, confirm: bool, labels: Sequence[str] = (),
                 comment: str = "", share: float, now: datetime | None = None) -> QaReviewRow:
    """The second, blind review of a sampled case."""
    now = aware(now or utcnow())
    require_role(session, reviewer, "reviewer", "second reviews")
    labels = tuple(sorted(set(labels)))
    for label in labels:
        check_label(label)
    if confirm and not labels:
        raise InputError("confirming needs at least one label")
    if not confirm and labels:
        raise InputError("a dismissal has no labels")
    if not sampled(segment_id, share):
        raise InputError(f"case {segment_id} is not one of those sampled for a second review")
    hold(session)
    case = session.get(Case, segment_id)
    if case is None:
        raise NotFound(f"no case for segment {segment_id}")
    record(session, ev.QaReview(decision=ev.Decision.CONFIRM if confirm else ev.Decision.DISMISS, labels=labels,
                                comment=_comment(comment)), actor=reviewer, subject_id=segment_id,
           stream_id=case.stream_id, at=now)
    return session.get(QaReviewRow, segment_id)


def resolve_disagreement(session: Session, *, reviewer: str, segment_id: int, side: str, comment: str = "",
                         now: datetime | None = None) -> QaReviewRow:
    """A senior's word on which of two disagreeing reviews was right."""
    now = aware(now or utcnow())
    require_role(session, reviewer, "senior", "resolving disagreements")
    if side not in ("first", "second"):
        raise InputError("side must be first (the decision stands) or second")
    hold(session)
    case = session.get(Case, segment_id)
    if case is None:
        raise NotFound(f"no case for segment {segment_id}")
    record(session, ev.QaResolve(side=side, comment=_comment(comment)), actor=reviewer, subject_id=segment_id,
           stream_id=case.stream_id, at=now)
    return session.get(QaReviewRow, segment_id)


def disagreements(session: Session, *, open_only: bool = True) -> list[QaReviewRow]:
    query = select(QaReviewRow).where(QaReviewRow.agreed.is_(False)).order_by(QaReviewRow.reviewed_at)
    if open_only:
        query = query.where(QaReviewRow.resolved_by.is_(None))
    return list(session.exec(query).all())


# ---------------------------------------------------------------- agreement


def cohen_kappa(pairs: Sequence[tuple[Hashable, Hashable]]) -> float | None:
    """Cohen's kappa of two raters' judgements of the same items: (p_o - p_e) / (1 - p_e), p_o the
    share they agree on, p_e the share they would agree on by chance given how often each says
    what (Cohen 1960). None with no items, or when both always say the same one thing (p_e = 1)."""
    n = len(pairs)
    if not n:
        return None
    observed = sum(a == b for a, b in pairs) / n
    categories = {a for a, _ in pairs} | {b for _, b in pairs}
    chance = sum((sum(a == c for a, _ in pairs) / n) * (sum(b == c for _, b in pairs) / n) for c in categories)
    return None if chance == 1 else round((observed - chance) / (1 - chance), 4)


@dataclass(frozen=True)
class Agreement:
    """How far two reviewers agree: on `n` cases, the share agreed and Cohen's kappa."""

    name: str  # "decision", a label, or a reviewer
    n: int
    agreed: float | None
    kappa: float | None


@dataclass(frozen=True)
class QaReport:
    reviews: int
    resolved: int
    open_disagreements: int
    decision: Agreement
    labels: list[Agreement]  # per label: does each review give it
    reviewers: list[Agreement]  # per first reviewer: their decisions against the second reviews
    upheld: dict[str, tuple[int, int]]  # reviewer -> (disagreements a senior found them right in, resolved)


def qa_report(session: Session) -> QaReport:
    rows = session.exec(select(QaReviewRow).order_by(QaReviewRow.segment_id)).all()
    first = [(r.first_decision, tuple(json.loads(r.first_labels))) for r in rows]
    second = [(r.second_decision, tuple(json.loads(r.second_labels))) for r in rows]
    decision = _agreement("decision", [(a[0], b[0]) for a, b in zip(first, second)])
    labels = [_agreement(label, [(label in a[1], label in b[1]) for a, b in zip(first, second)]) for label in LABELS
              if any(label in a[1] or label in b[1] for a, b in zip(first, second))]
    reviewers, upheld = [], {}
    for name in sorted({r.first_reviewer for r in rows} | {r.second_reviewer for r in rows}):
        mine = [(a[0], b[0]) for r, a, b in zip(rows, first, second) if r.first_reviewer == name]
        if mine:
            reviewers.append(_agreement(name, mine))
        resolved = [r for r in rows if r.side and name in (r.first_reviewer, r.second_reviewer)]
        if resolved:
            right = sum((r.side == "first") == (r.first_reviewer == name) for r in resolved)
            upheld[name] = (right, len(resolved))
    return QaReport(reviews=len(rows), resolved=sum(r.resolved_by is not None for r in rows),
                    open_disagreements=sum(not r.agreed and r.resolved_by is None for r in rows), decision=decision,
                    labels=labels, reviewers=reviewers, upheld=upheld)


def _agreement(name: str, pairs: list[tuple]) -> Agreement:
    return Agreement(name, len(pairs), round(sum(a == b for a, b in pairs) / len(pairs), 4) if pairs else None,
                     cohen_kappa(pairs))


def _comment(text: str | None) -> str:
    text = (text or "").strip()
    if len(text) > MAX_COMMENT_CHARS:
        raise InputError(f"comment is {len(text)} characters, more than {MAX_COMMENT_CHARS}")
    return text
