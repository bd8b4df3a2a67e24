"""The claim classifier: a multi-label transformers sequence classifier read from a model
directory (ours, trained by `pinocchio train`, or any compatible one a user brings), with the
per-label thresholds, severities and articles stored beside its weights in `pinocchio.json`."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pinocchio.background import BackgroundLoad
from pinocchio.errors import ModelError
from pinocchio.records import LABELS, Finding, Segment

log = logging.getLogger(__name__)

# Never reach for a model hub: every model is a local directory.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")  # a library does not draw on the user's terminal

SHIPPED_MODEL = Path(__file__).resolve().parent / "data" / "claim_classifier"
SETTINGS_FILE = "pinocchio.json"


@dataclass(frozen=True)
class LabelRule:
    threshold: float
    severity: int
    article: str


@dataclass(frozen=True)
class ClassifierCard:
    """What pinocchio.json says about a model directory."""

    path: Path
    labels: tuple[str, ...]  # in the order of the model's outputs
    rules: dict[str, LabelRule]
    max_length: int
    confident: float  # a finding below this with no lexicon support is 'uncertain': a human decides
    version: str


def read_card(path: Path) -> ClassifierCard:
    """Check a model directory before any weights load, so a bad one fails at start-up."""
    path = Path(path)
    for needed in ("config.json", SETTINGS_FILE):
        if not (path / needed).is_file():
            raise ModelError(f"{path}: not a claim-classifier directory (missing {needed}); "
                             "make one with 'pinocchio train' or run the lexicon alone with --classifier none")
    try:
        config = json.loads((path / "config.json").read_text(encoding="utf-8"))
        settings = json.loads((path / SETTINGS_FILE).read_text(encoding="utf-8"))
        id2label = {int(k): v for k, v in config["id2label"].items()}
        labels = tuple(id2label[i] for i in range(len(id2label)))
        rules = {name: LabelRule(float(r["threshold"]), int(r["severity"]), str(r["article"]))
                 for name, r in settings["labels"].items()}
    except (ValueError, KeyError, TypeError) as exc:
        raise ModelError(f"{path}: unreadable classifier settings ({exc.__class__.__name__}: {exc})") from None
    unknown = sorted(set(labels) - set(LABELS))
    if unknown:
        raise ModelError(f"{path}: the model predicts unknown labels {unknown}; valid: {', '.join(LABELS)}")
    missing = sorted(set(labels) - set(rules))
    if missing:
        raise ModelError(f"{path}/{SETTINGS_FILE}: no threshold for {', '.join(missing)}")
    return ClassifierCard(path=path, labels=labels, rules=rules, max_length=int(settings.get("max_length", 128)),
                          confident=float(settings.get("confident", 0.9)),
                          version=str(settings.get("version", path.name)))


@dataclass
class _Loaded:
    tokenizer: object
    model: object


class ClaimClassifier:
    """Implements detect.ClaimScorer. Weights load on a background thread (`warm_up`) so that a
    scan's start-up is not held back by importing torch and transformers."""

    def __init__(self, path: Path, cpu_threads: int = 2, batch_size: int = 256):
        self.card = read_card(path)
        self.name = f"classifier:{self.card.version}"
        self.cpu_threads = cpu_threads
        self.batch_size = batch_size
        self._loaded = BackgroundLoad(self._load, "classifier-load")

    def warm_up(self) -> None:
        self._loaded.start()

    def _load(self) -> _Loaded:
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()
        torch.set_num_threads(self.cpu_threads)
        try:
            tokenizer = AutoTokenizer.from_pretrained(str(self.card.path))
            model = AutoModelForSequenceClassification.from_pretrained(str(self.card.path))
        except (OSError, ValueError) as exc:
            raise ModelError(f"{self.card.path}: cannot load the classifier ({str(exc).splitlines()[0]})") from None
        model.eval()
        return _Loaded(tokenizer, model)

    def probabilities(self, texts: Sequence[str]) -> np.ndarray:
        """(len(texts), len(labels)) sigmoid scores. Texts are sorted by length into batches so
        that padding stays small; the result is in the input order."""
        import torch

        loaded = self._loaded.get()
        out = np.zeros((len(texts), len(self.card.labels)), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        with torch.inference_mode():
            for start in range(0, len(order), self.batch_size):
                idx = order[start:start + self.batch_size]
                batch = loaded.tokenizer([texts[i] for i in idx], padding=True, truncation=True,
                                         max_length=self.card.max_length, return_tensors="pt")
                logits = loaded.model(**batch).logits
                out[idx] = torch.sigmoid(logits).numpy()
        return out

    def findings(self, segments: Sequence[Segment]) -> list[list[Finding]]:
        if not segments:
            return []
        scores = self.probabilities([s.text for s in segments])
        result = []
        for segment, row in zip(segments, scores):
            found = []
            for label, score in zip(self.card.labels, row):
                rule = self.card.rules[label]
                if score >= rule.threshold:
                    found.append(Finding(source="classifier", label=label, severity=rule.severity,
                                         article=rule.article, span=(0, len(segment.text)), matched=segment.text,
                                         match_kind="model", score=round(float(score), 4)))
            result.append(found)
        return result
