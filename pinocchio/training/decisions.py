"""Reviewers' decisions as training lines (`pinocchio train --decisions DB`): the sentence of every
decided case, with the labels a reviewer confirmed — or none, for a dismissal or a decision an
appeal overturned (the labels were wrong). Real streamers' sentences, as whisper wrote them,
judged by people: what the written corpus lacks most."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from sqlmodel import Session, select

from pinocchio.core.events import CaseStatus
from pinocchio.store import open_store
from pinocchio.store.engine import shown
from pinocchio.store.projections import Case
from pinocchio.store.tables import SegmentRow
from pinocchio.training.corpus import SeedRow


@dataclass(frozen=True)
class Decisions:
    source: str  # the database, password hidden
    rows: tuple[SeedRow, ...]
    confirmed: int
    dismissed: int

    @property
    def digest(self) -> str:
        """What was learned from, in a few characters: it goes into the model's version."""
        body = json.dumps([(r.text, r.labels) for r in self.rows], ensure_ascii=False)
        return hashlib.sha256(body.encode("utf-8")).hexdigest()[:8]


def load_decisions(db_url: str) -> Decisions:
    """Every decided case's sentence once (the latest decision of a sentence said twice wins)."""
    engine = open_store(db_url)
    try:
        with Session(engine) as session:
            rows = session.exec(select(SegmentRow.text, Case.status, Case.labels, Case.segment_id)
                                .join(Case, Case.segment_id == SegmentRow.id)
                                .where(Case.status.in_((CaseStatus.CONFIRMED, CaseStatus.DISMISSED,
                                                        CaseStatus.OVERTURNED)))
                                .order_by(Case.decided_at, Case.segment_id)).all()
    finally:
        engine.dispose()
    by_text: dict[str, tuple[str, ...]] = {}
    for text, status, labels, _ in rows:
        by_text[text.strip()] = tuple(sorted(json.loads(labels))) if status == CaseStatus.CONFIRMED else ()
    seeds = tuple(SeedRow(id=f"decision-{i}", text=text, labels=labels, product="", split="train", origin="decided",
                          line=0) for i, (text, labels) in enumerate(sorted(by_text.items())) if text)
    return Decisions(source=shown(db_url), rows=seeds, confirmed=sum(bool(r.labels) for r in seeds),
                     dismissed=sum(not r.labels for r in seeds))
