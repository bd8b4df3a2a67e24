"""Claim-classifier speed on CPU, and its share of a whole scan, measured in one run.

    .venv/bin/python benchmarks/classify.py [RECORDING] [--classifier DIR]

1. Throughput: the corpus's lines (whisper-sized sentences) scored in batches, after one warm-up
   pass: segments per second.
2. Share of scan: a scan of the recording with the classifier, timing the classifier's own calls
   (inference, plus loading its weights, which happens on a thread while whisper decodes).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("recording", nargs="?", type=Path, default=ROOT / "fixtures" / "demo" / "demo_stream.m4a")
    parser.add_argument("--classifier", default="", help="classifier directory (default: the shipped one)")
    args = parser.parse_args()

    from batch import machine  # same folder: the machine line every benchmark prints

    from pinocchio.core.settings import Settings
    from pinocchio.listen.pipeline import PIPELINE_VERSION, Pipeline
    from pinocchio.moderation.ledger import ModerationLedger
    from pinocchio.store import open_store
    from pinocchio.training.corpus import load_corpus

    settings = Settings().with_overrides(classifier=args.classifier or None)
    print(f"machine: {machine()}")

    pipeline = Pipeline(settings)
    classifier = pipeline.classifier
    texts = [pipeline.segmenter.segment_text(r.text).text for r in load_corpus()]
    start = time.perf_counter()
    classifier.probabilities(texts[:256])
    load_s = time.perf_counter() - start
    start = time.perf_counter()
    classifier.probabilities(texts)
    elapsed = time.perf_counter() - start
    mean_chars = sum(map(len, texts)) / len(texts)
    print(f"classifier: {classifier.name}, {settings.cpu_threads} threads, batch {classifier.batch_size}")
    print(f"throughput: {len(texts)} segments (mean {mean_chars:.1f} chars) in {elapsed:.2f} s = "
          f"{len(texts) / elapsed:,.0f} segments/s (first call with loading: {load_s:.2f} s)")

    # Share of a scan: wrap the classifier's scoring to time it inside a real scan.
    pipeline = Pipeline(settings)
    spent = {"score": 0.0, "segments": 0}
    original = pipeline.classifier.findings

    def timed(segments):
        t = time.perf_counter()
        found = original(segments)
        spent["score"] += time.perf_counter() - t
        spent["segments"] += len(segments)
        return found

    pipeline.classifier.findings = timed
    combine = pipeline.detector._combine  # the lexicon (plain, patterns, disguises) and the merge

    def timed_combine(segment, extra, checker=None):
        t = time.perf_counter()
        verdict = combine(segment, extra, checker)
        spent["lexicon"] += time.perf_counter() - t
        return verdict

    spent["lexicon"] = 0.0
    pipeline.detector._combine = timed_combine
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        outcome = pipeline.scan_file(args.recording, open_store(f"sqlite:///{tmp}/b.db"),
                                     ModerationLedger(PIPELINE_VERSION), force=True)
        total = time.perf_counter() - start
    print(f"scan of {args.recording.name}: {total:.2f} s, {spent['segments']} segments; classifier calls "
          f"{spent['score']:.3f} s = {100 * spent['score'] / total:.2f}% of the scan "
          f"(its first call waits for the weights loading in the background); lexicon and merge "
          f"{spent['lexicon']:.3f} s; detection in all {100 * (spent['score'] + spent['lexicon']) / total:.2f}%")
    flagged = sum(v.action != "pass" for v in outcome.verdicts)
    by_classifier = sum(any(f.source == "classifier" for f in v.findings) for v in outcome.verdicts)
    print(f"flagged segments: {flagged}, with a classifier finding: {by_classifier}")


if __name__ == "__main__":
    main()
