"""A fleet worker: one Ray actor per node, holding that node's one whisper model and the live
worker (live/worker.py) that decodes all the node's feeds together. The controller tells it which
feeds to follow and asks what it is doing; each worker serves its own Prometheus metrics."""

from __future__ import annotations

import logging
import os
import sys
import uuid
from dataclasses import dataclass, replace

from pinocchio.core.clock import utcnow
from pinocchio.core.records import Feed
from pinocchio.core.settings import Settings
from pinocchio.fleet.records import WorkerStatus
from pinocchio.listen.streaming import StreamOptions


def log_as_the_command_does() -> None:
    """An actor's process logs as `pinocchio` does (INFO and up, the level named); Ray hands its
    lines to the driver's output, so the operator sees placements and moves there."""
    logger = logging.getLogger("pinocchio")
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)


@dataclass(frozen=True)
class WorkerOptions:
    metrics_port: int = 0  # 0: any free port (two workers on one machine); the status names it
    webhook: str | None = None  # reminders are POSTed here, signed with the settings' webhook secret


class FleetWorker:
    def __init__(self, name: str, settings: Settings, stream_options: StreamOptions,
                 options: WorkerOptions = WorkerOptions()):
        import ray

        from pinocchio.listen.detect import DetectOptions
        from pinocchio.listen.evidence import EvidenceStore
        from pinocchio.listen.pipeline import PIPELINE_VERSION, Pipeline
        from pinocchio.live.metrics import WorkerMetrics
        from pinocchio.live.webhooks import WebhookSender
        from pinocchio.live.worker import LiveWorker
        from pinocchio.moderation.ledger import ModerationLedger
        from pinocchio.store import open_store

        log_as_the_command_does()
        self.name = name
        self.incarnation = uuid.uuid4().hex
        self.started_at = utcnow()
        self.node = ray.get_runtime_context().get_node_id()
        self.address = ray.util.get_node_ip_address()
        # Decode with the threads this node has (as Ray counts its CPUs: `ray start --num-cpus`),
        # not the driver's machine's.
        cpus = next((n["Resources"].get("CPU") for n in ray.nodes() if n["NodeID"] == self.node), None)
        if cpus:
            settings = replace(settings, cpu_threads=max(1, int(cpus)))
        self.metrics = WorkerMetrics()
        server = self.metrics.serve(options.metrics_port, self.address)
        self.metrics_url = f"http://{self.address}:{server.server_port}/metrics"
        pipeline = Pipeline(settings, detect_options=DetectOptions(batch_size=1))  # judged as committed
        engine = open_store(settings.db_url)
        sender = WebhookSender(options.webhook, settings.webhook_secret or "", engine) if options.webhook else None
        self.live = LiveWorker(pipeline, engine, [], ModerationLedger(PIPELINE_VERSION),
                               on_reminder=(lambda reminder: sender.send(reminder.as_json())) if sender else None,
                               evidence=EvidenceStore(settings.evidence_path()), metrics=self.metrics,
                               stream_options=stream_options)
        pipeline.transcriber  # the model loads before the first feed comes
        self.live.prepare()  # and its capacity is measured: the controller places feeds by it

    def status(self) -> WorkerStatus:
        capacity = self.live.capacity.feeds if self.live.capacity else None
        return WorkerStatus(name=self.name, node=self.node, address=self.address, pid=os.getpid(),
                            incarnation=self.incarnation, started_at=self.started_at, capacity=capacity,
                            metrics_url=self.metrics_url, feeds=self.live.progress())

    def follow(self, feed: Feed, resume: bool = False, behind_s: float = 0.0) -> None:
        self.live.follow(feed, resume, behind_s)

    def drop(self, name: str) -> None:
        """At once: the feed stores what it heard meanwhile, and the controller keeps asking."""
        self.live.unfollow(name, wait=False)

    def drain(self) -> None:
        self.live.drain()
