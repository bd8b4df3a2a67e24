"""The taxonomy: every part of Pinocchio speaks of the same labels, and one table
(`pinocchio/data/labels.yaml`) gives each its default severity and the article it breaks. The
lexicons, the classifier's card and the ladder are checked against it (tests/test_labels.py)."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

from pinocchio.core.errors import ConfigError, InputError
from pinocchio.core.settings import package_data
from pinocchio.core.yaml_file import key_nodes, read_yaml

LABELS = (
    "absolute_claim",
    "medical_claim",
    "efficacy_guarantee",
    "false_endorsement",
    "price_deception",
    "fake_scarcity",
    "off_platform_trade",
    "superstition",
    "staged_hype",
)
SEVERITIES = (1, 2, 3)  # 1-2 remind the streamer, 3 goes to a human reviewer


@dataclass(frozen=True)
class LabelRule:
    label: str
    severity: int
    article: str
    description: str


def label_table_path() -> Path:
    return package_data("labels.yaml")


@functools.lru_cache(maxsize=4)
def label_table(path: Path | None = None) -> dict[str, LabelRule]:
    """Each label's default severity, article and description; a broken table fails naming file:line."""
    path = path or label_table_path()
    document = read_yaml(path, ConfigError)
    data, lines = document.data, {k: line for k, (line, _) in key_nodes(document.root).items()}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}:1: expected a mapping of labels")
    for label in data:
        if label not in LABELS:
            raise ConfigError(f"{path}:{lines.get(label, 1)}: unknown label '{label}' (labels: {', '.join(LABELS)})")
    table = {}
    for label in LABELS:
        entry = data.get(label)
        where = f"{path}:{lines.get(label, 1)}"
        if not isinstance(entry, dict):
            raise ConfigError(f"{where}: label '{label}' is missing or not a mapping")
        severity, article = entry.get("severity"), entry.get("article")
        if severity not in SEVERITIES or isinstance(severity, bool):
            raise ConfigError(f"{where}: severity of {label} must be 1, 2 or 3, not {severity!r}")
        if not isinstance(article, str) or not article.strip():
            raise ConfigError(f"{where}: article of {label} must be a non-empty string")
        table[label] = LabelRule(label=label, severity=severity, article=article.strip(),
                                 description=str(entry.get("description", "")))
    return table


def check_label(label: object) -> str:
    """The label if it is one of the taxonomy's; else a one-line error listing them."""
    if label not in LABELS:
        raise InputError(f"label '{label}' is not one of: {', '.join(LABELS)}")
    return label  # type: ignore[return-value]
