"""`pinocchio serve --demo`: a console with something in it, so a newcomer sees the whole flow.

The demo database is built once (about a minute) and kept in the cache:
1. the demo shop's facts (fixtures/demo/shop.yaml) are imported and the demo recording
   (fixtures/demo/demo_stream.m4a) is scanned by the real pipeline, with its evidence clips and
   its promises checked against those facts, and its stream is attributed to a streamer;
2. two demo reviewers are added (a reviewer and a senior; their passwords are printed);
3. `seeds/demo_history.csv` is imported and the senior confirms what it reports, so the streamer
   starts with a warning and that reporter with a record (credibility 2/3);
4. `seeds/demo_reports.csv` is imported: reports on flagged claims, one folded duplicate, one on a
   compliant moment, one from the reporter with a record.
It is built into a `.part` file and renamed, so an interrupted build leaves nothing half-made."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from sqlmodel import Session, select

from pinocchio.core.errors import ConfigError
from pinocchio.core.settings import Settings, checkout_path
from pinocchio.facts.catalog import import_facts, recording_checker
from pinocchio.facts.files import read_facts_file
from pinocchio.listen.evidence import EvidenceStore
from pinocchio.moderation.cases import claim_case, confirm_case
from pinocchio.moderation.report_files import import_reports
from pinocchio.moderation.reports import list_reports
from pinocchio.moderation.reviewers import add_reviewer
from pinocchio.store import open_store
from pinocchio.store.projections import Reviewer
from pinocchio.store.tables import FindingRow, Stream

log = logging.getLogger(__name__)

# The demo's recording and seed reports live in the source checkout, not in the wheel.
RECORDING = checkout_path("fixtures", "demo", "demo_stream.m4a")
SHOP = checkout_path("fixtures", "demo", "shop.yaml")
HISTORY = checkout_path("seeds", "demo_history.csv")
REPORTS = checkout_path("seeds", "demo_reports.csv")
STREAM_NAME = "美美好物直播间"  # the name the seed files use
STREAMER = "meimei"
API_KEY = "demo-api-key"  # only when no PINOCCHIO_API_KEYS is set; the demo listens on loopback


@dataclass(frozen=True)
class DemoAccount:
    name: str
    role: str
    password: str


ACCOUNTS = (DemoAccount("demo", "reviewer", "demodemo"), DemoAccount("senior", "senior", "seniorsenior"))


DEMO_FORMAT = 4  # raised when the log's format changes, so that an old cached demo is built anew


def default_demo_db(settings: Settings) -> Path:
    return settings.cache_dir / "demo" / f"pinocchio-demo-{DEMO_FORMAT}.db"


def is_demo_database(path: Path) -> bool:
    """A database this module built: the demo stream and the demo accounts are in it."""
    engine = open_store(f"sqlite:///{path}")
    try:
        with Session(engine) as session:
            stream = session.exec(select(Stream).where(Stream.name == STREAM_NAME, Stream.streamer_id == STREAMER)).first()
            names = set(session.exec(select(Reviewer.name)).all())
        return stream is not None and {a.name for a in ACCOUNTS} <= names
    finally:
        engine.dispose()


def prepare_demo(settings: Settings, db: str | None = None) -> Settings:
    """The settings to serve the demo with: its database built if missing. `db` (a SQLite path) may
    name where it lives; an existing database that is not a demo is refused, never touched."""
    if db and "://" in db and not db.startswith("sqlite:///"):
        raise ConfigError(f"--demo builds a SQLite file; {db!r} is not one")
    path = Path(db.removeprefix("sqlite:///")).expanduser() if db else default_demo_db(settings)
    path = path.resolve()
    if path.exists() and path.stat().st_size > 0:
        if not is_demo_database(path):
            raise ConfigError(f"{path} is not a demo database: --demo would fill it with demo data; "
                              "leave out --db or name a new file")
    else:
        build_demo(settings, path)
    return settings.with_overrides(db_url=f"sqlite:///{path}")


def build_demo(settings: Settings, path: Path) -> None:
    from pinocchio.listen.pipeline import (  # whisper and the classifier: only here
        PIPELINE_VERSION,
        Pipeline,
    )
    from pinocchio.moderation.ledger import ModerationLedger

    missing = [p for p in (RECORDING, SHOP, HISTORY, REPORTS) if not p.is_file()]
    if missing:
        raise ConfigError(f"--demo needs the source checkout: {missing[0]} is not here")
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_name(path.name + ".part")
    for stale in (part, part.with_name(part.name + "-wal"), part.with_name(part.name + "-shm")):
        stale.unlink(missing_ok=True)
    url = f"sqlite:///{part}"
    engine = open_store(url)
    try:
        with Session(engine) as session:
            facts = import_facts(session, read_facts_file(SHOP))
            if facts.errors:  # our own fixture: a refused entry is a bug to fix, not to skip
                raise ConfigError("demo: " + "; ".join(facts.errors))
            session.commit()
        outcome = Pipeline(settings).scan_file(RECORDING, engine, ModerationLedger(PIPELINE_VERSION),
                                               evidence=EvidenceStore(settings.with_overrides(db_url=url).evidence_path()),
                                               facts=lambda stream, started: recording_checker(engine, stream, started))
        if outcome.status == "failed":
            raise ConfigError(f"demo: scanning {RECORDING} failed: {outcome.error}")
        with Session(engine) as session:
            stream = session.get(Stream, outcome.stream_id)
            stream.name, stream.streamer_id, stream.room = STREAM_NAME, STREAMER, "demo"
            session.add(stream)
            for account in ACCOUNTS:
                add_reviewer(session, name=account.name, role=account.role, password=account.password)
            _import(session, HISTORY)
            _confirm_reported(session, ACCOUNTS[1].name)
            _import(session, REPORTS)
            session.commit()
    finally:
        engine.dispose()  # the last connection closes: SQLite folds the WAL back into the file
    os.replace(part, path)
    log.info("demo database built: %s", path)


def _import(session: Session, seeds: Path) -> None:
    result = import_reports(session, seeds)
    if result.rejected:  # our own seed file: a rejected row is a bug to fix, not to skip
        raise ConfigError("demo: " + "; ".join(result.rejected))


def _confirm_reported(session: Session, reviewer: str) -> None:
    """Confirm, as `reviewer`, each reported segment that the pipeline flagged under the report's label."""
    for report in list_reports(session):
        for segment_id in report.segment_ids:
            labels = set(session.exec(select(FindingRow.label).where(FindingRow.segment_id == segment_id)).all())
            if report.label in labels:
                claim_case(session, reviewer=reviewer, segment_id=segment_id)
                confirm_case(session, reviewer=reviewer, segment_id=segment_id, labels=[report.label],
                             comment="央视节目中查无此推荐")
