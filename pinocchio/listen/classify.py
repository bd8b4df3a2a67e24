"""The claim classifier: a multi-label transformers sequence classifier read from a model
directory (ours, trained by `pinocchio train`, or any compatible one a user brings), with the
per-label thresholds, severities and articles stored beside its weights in `pinocchio.json`."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pinocchio.core.background import BackgroundLoad
from pinocchio.core.errors import ModelError
from pinocchio.core.labels import LABELS
from pinocchio.core.records import Finding, FindingSource, MatchKind, Segment
from pinocchio.core.settings import package_data
from pinocchio.listen.ngrams import NGRAM_FILE, NgramModel

log = logging.getLogger(__name__)

SHIPPED_MODEL = package_data("claim_classifier")
SETTINGS_FILE = "pinocchio.json"
ONNX_FILE = "model.onnx"  # the same network exported by `pinocchio train`, for fast start-up
INPUTS = ("input_ids", "attention_mask", "token_type_ids")
# Words that negate what follows them; a sentence cut right after one is read on with its claim.
NEGATIONS = ("不", "没", "没有", "别", "无", "无法", "非", "并非", "未", "勿", "不能", "不会", "不可以", "不可能", "不是",
             "不敢", "不要", "不得", "不用", "不一定", "禁止", "严禁", "不保证", "不承诺")


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
    # From `pinocchio calibrate` on real speech: a finding no lexicon hit backs is dropped below this
    # score, its label's own where the calibration chose one per label.
    stand_alone: float = 0.0
    stand_alone_by_label: dict[str, float] = field(default_factory=dict)
    # The share of the n-gram model (ngrams.npz) in the scores; 0 for a transformer alone.
    ngram_weight: float = 0.0


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
        calibration = settings.get("calibration", {})
        by_label = {str(k): float(v) for k, v in (calibration.get("stand_alone_by_label") or {}).items()}
        ngram_weight = float(settings.get("ensemble", {}).get("ngram_weight", 0.0))
    except (ValueError, KeyError, TypeError) as exc:
        raise ModelError(f"{path}: unreadable classifier settings ({exc.__class__.__name__}: {exc})") from None
    unknown = sorted(set(labels) - set(LABELS))
    if unknown:
        raise ModelError(f"{path}: the model predicts unknown labels {unknown}; valid: {', '.join(LABELS)}")
    missing = sorted(set(labels) - set(rules))
    if missing:
        raise ModelError(f"{path}/{SETTINGS_FILE}: no threshold for {', '.join(missing)}")
    if not 0.0 <= ngram_weight <= 1.0:
        raise ModelError(f"{path}/{SETTINGS_FILE}: ensemble.ngram_weight must be within 0..1, not {ngram_weight}")
    if ngram_weight and not (path / NGRAM_FILE).is_file():
        raise ModelError(f"{path}: the settings weigh in an n-gram model but {NGRAM_FILE} is missing")
    return ClassifierCard(path=path, labels=labels, rules=rules, max_length=int(settings.get("max_length", 128)),
                          confident=float(settings.get("confident", 0.9)),
                          version=str(settings.get("version", path.name)),
                          stand_alone=float(calibration.get("stand_alone", 0.0)), stand_alone_by_label=by_label,
                          ngram_weight=ngram_weight)


class _TorchBackend:
    """transformers + torch: any compatible model directory."""

    def __init__(self, path: Path, cpu_threads: int, max_length: int):
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()
        torch.set_num_threads(cpu_threads)
        self.max_length = max_length
        try:  # a local directory only: never a model hub
            self.tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
            self.model = AutoModelForSequenceClassification.from_pretrained(str(path), local_files_only=True).eval()
        except (OSError, ValueError) as exc:
            raise ModelError(f"{path}: cannot load the classifier ({str(exc).splitlines()[0]})") from None

    def __call__(self, texts: list[str]) -> np.ndarray:
        import torch

        batch = self.tokenizer(texts, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt")
        with torch.inference_mode():
            return torch.sigmoid(self.model(**batch).logits).numpy()


class _OnnxBackend:
    """onnxruntime + tokenizers on the exported network: the same scores (tested) without
    importing torch and transformers, which cost 2.7 s of CPU that a scan would otherwise pay."""

    def __init__(self, path: Path, cpu_threads: int, max_length: int):
        import onnxruntime
        from tokenizers import Tokenizer

        self.tokenizer = Tokenizer.from_file(str(path / "tokenizer.json"))
        self.tokenizer.enable_truncation(max_length)
        self.tokenizer.enable_padding(pad_id=self.tokenizer.token_to_id("[PAD]") or 0, pad_token="[PAD]")
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = cpu_threads
        options.inter_op_num_threads = 1
        self.session = onnxruntime.InferenceSession(str(path / ONNX_FILE), options, providers=["CPUExecutionProvider"])
        self.inputs = {i.name for i in self.session.get_inputs()}

    def __call__(self, texts: list[str]) -> np.ndarray:
        encodings = self.tokenizer.encode_batch(texts)
        feed = {
            "input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
            "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64),
            "token_type_ids": np.array([e.type_ids for e in encodings], dtype=np.int64),
        }
        return self.session.run(None, {k: v for k, v in feed.items() if k in self.inputs})[0]


class ClaimClassifier:
    """Implements detect.ClaimScorer. Weights load on a background thread (`warm_up`) so that a
    scan's start-up is not held back. A directory with `model.onnx` runs on onnxruntime; any other
    compatible transformers directory on torch (`backend` forces one)."""

    def __init__(self, path: Path, cpu_threads: int = 2, batch_size: int = 256, backend: str = "auto"):
        self.card = read_card(path)
        self.name = f"classifier:{self.card.version}"
        self.cpu_threads = cpu_threads
        self.batch_size = batch_size
        if backend == "auto":
            backend = "onnx" if (self.card.path / ONNX_FILE).is_file() else "torch"
        if backend not in ("onnx", "torch"):
            raise ModelError(f"unknown classifier backend {backend!r}: onnx or torch")
        self.backend = backend
        self._loaded = BackgroundLoad(self._load, "classifier-load")

    def warm_up(self) -> None:
        self._loaded.start()

    def thresholds(self) -> dict[str, float]:
        return {label: self.card.rules[label].threshold for label in self.card.labels}

    def _load(self):
        kind = _OnnxBackend if self.backend == "onnx" else _TorchBackend
        transformer = kind(self.card.path, self.cpu_threads, self.card.max_length)
        weight = self.card.ngram_weight
        if not weight:
            return transformer
        ngrams = NgramModel.load(self.card.path)
        return lambda texts: (1.0 - weight) * transformer(texts) + weight * ngrams.probabilities(texts)

    def probabilities(self, texts: Sequence[str]) -> np.ndarray:
        """(len(texts), len(labels)) sigmoid scores. Texts are sorted by length into batches so
        that padding stays small; the result is in the input order."""
        score = self._loaded.get()
        out = np.zeros((len(texts), len(self.card.labels)), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for start in range(0, len(order), self.batch_size):
            idx = order[start:start + self.batch_size]
            out[idx] = score([texts[i] for i in idx])
        return out

    def findings(self, segments: Sequence[Segment]) -> list[list[Finding]]:
        """Labels over threshold. A segment that starts right after a negation (Segment.before ends
        in 不能, 没有, ...) keeps a label only if the two read together carry it too: a cut at a short
        pause turns 不能治病 into 治病, which alone scores high. Only negations count: read together,
        the model is less sure of plain claims (我们家的东西是 | 最好的) than of either part."""
        if not segments:
            return []
        negated = [i for i, s in enumerate(segments) if s.before.endswith(NEGATIONS)]
        scores = self.probabilities([s.text for s in segments] + [segments[i].before + segments[i].text for i in negated])
        alone, together = scores[:len(segments)], scores[len(segments):]
        for row, i in enumerate(negated):
            alone[i] = np.minimum(alone[i], together[row])
        result = []
        for segment, row in zip(segments, alone):
            found = []
            for label, score in zip(self.card.labels, row):
                rule = self.card.rules[label]
                if score >= rule.threshold:
                    found.append(Finding(source=FindingSource.CLASSIFIER, label=label, severity=rule.severity,
                                         article=rule.article, span=(0, len(segment.text)), matched=segment.text,
                                         match_kind=MatchKind.MODEL, score=round(float(score), 4),
                                         model=self.name))
            result.append(found)
        return result
