"""Live worker: latency of its findings and how many real-time feeds one machine holds.

    .venv/bin/python benchmarks/live.py [--feeds 1,2,3,4] [--lag-bound 5]

A private nginx with the RTMP module (as in the tests) relays N copies of the demo recording,
each published in real time by its own ffmpeg (`-re`, as a streamer's encoder would); one
`LiveWorker` process follows all N with one shared whisper model. For each N:
  latency  - for every planted claim of every feed: wall time from the moment the claim's last
             word was published (publisher start + the word's time in the recording; the start is
             taken when ffmpeg is spawned, so the figure errs long) to the moment its finding was
             committed to the database. p50 and p95.
  lag      - the worker's lag behind live (pinocchio_feed_lag_seconds) sampled every 0.5 s;
             N feeds are held in real time when the lag never passes --lag-bound seconds.
             (Claims the ASR mishears are counted as missed; that is accuracy, not capacity.)
Then the ASR-bound limit: bare faster-whisper with the same model and options decoding the same
windows the live path decodes (each utterance with its context); 1/RTF is the number of real-time
feeds its decoding alone could keep up with. The capacity ratio is the largest N held over that
limit. For scale, the same for the demo transcribed as one file (what a batch scan pays: whisper
packs 30 s of speech into each encoder pass, where live pays one pass per utterance).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # the nginx launcher the tests use
sys.path.insert(0, str(ROOT / "benchmarks"))

DEMO = ROOT / "fixtures" / "demo" / "demo_stream.m4a"
REFERENCE = ROOT / "fixtures" / "demo" / "demo_stream.reference.json"
SLACK_S = 2.0  # a finding counts for a claim when its segment lies within this of the claim


def planted_claims() -> list[dict]:
    return [x for x in json.loads(REFERENCE.read_text(encoding="utf-8")) if x.get("labels")]


def run_feeds(pipeline, server, count: int, run: int, lag_bound_s: float, stream_options) -> dict:
    from pinocchio.listen.audio import ReconnectPolicy
    from pinocchio.listen.pipeline import PIPELINE_VERSION
    from pinocchio.live.feeds import Feed
    from pinocchio.live.metrics import WorkerMetrics
    from pinocchio.live.worker import LiveWorker
    from pinocchio.moderation.ledger import ModerationLedger
    from pinocchio.store import open_store

    feeds = [Feed(f"bench{run}-{i}", server.rtmp_url(f"bench{run}-{i}")) for i in range(count)]
    stored: dict[str, list[tuple[float, object]]] = {f.name: [] for f in feeds}
    metrics = WorkerMetrics()
    with tempfile.TemporaryDirectory() as tmp:
        engine = open_store(f"sqlite:///{tmp}/live.db")
        worker = LiveWorker(pipeline, engine, feeds, ModerationLedger(PIPELINE_VERSION), metrics=metrics,
                            on_verdict=lambda feed, v: stored[feed.name].append((time.monotonic(), v)),
                            policy=ReconnectPolicy(initial_s=0.2, max_s=0.5, read_timeout_s=5),
                            stream_options=stream_options)
        runner = threading.Thread(target=worker.run, daemon=True)
        runner.start()  # the worker knocks until each stream is published
        published_at, publishers = {}, []
        for feed in feeds:
            published_at[feed.name] = time.monotonic()
            publishers.append(server.publish(DEMO, feed.name))
        lags: dict[str, list[float]] = {f.name: [] for f in feeds}
        while any(p.poll() is None for p in publishers):
            time.sleep(0.5)
            for feed in feeds:
                lags[feed.name].append(metrics.lag.labels(feed.name)._value.get())
        time.sleep(3.0)  # the last words are committed when the feed ends
        worker.stop.set()
        runner.join(timeout=60)
        engine.dispose()
    latencies, missed, by_claim = [], 0, {}
    for feed in feeds:
        for claim in planted_claims():
            for label in claim["labels"]:
                hits = [at for at, v in stored[feed.name] if label in v.labels
                        and v.segment.start_s < claim["end_s"] + SLACK_S and v.segment.end_s > claim["start_s"] - SLACK_S]
                if hits:
                    latencies.append(min(hits) - (published_at[feed.name] + claim["end_s"]))
                    by_claim.setdefault(f"{claim['end_s']:.0f}s {label}", []).append(round(latencies[-1], 1))
                else:
                    missed += 1
                    by_claim.setdefault(f"{claim['end_s']:.0f}s {label}", []).append("missed")
    # Flagged segments that touch no planted claim: compliant talk the live path flagged.
    false_flags = [f"{v.segment.start_s:.0f}s {v.segment.text}" for feed in feeds for _, v in stored[feed.name]
                   if v.action != "pass" and not any(v.segment.start_s < c["end_s"] + SLACK_S
                                                     and v.segment.end_s > c["start_s"] - SLACK_S
                                                     for c in planted_claims())]
    worst_lag = max((max(v) for v in lags.values() if v), default=0.0)
    return {"feeds": count, "latencies": latencies, "missed": missed, "false_flags": false_flags,
            "worst_lag_s": worst_lag, "by_claim": by_claim,
            "held": worst_lag <= lag_bound_s, "asr_rtf": pipeline.transcriber.real_time_factor}


def bare_rtf(pipeline) -> float:
    """Bare faster-whisper: the pipeline's own model object and options, the demo as one file."""
    from pinocchio.listen.audio import decode_chunks

    samples = __import__("numpy").concatenate([c.samples for c in decode_chunks(DEMO)])
    transcriber = pipeline.transcriber
    start = time.perf_counter()
    segments, _ = transcriber.model.transcribe(samples, **transcriber.options.whisper_kwargs())
    for _ in segments:
        pass
    return (time.perf_counter() - start) / (len(samples) / 16000)


