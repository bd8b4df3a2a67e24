"""Deadlines of cases: each open case is due some minutes after it opened, by its severity and by
whether its stream is still live (`data/deadlines.yaml`). Like priority, the due time is worked out
when the queue is read, not stored: a stream that ends moves its cases' deadlines out to the
ended ones. `sweep` escalates the overdue serious cases to the seniors, each by an `escalate`
event (actor `deadlines`), so the log says why."""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlmodel import Session, select

from pinocchio.core import events as ev
from pinocchio.core.clock import aware, utcnow
from pinocchio.core.errors import ConfigError
from pinocchio.core.settings import Settings
from pinocchio.core.yaml_file import read_yaml
from pinocchio.moderation.ledger import hold, record
from pinocchio.store.projections import Case
from pinocchio.store.tables import Scan, Stream

log = logging.getLogger(__name__)

ACTOR = "deadlines"  # who escalates an overdue case
SEVERITIES = (0, 1, 2, 3)


@dataclass(frozen=True)
class Deadlines:
    version: str
    live_minutes: dict[int, float]
    ended_minutes: dict[int, float]
    escalate_severity: int

    def due_at(self, opened_at: datetime, severity: int, live: bool) -> datetime:
        minutes = (self.live_minutes if live else self.ended_minutes)[max(0, min(3, severity))]
        return aware(opened_at) + timedelta(minutes=minutes)


@functools.cache
def _load(path: Path) -> Deadlines:
    data = read_yaml(path, ConfigError).data
    try:
        live = {int(k): float(v) for k, v in data["live"].items()}
        ended = {int(k): float(v) for k, v in data["ended"].items()}
        deadlines = Deadlines(str(data["version"]), live, ended, int(data["escalate_severity"]))
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ConfigError(f"{path}: needs version, live and ended (minutes by severity 0-3) and "
                          f"escalate_severity ({exc})") from None
    if set(live) != set(SEVERITIES) or set(ended) != set(SEVERITIES) or min([*live.values(), *ended.values()]) <= 0:
        raise ConfigError(f"{path}: live and ended give positive minutes for each severity 0, 1, 2 and 3")
    return deadlines


def load_deadlines(path: Path | str | None = None) -> Deadlines:
    """The deadlines file (the settings' by default); a broken one fails naming it."""
    return _load(Path(path) if path is not None else Settings.from_env().deadlines_path)


def live_streams(session: Session, stream_ids: set[int]) -> set[int]:
    """Which of these streams are on air now: a live feed (no content hash) whose scan is running."""
    if not stream_ids:
        return set()
    return set(session.exec(select(Scan.stream_id).join(Stream, Stream.id == Scan.stream_id).where(
        Scan.stream_id.in_(stream_ids), Scan.status == "running", Stream.content_sha256.is_(None))).all())


@dataclass(frozen=True)
class Escalated:
    segment_id: int
    overdue_minutes: float


def sweep(session: Session, *, now: datetime | None = None, deadlines: Deadlines | None = None) -> list[Escalated]:
    """Escalate every open case of `escalate_severity` or more that is past its due time; in the
    caller's transaction. Escalated cases are left to the seniors; a case held by a reviewer is
    escalated all the same (the claim ends with it)."""
    now = aware(now or utcnow())
    deadlines = deadlines or load_deadlines()
    if not _overdue(session, now, deadlines):
        return []
    hold(session)  # then read again: another process may have escalated or decided some meanwhile
    overdue = _overdue(session, now, deadlines)
    escalated = []
    for row, due in sorted(overdue, key=lambda item: item[1]):
        minutes = round((now - due).total_seconds() / 60, 1)
        record(session, ev.Escalate(comment=f"overdue by {minutes:g} min (due {due:%Y-%m-%d %H:%M} UTC, "
                                            f"deadlines {deadlines.version})", overdue=True),
               actor=ACTOR, subject_id=row.segment_id, stream_id=row.stream_id, at=now)
        escalated.append(Escalated(row.segment_id, minutes))
    log.warning("escalated %d overdue case(s) of severity %d or more: %s", len(escalated), deadlines.escalate_severity,
                ", ".join(str(e.segment_id) for e in escalated))
    return escalated


def _overdue(session: Session, now: datetime, deadlines: Deadlines) -> list[tuple[Case, datetime]]:
    rows = session.exec(select(Case).where(Case.status == ev.CaseStatus.OPEN,
                                           Case.severity >= deadlines.escalate_severity)).all()
    live = live_streams(session, {row.stream_id for row in rows})
    due = [(row, deadlines.due_at(row.opened_at, row.severity, row.stream_id in live)) for row in rows]
    return [(row, at) for row, at in due if at <= now]


def sweep_now(engine) -> list[Escalated]:
    """One sweep in its own transaction, committed (what the console's server runs each minute)."""
    with Session(engine) as session:
        escalated = sweep(session)
        session.commit()
    return escalated
