"""`pinocchio scan --ray ADDRESS`: recordings spread over a Ray cluster, one task per file, each
scanned by the one pipeline into the shared store (PostgreSQL) exactly as `scan` does on one
machine: content scanned before is skipped, a file that cannot be read is a failed outcome naming
it. A task's process keeps its pipeline for the next file, so the model loads once per process.
The paths must be readable on every node (a shared mount)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

from pinocchio.core.settings import Settings
from pinocchio.fleet.run import connect, ray_module
from pinocchio.listen.pipeline import ScanOutcome

_loaded: dict = {}  # per task process: the settings' pipeline, engine, ledger and clip store


def _tools(settings: Settings):
    if _loaded.get("settings") != settings:
        from pinocchio.listen.evidence import EvidenceStore
        from pinocchio.listen.pipeline import PIPELINE_VERSION, Pipeline
        from pinocchio.moderation.ledger import ModerationLedger
        from pinocchio.store import open_store

        _loaded.update(settings=settings, pipeline=Pipeline(settings), engine=open_store(settings.db_url),
                       ledger=ModerationLedger(PIPELINE_VERSION), evidence=EvidenceStore(settings.evidence_path()))
    return _loaded


def scan_one(path: str, settings: Settings, force: bool) -> ScanOutcome:
    if not Path(path).is_file():
        return ScanOutcome(source=path, status="failed", error=f"{path}: not found on this node")
    from pinocchio.facts.catalog import recording_checker

    tools = _tools(settings)
    engine = tools["engine"]
    return tools["pipeline"].scan_file(path, engine, tools["ledger"], force=force, evidence=tools["evidence"],
                                       facts=lambda stream, started: recording_checker(engine, stream, started))


def scan_on_ray(paths: Sequence[Path], settings: Settings, address: str, force: bool = False,
                **ray_init) -> Iterator[ScanOutcome]:
    """Each file's outcome as its task finishes (not in the order given)."""
    ray = ray_module()
    connect(address, **ray_init)
    try:
        task = ray.remote(max_retries=2)(scan_one)  # a node lost mid-file: scanned again elsewhere
        pending = {task.remote(str(path), settings, force): str(path) for path in paths}
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                path = pending.pop(ref)
                try:
                    yield ray.get(ref)
                except ray.exceptions.RayError as exc:
                    reason = str(exc).strip().splitlines()[-1][:300]
                    yield ScanOutcome(source=path, status="failed", error=f"{path}: its task failed: {reason}")
    finally:
        ray.shutdown()
