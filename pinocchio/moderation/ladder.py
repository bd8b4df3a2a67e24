"""The penalty ladder (`pinocchio/data/ladder.yaml`, or the file the `PINOCCHIO_LADDER` setting
names): strike points per label and severity, and the penalty a streamer's active points reach.
Pure: no database, no clock; callers pass the time.

- points for a confirmed label = `label_points[label]` if listed, else `points_by_severity[s]`,
  where s is the label's severity in the segment (else its default in the label table);
- a strike expires `strike_expiry_days` after the decision;
- the penalty is the highest step whose `at` the streamer's active points (old + new) reach:
  a warning (ends as it starts), a ban of `hours`, or a permanent ban (no end)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import yaml

from pinocchio.core.errors import LadderError
from pinocchio.core.events import PenaltyKind
from pinocchio.core.labels import LABELS, SEVERITIES
from pinocchio.core.settings import Settings
from pinocchio.core.yaml_file import key_nodes, line_of, read_yaml

FILE_KEYS = {"version", "strike_expiry_days", "points_by_severity", "label_points", "steps"}
STEP_KEYS = {"at", "penalty", "hours"}
PENALTIES = tuple(PenaltyKind)


@dataclass(frozen=True)
class LadderStep:
    at: int  # active points that reach this step
    penalty: str  # one of PENALTIES
    hours: float | None = None  # a ban's length


@dataclass(frozen=True)
class PenaltyPlan:
    """What the ladder gives for `points`: a penalty starting at `starts_at`."""

    kind: PenaltyKind
    step: int
    points: int
    starts_at: datetime
    ends_at: datetime | None  # None: permanent


@dataclass(frozen=True)
class Ladder:
    version: str
    strike_expiry_days: float
    points_by_severity: tuple[tuple[int, int], ...]  # (severity, points)
    label_points: tuple[tuple[str, int], ...]  # (label, points)
    steps: tuple[LadderStep, ...]  # by `at`, ascending
    path: str = ""

    def points_for(self, label: str, severity: int) -> int:
        override = dict(self.label_points).get(label)
        return override if override is not None else dict(self.points_by_severity)[severity]

    def strike_expires_at(self, decided_at: datetime) -> datetime:
        return decided_at + timedelta(days=self.strike_expiry_days)

    def penalty_for(self, points: int, starts_at: datetime) -> PenaltyPlan | None:
        """The highest step `points` reach, or None below the first step."""
        reached = [s for s in self.steps if points >= s.at]
        if not reached:
            return None
        step = reached[-1]
        ends_at = None if step.penalty == "permanent_ban" else starts_at + timedelta(hours=step.hours or 0)
        return PenaltyPlan(kind=PenaltyKind(step.penalty), step=step.at, points=points, starts_at=starts_at, ends_at=ends_at)


def load_ladder(path: Path | str | None = None) -> Ladder:
    """Read and check a ladder file (default: the one the settings name); the first problem raises
    `LadderError` naming file:line."""
    path = Path(path) if path is not None else Settings.from_env().ladder_path
    document = read_yaml(path, LadderError)
    data, root = document.data, document.root
    if not isinstance(data, dict) or not isinstance(root, yaml.MappingNode):
        raise LadderError(f"{path}:1: expected a mapping with {', '.join(sorted(FILE_KEYS))}")
    nodes = key_nodes(root)

    def where(key: str) -> str:
        return f"{path}:{nodes[key][0] if key in nodes else 1}"

    def fail(place: str, message: str):
        raise LadderError(f"{place}: {message}")

    for key in data:
        if key not in FILE_KEYS:
            fail(where(key), f"unknown key '{key}' (valid: {', '.join(sorted(FILE_KEYS))})")
    if not isinstance(data.get("version"), (str, int, float)) or isinstance(data.get("version"), bool):
        fail(where("version"), "version is missing")
    expiry = data.get("strike_expiry_days", 90)
    if not isinstance(expiry, (int, float)) or isinstance(expiry, bool) or expiry <= 0:
        fail(where("strike_expiry_days"), f"strike_expiry_days must be a positive number, not {expiry!r}")
    by_severity = data.get("points_by_severity")
    if not isinstance(by_severity, dict) or set(by_severity) != set(SEVERITIES):
        fail(where("points_by_severity"), "points_by_severity must give points for severities 1, 2 and 3")
    for severity, points in by_severity.items():
        if not _points(points):
            fail(where("points_by_severity"), f"points for severity {severity} must be a whole number >= 0")
    label_points = data.get("label_points") or {}
    if not isinstance(label_points, dict):
        fail(where("label_points"), "label_points must map labels to points")
    for label, points in label_points.items():
        if label not in LABELS:
            fail(where("label_points"), f"label '{label}' is not one of: {', '.join(LABELS)}")
        if not _points(points):
            fail(where("label_points"), f"points for {label} must be a whole number >= 0")
    steps_node = nodes.get("steps", (None, None))[1]
    raw_steps = data.get("steps")
    if not isinstance(raw_steps, list) or not raw_steps or not isinstance(steps_node, yaml.SequenceNode):
        fail(where("steps"), "steps must be a non-empty list of {at, penalty, hours}")
    steps: list[LadderStep] = []
    for raw, node in zip(raw_steps, steps_node.value):
        place = f"{path}:{line_of(node)}"
        if not isinstance(raw, dict):
            fail(place, "a step must be a mapping like {at: 4, penalty: ban, hours: 24}")
        bad = sorted(set(raw) - STEP_KEYS)
        if bad:
            fail(place, f"unknown key '{bad[0]}' (valid: {', '.join(sorted(STEP_KEYS))})")
        at, penalty, hours = raw.get("at"), raw.get("penalty"), raw.get("hours")
        if not _points(at) or at < 1:
            fail(place, f"at must be a whole number of points >= 1, not {at!r}")
        if penalty not in PENALTIES:
            fail(place, f"penalty '{penalty}' is not one of: {', '.join(PENALTIES)}")
        if penalty == "ban":
            if not isinstance(hours, (int, float)) or isinstance(hours, bool) or hours <= 0:
                fail(place, f"a ban needs hours > 0, not {hours!r}")
        elif hours is not None:
            fail(place, f"a {penalty} takes no hours")
        if steps and at <= steps[-1].at:
            fail(place, f"steps must climb: at {at} is not above {steps[-1].at}")
        bans = [s.hours for s in steps if s.penalty == "ban"]
        if penalty == "ban" and bans and hours <= bans[-1]:
            fail(place, f"bans must grow longer up the ladder: {hours} h is not longer than {bans[-1]} h")
        if steps and steps[-1].penalty == "permanent_ban":
            fail(place, "nothing can follow a permanent_ban")
        steps.append(LadderStep(at=at, penalty=penalty, hours=float(hours) if hours is not None else None))
    return Ladder(version=str(data["version"]), strike_expiry_days=float(expiry),
                  points_by_severity=tuple(sorted((int(k), int(v)) for k, v in by_severity.items())),
                  label_points=tuple(sorted((k, int(v)) for k, v in label_points.items())),
                  steps=tuple(steps), path=str(path))


def _points(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0
