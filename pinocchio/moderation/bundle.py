"""A case's bundle for a regulator or a court: one zip file that stands on its own.

- `case.json`: the segment and its stream, the case, the findings (with the fact a facts finding
  breaks), the promises checked against the shop's facts, the viewers' reports, the decision, the
  penalties and appeals, and every article cited;
- `transcript.txt`: what was said a minute either side, the case's sentence marked;
- `clip/<sha256>.opus`: the evidence clip, when it is still kept;
- `events.jsonl`: the log's events about the case, its penalties and their appeals, whole;
- `chain.jsonl`: the proof: for every chain those events are on, every event of it from the case's
  first to the chain's head when exported, so each link can be recomputed without the database;
- `MANIFEST.json`: each file's sha256, the chain heads, and how an event's hash is made.

`verify_bundle` checks all of it from the file alone (`pinocchio cases verify-bundle`)."""

from __future__ import annotations

import hashlib
import json
import zipfile
from datetime import datetime
from pathlib import Path

from sqlalchemy import or_
from sqlmodel import Session, select

from pinocchio import __version__
from pinocchio.core.clock import aware, iso, utcnow
from pinocchio.core.errors import InputError, NotFound
from pinocchio.core.labels import label_table
from pinocchio.store.chain import event_hash
from pinocchio.store.projections import Appeal, Case, EvidenceClip, Penalty, Report, ReportLink
from pinocchio.store.scans import promise_checks
from pinocchio.store.tables import FindingRow, ModerationEvent, SegmentRow, Stream

TRANSCRIPT_WINDOW_S = 60.0
HASH_RULE = ("sha256 over the UTF-8 JSON array [prev_hash, id, created_at (UTC, microseconds, no offset), actor, "
             "action, subject, stream_id, payload]; prev_hash is the hash of the event before it in its chain")


def write_bundle(session: Session, segment_id: int, out: Path, evidence_dir: Path) -> dict:
    """Write the bundle of the segment's case to `out`; its manifest."""
    segment = session.get(SegmentRow, segment_id)
    if segment is None:
        raise NotFound(f"no segment {segment_id}")
    files: dict[str, bytes] = {}
    events = _case_events(session, segment_id)
    files["case.json"] = _json(_case(session, segment))
    files["transcript.txt"] = _transcript(session, segment).encode("utf-8")
    clip = session.get(EvidenceClip, segment_id)
    if clip is not None and clip.purged_at is None and (evidence_dir / clip.clip).is_file():
        files[f"clip/{clip.clip}"] = (evidence_dir / clip.clip).read_bytes()
    files["events.jsonl"] = "".join(json.dumps(_row(e), ensure_ascii=False) + "\n" for e in events).encode("utf-8")
    proof, heads = _chain_proof(session, events)
    files["chain.jsonl"] = "".join(json.dumps(_row(e), ensure_ascii=False) + "\n" for e in proof).encode("utf-8")
    manifest = {"segment_id": segment_id, "exported_at": iso(utcnow()), "pinocchio": __version__,
                "files": {name: hashlib.sha256(data).hexdigest() for name, data in sorted(files.items())},
                "events": len(events), "chain_events": len(proof), "heads": heads, "hash_rule": HASH_RULE}
    try:
        with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as bundle:
            for name, data in files.items():
                bundle.writestr(name, data)
            bundle.writestr("MANIFEST.json", _json(manifest))
    except OSError as exc:
        raise InputError(f"{out}: {exc.strerror}") from None
    return manifest


def verify_bundle(path: Path) -> str:
    """Check a bundle from the file alone; InputError naming what does not hold."""
    try:
        bundle = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as exc:
        raise InputError(f"{path}: not a bundle ({exc})") from None
    with bundle:
        try:
            manifest = json.loads(bundle.read("MANIFEST.json"))
        except (KeyError, ValueError):
            raise InputError(f"{path}: no readable MANIFEST.json") from None
        for name, digest in manifest["files"].items():
            try:
                data = bundle.read(name)
            except KeyError:
                raise InputError(f"{path}: {name} is missing") from None
            if hashlib.sha256(data).hexdigest() != digest:
                raise InputError(f"{path}: {name} does not match its sha256 in the manifest (changed)")
        proof = [json.loads(line) for line in bundle.read("chain.jsonl").decode("utf-8").splitlines()]
        events = [json.loads(line) for line in bundle.read("events.jsonl").decode("utf-8").splitlines()]
    by_chain: dict[str, list[dict]] = {}
    for e in proof:
        if e["hash"] != event_hash(e["prev_hash"], e["id"], datetime.fromisoformat(e["created_at"]), e["actor"],
                                   e["action"], e["subject"], e["stream_id"], e["payload"]):
            raise InputError(f"{path}: event {e['id']}'s hash does not match its content")
        by_chain.setdefault(str(e["chain"]), []).append(e)
    for chain, run in by_chain.items():
        for before, after in zip(run, run[1:]):
            if after["prev_hash"] != before["hash"]:
                raise InputError(f"{path}: the chain breaks between events {before['id']} and {after['id']}")
        if [run[-1]["id"], run[-1]["hash"]] != manifest["heads"].get(chain):
            raise InputError(f"{path}: chain {chain} does not end in the head the manifest names")
    hashes = {e["id"]: e["hash"] for e in proof}
    for e in events:
        if hashes.get(e["id"]) != e["hash"]:
            raise InputError(f"{path}: event {e['id']} of the case is not in the chain proof")
    return (f"{len(manifest['files'])} files match the manifest; {len(events)} case events are on "
            f"{len(by_chain)} chain(s) of {len(proof)} linked events ending in the heads named")