def bare_windows_rtf(pipeline, stream_options) -> float:
    """Bare faster-whisper on the windows the live path decodes (each utterance with its context,
    the same options, prompts and token bound), collected from one pass over the demo: what this
    commit policy costs in ASR alone."""
    from pinocchio.listen.asr import MAX_TOKENS_PER_S
    from pinocchio.listen.audio import decode_chunks
    from pinocchio.listen.streaming import StreamingTranscriber

    transcriber = pipeline.transcriber
    windows: list = []
    original = transcriber.transcribe_window
    # Decoded for real while collecting: what agreement re-decodes depends on what was heard.
    transcriber.transcribe_window = lambda window, keep_from_s=None, prompt=None, temperatures=None: (
        windows.append((window, prompt)) or original(window, keep_from_s, prompt, temperatures))
    try:
        list(StreamingTranscriber(transcriber, stream_options).transcribe(decode_chunks(DEMO, chunk_s=0.5)))
    finally:
        transcriber.transcribe_window = original
    start = time.perf_counter()
    for window, prompt in windows:
        kwargs = dict(transcriber.options.whisper_kwargs(),
                      max_new_tokens=int(MAX_TOKENS_PER_S * (window.end_s - window.start_s)) + 12)
        if prompt:
            kwargs["initial_prompt"] = prompt
        kwargs["temperature"] = list(stream_options.temperatures)
        segments, _ = transcriber.model.transcribe(window.samples, **kwargs)
        for _ in segments:
            pass
    audio_s = sum(len(c.samples) for c in decode_chunks(DEMO)) / 16000
    return (time.perf_counter() - start) / audio_s


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def main() -> None:
    from batch import machine
    from nginx_server import start_nginx

    from pinocchio.core.settings import Settings
    from pinocchio.listen.detect import DetectOptions
    from pinocchio.listen.pipeline import Pipeline

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--feeds", default="1,2,3,4", help="comma-separated feed counts to try")
    parser.add_argument("--lag-bound", type=float, default=5.0, help="seconds of lag that still count as real time")
    parser.add_argument("--endpoint", type=float, help="StreamOptions.endpoint_silence_s (default: the worker's)")
    parser.add_argument("--max-utterance", type=float, help="StreamOptions.max_utterance_s (default: the worker's)")
    parser.add_argument("--commit", choices=("pause", "agreement"), help="StreamOptions.commit (default: the worker's)")
    parser.add_argument("--prompt-chars", type=int, help="StreamOptions.prompt_chars (default: the worker's)")
    args = parser.parse_args()
    from dataclasses import replace

    from pinocchio.listen.streaming import StreamOptions

    stream_options = StreamOptions()
    if args.endpoint is not None:
        stream_options = replace(stream_options, endpoint_silence_s=args.endpoint)
    if args.max_utterance is not None:
        stream_options = replace(stream_options, max_utterance_s=args.max_utterance)
    if args.commit is not None:
        stream_options = replace(stream_options, commit=args.commit)
    if args.prompt_chars is not None:
        stream_options = replace(stream_options, prompt_chars=args.prompt_chars)

    pipeline = Pipeline(Settings(db_url="sqlite:///:memory:"), detect_options=DetectOptions(batch_size=1))
    pipeline.transcriber  # load before timing anything
    print(f"machine: {machine()}; {stream_options}")
    with tempfile.TemporaryDirectory() as prefix:
        server = start_nginx(Path(prefix))
        try:
            results = []
            for run, count in enumerate(int(x) for x in args.feeds.split(",")):
                result = run_feeds(pipeline, server, count, run, args.lag_bound, stream_options)
                results.append(result)
                lat = result["latencies"]
                print(f"{count} feed(s): latency p50 {statistics.median(lat):.2f} s, p95 {percentile(lat, 0.95):.2f} s "
                      f"({len(lat)} claims, {result['missed']} missed, {len(result['false_flags'])} false flags), worst lag {result['worst_lag_s']:.1f} s, "
                      f"{'held in real time' if result['held'] else 'NOT held'}", flush=True)
                print("   per claim (s after its last word):", result["by_claim"], flush=True)
                if result["false_flags"]:
                    print("   false flags:", result["false_flags"], flush=True)
        finally:
            server.stop()
    rtf = bare_rtf(pipeline)
    windows_rtf = bare_windows_rtf(pipeline, stream_options)
    held = max((r["feeds"] for r in results if r["held"]), default=0)
    print(f"bare faster-whisper on the demo as one file: RTF {rtf:.3f} -> {1 / rtf:.1f} real-time feeds")
    print(f"bare faster-whisper on the live path's windows: RTF {windows_rtf:.3f} -> ASR-bound limit "
          f"{1 / windows_rtf:.1f} real-time feeds")
    print(f"capacity: {held} feeds held in real time = {held * windows_rtf:.2f} of the ASR-bound limit "
          f"({held * rtf:.2f} of the one-file figure)")


if __name__ == "__main__":
    main()
