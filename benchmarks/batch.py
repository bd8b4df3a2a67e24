"""Batch-scan cost against bare faster-whisper, measured in one run on the same audio.

    .venv/bin/python benchmarks/batch.py [RECORDING] [--repeats N]

Times, interleaved and repeated (median reported):
  bare  - WhisperModel(...) + transcribe(RECORDING) with the pipeline's own model and settings,
          every segment consumed; nothing else.
  scan  - the whole `pinocchio scan` work in process: lexicons, tokenizer, model, ffmpeg decode,
          ASR with guards, segmentation, detection, evidence clips, and storage into a fresh SQLite file;
          and the same scan without evidence clips (what cutting and encoding them costs).
Also the real-time factor of the scan and the character error rate on the real Mandarin clips.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    import os
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}"


def bare_run(model_dir: Path, audio: Path, threads: int, kwargs: dict) -> float:
    from faster_whisper import WhisperModel

    start = time.perf_counter()
    model = WhisperModel(str(model_dir), device="cpu", compute_type="int8", cpu_threads=threads)
    segments, _ = model.transcribe(str(audio), **kwargs)
    for _ in segments:
        pass
    return time.perf_counter() - start


def scan_run(settings, audio: Path, clips: bool = True) -> tuple[float, int]:
    from pinocchio.listen.evidence import EvidenceStore
    from pinocchio.listen.pipeline import PIPELINE_VERSION, Pipeline
    from pinocchio.moderation.ledger import ModerationLedger
    from pinocchio.store import open_store

    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        pipeline = Pipeline(settings)
        engine = open_store(f"sqlite:///{tmp}/bench.db")
        outcome = pipeline.scan_file(audio, engine, ModerationLedger(PIPELINE_VERSION), force=True,
                                     evidence=EvidenceStore(Path(tmp) / "evidence") if clips else None)
        elapsed = time.perf_counter() - start
        engine.dispose()
    assert outcome.status == "scanned", outcome.error
    return elapsed, sum(v.action != "pass" for v in outcome.verdicts)


def clip_cer(settings) -> float:
    from pinocchio.listen.audio import decode_chunks
    from pinocchio.listen.pipeline import Pipeline
    from pinocchio.training.evaluate import character_error_rate

    speech = ROOT.parent / "shared" / "data" / "speech"
    if not speech.is_dir():
        speech = ROOT / "fixtures" / "speech"
    pipeline = Pipeline(settings)
    pairs = []
    for line in (speech / "trans.txt").read_text(encoding="utf-8").splitlines():
        name, reference = line.split("\t", 1)
        text = "".join(u.text for u in pipeline.transcriber.transcribe(decode_chunks(speech / name)))
        pairs.append((reference, text))
    return character_error_rate(pairs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("recording", nargs="?", type=Path, default=ROOT / "fixtures" / "demo" / "demo_stream.m4a")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--loops", type=int, default=1,
                        help="scan the recording played N times over (one file), to see fixed costs amortised")
    parser.add_argument("--classifier", default=None, help="classifier directory, or 'none' for the lexicon alone")
    args = parser.parse_args()
    if args.loops > 1:
        import ffmpeg

        looped = Path(tempfile.mkdtemp()) / f"looped{args.loops}{args.recording.suffix}"
        ffmpeg.input(str(args.recording), stream_loop=args.loops - 1).output(str(looped), c="copy") \
            .global_args("-loglevel", "error").run()
        args.recording = looped

    from pinocchio.core.settings import Settings
    from pinocchio.listen.audio import probe_file
    from pinocchio.listen.models import resolve_model
    from pinocchio.listen.pipeline import Pipeline

    settings = Settings().with_overrides(classifier=args.classifier)
    model_dir = resolve_model(settings.model, settings.cache_dir)
    kwargs = Pipeline(settings).asr_options.whisper_kwargs()
    duration = probe_file(args.recording).duration_s or 0.0

    bare_times, scan_times, bare_scan_times, flagged = [], [], [], 0
    bare_run(model_dir, args.recording, settings.cpu_threads, kwargs)  # warm the page cache, not measured
    for _ in range(args.repeats):
        bare_times.append(bare_run(model_dir, args.recording, settings.cpu_threads, kwargs))
        elapsed, flagged = scan_run(settings, args.recording)
        scan_times.append(elapsed)
        bare_scan_times.append(scan_run(settings, args.recording, clips=False)[0])
    bare, full, unclipped = (statistics.median(t) for t in (bare_times, scan_times, bare_scan_times))

    print(f"machine: {machine()}")
    print(f"audio: {args.recording.name}, {duration:.1f} s; model {settings.model}, int8, {settings.cpu_threads} threads, "
          f"beam {kwargs['beam_size']}, VAD, word timestamps")
    print(f"bare faster-whisper: {bare:.2f} s (runs: {', '.join(f'{t:.2f}' for t in bare_times)})")
    print(f"pinocchio scan:      {full:.2f} s (runs: {', '.join(f'{t:.2f}' for t in scan_times)}), {flagged} segments flagged")
    print(f"scan without clips:  {unclipped:.2f} s (runs: {', '.join(f'{t:.2f}' for t in bare_scan_times)})")
    print(f"ratio scan/bare:     {full / bare:.3f} (medians; fastest runs: {min(scan_times) / min(bare_times):.3f}); "
          f"without evidence clips {unclipped / bare:.3f}")
    print(f"real-time factor:    {full / duration:.3f} (scan), {bare / duration:.3f} (bare)")
    print(f"classifier: {Pipeline(settings).classifier.name if settings.classifier != 'none' else 'none'}")
    print(f"CER on the real clips: {clip_cer(settings):.3f}")


if __name__ == "__main__":
    main()
