"""What a fleet worker tells the controller about itself and its feeds (plain records: they cross
process boundaries through Ray)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from pinocchio.core.records import FeedReport


@dataclass(frozen=True)
class WorkerStatus:
    name: str
    node: str
    address: str
    pid: int
    incarnation: str  # new each time the actor (re)starts: a restarted worker follows nothing
    started_at: datetime
    capacity: int | None  # feeds it should hold, measured at its start (live/capacity.py)
    metrics_url: str | None
    feeds: dict[str, FeedReport] = field(default_factory=dict)

    @property
    def following(self) -> set[str]:
        return {name for name, report in self.feeds.items() if report.following}