# ---------------------------------------------------------------- what goes in


def _case_events(session: Session, segment_id: int) -> list[ModerationEvent]:
    """The events about the segment, the penalties it drew (their penalize events) and what was
    done about those penalties (appeals, resolutions, reversals)."""
    penalty_ids = session.exec(select(Penalty.id).where(Penalty.segment_id == segment_id)).all()
    appeal_ids = session.exec(select(Appeal.id).where(Appeal.penalty_id.in_(penalty_ids))).all() if penalty_ids else []
    subjects = [f"segment:{segment_id}", *(f"penalty:{p}" for p in penalty_ids), *(f"appeal:{a}" for a in appeal_ids)]
    return list(session.exec(select(ModerationEvent).where(or_(ModerationEvent.subject.in_(subjects),
                                                               ModerationEvent.id.in_(penalty_ids)))
                             .order_by(ModerationEvent.id)).all())


def _chain_proof(session: Session, events: list[ModerationEvent]) -> tuple[list[ModerationEvent], dict]:
    proof, heads = [], {}
    for chain in sorted({e.chain for e in events}):
        first = min(e.id for e in events if e.chain == chain)
        run = list(session.exec(select(ModerationEvent).where(ModerationEvent.chain == chain, ModerationEvent.id >= first)
                                .order_by(ModerationEvent.id)).all())
        proof += run
        heads[str(chain)] = [run[-1].id, run[-1].hash]
    return sorted(proof, key=lambda e: e.id), heads


def _case(session: Session, segment: SegmentRow) -> dict:
    stream = session.get(Stream, segment.stream_id)
    case = session.get(Case, segment.id)
    findings = session.exec(select(FindingRow).where(FindingRow.segment_id == segment.id).order_by(FindingRow.id)).all()
    labels = json.loads(case.labels) if case else []
    reports = session.exec(select(Report).join(ReportLink, ReportLink.report_id == Report.id)
                           .where(ReportLink.segment_id == segment.id).order_by(Report.id)).all()
    penalties = session.exec(select(Penalty).where(Penalty.segment_id == segment.id).order_by(Penalty.id)).all()
    appeals = session.exec(select(Appeal).where(Appeal.penalty_id.in_([p.id for p in penalties]))).all() if penalties else []
    articles = sorted({f.article for f in findings} | {label_table()[label].article for label in labels})
    return {
        "stream": {"id": stream.id, "name": stream.name, "source": stream.source, "streamer_id": stream.streamer_id,
                   "content_sha256": stream.content_sha256},
        "segment": {"id": segment.id, "scan_id": segment.scan_id, "start_s": segment.start_ms / 1000,
                    "end_s": segment.end_ms / 1000, "text": segment.text, "action": segment.action,
                    "heard_again": segment.heard_again},
        "case": None if case is None else {
            "status": case.status, "severity": case.severity, "labels": labels, "decided_by": case.decided_by,
            "decided_at": iso(aware(case.decided_at)), "opened_at": iso(aware(case.opened_at)),
            "report_count": case.report_count, "report_weight": case.report_weight},
        "findings": [{k: v for k, v in f.model_dump().items() if k not in ("id", "segment_id")} for f in findings],
        "promises": [{k: v for k, v in c.model_dump().items() if k not in ("id", "segment_id")}
                     for c in promise_checks(session, segment.id)],
        "reports": [{"id": r.id, "reporter_id": r.reporter_id, "at_s": r.at_s, "label": r.label, "comment": r.comment,
                     "credibility": r.credibility, "received_at": iso(aware(r.received_at)), "outcome": r.outcome}
                    for r in reports],
        "penalties": [_plain(p.model_dump()) for p in penalties],
        "appeals": [_plain(a.model_dump()) for a in appeals],
        "articles": articles,
    }


def _transcript(session: Session, segment: SegmentRow) -> str:
    rows = session.exec(select(SegmentRow).where(SegmentRow.scan_id == segment.scan_id,
                                                 SegmentRow.end_ms >= segment.start_ms - TRANSCRIPT_WINDOW_S * 1000,
                                                 SegmentRow.start_ms <= segment.end_ms + TRANSCRIPT_WINDOW_S * 1000)
                        .order_by(SegmentRow.start_ms)).all()
    lines = [f"{'>>' if row.id == segment.id else '  '} [{_clock(row.start_ms)}-{_clock(row.end_ms)}] {row.action:<6} {row.text}"
             + (" (heard again)" if row.heard_again else "") for row in rows]
    return "\n".join(lines) + "\n"


def _clock(ms: int) -> str:
    minutes, seconds = divmod(ms / 1000, 60)
    return f"{int(minutes):02d}:{seconds:04.1f}"


def _row(e: ModerationEvent) -> dict:
    return {"id": e.id, "chain": e.chain, "created_at": _utc(e.created_at), "actor": e.actor, "action": e.action,
            "subject": e.subject, "stream_id": e.stream_id, "payload": e.payload, "prev_hash": e.prev_hash, "hash": e.hash}


def _utc(moment: datetime) -> str:
    """As the hash reads it: UTC without an offset (what `event_hash` makes of any time it is given)."""
    return aware(moment).replace(tzinfo=None).isoformat(timespec="microseconds")


def _plain(values: dict) -> dict:
    return {k: iso(aware(v)) if isinstance(v, datetime) else v for k, v in values.items()}


def _json(value) -> bytes:
    return json.dumps(value, ensure_ascii=False, indent=1, default=str).encode("utf-8")

