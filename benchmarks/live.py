"""Live worker: how many real-time feeds one machine holds, batched decoding against windows laid
out in one pack and against one call per utterance, measured in the same run.

    .venv/bin/python benchmarks/live.py [--feeds 1,4,6,8,10] [--packed-feeds 4,5,6] [--baseline-feeds 1,2,3]

A private nginx with the RTMP module (as in the tests) relays N feeds, each published in real time
by its own ffmpeg (`-re`, as a streamer's encoder would). Each feed is the demo recording rotated
to start at a different sentence (feed k of N starts about k/N of the way in), so that at any
moment the feeds say different things, as different rooms do; one `LiveWorker` process follows
all N with one shared whisper model. For each N: batched (the default: the windows taken together
decoded as one batch), packed (`PackOptions(batch=False)`: laid out side by side in one 30 s
window), and with packing off (`StreamOptions(pack=False)`: each utterance its own whisper call):
  claims   - planted claims found on every feed (by label and time) and false flags;
  latency  - for every planted claim of every feed: wall time from the moment the claim's last
             word was published (publisher start + its time in the rotated recording; the start is
             read off the publishing ffmpeg's own progress clock, less one AAC frame, so the
             figure errs long) to the moment its finding was committed to the database. p50 and
             p95;
  lag      - the worker's lag behind live (pinocchio_feed_lag_seconds) sampled every 0.5 s;
             N feeds are held in real time when the lag never passes --lag-bound seconds;
  CPU      - the worker process's CPU seconds per second of wall time, per feed (its threads; the
             ffmpeg pulls are separate processes).
Each curve stops at the first N not held. Then: what the worker's start-up measurement
(live/capacity.py) expected; the text quality, batched, packed and alone (the live path over the
real clips, four rotated feeds at a time as fast as they decode, CER against their transcripts); and
the ASR-bound limits: bare faster-whisper on the live path's windows one by one, and on the demo
as one file.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # the nginx launcher the tests use
sys.path.insert(0, str(ROOT / "benchmarks"))

DEMO = ROOT / "fixtures" / "demo" / "demo_stream.m4a"
REFERENCE = ROOT / "fixtures" / "demo" / "demo_stream.reference.json"
SLACK_S = 2.0  # a finding counts for a claim when its segment lies within this of the claim


def near(verdict, claim: dict) -> bool:
    """Whether a verdict's segment lies within SLACK_S of a planted claim."""
    return verdict.segment.start_s < claim["end_s"] + SLACK_S and verdict.segment.end_s > claim["start_s"] - SLACK_S


def sentences() -> list[dict]:
    return json.loads(REFERENCE.read_text(encoding="utf-8"))


def rotations(count: int, length_s: float) -> list[float]:
    """Where feed k of `count` starts in the demo: the pause before the sentence nearest k/count
    of the way in (feed 0 at the start), so no sentence is cut."""
    starts = [max(0.0, s["start_s"] - 0.3) for s in sentences()]
    return [0.0] + [min(starts, key=lambda t: abs(t - k * length_s / count)) for k in range(1, count)]


def rotated_demo(folder: Path, cut_s: float) -> Path:
    """The demo from `cut_s` to its end, then from its start to `cut_s`: one file, re-encoded."""
    import ffmpeg

    if cut_s == 0:
        return DEMO
    out = folder / f"demo_from_{cut_s:.1f}.m4a"
    if not out.exists():
        tail = ffmpeg.input(str(DEMO), ss=cut_s).audio
        head = ffmpeg.input(str(DEMO), t=cut_s).audio
        ffmpeg.concat(tail, head, v=0, a=1).output(str(out), acodec="aac", ac=1, ar=16000).run(quiet=True)
    return out


def rotated_claims(cut_s: float, length_s: float) -> list[dict]:
    """The planted claims with their times in the rotated recording."""
    claims = []
    for claim in (x for x in sentences() if x.get("labels")):
        shift = -cut_s if claim["start_s"] >= cut_s else length_s - cut_s
        claims.append(dict(claim, start_s=claim["start_s"] + shift, end_s=claim["end_s"] + shift))
    return claims


class Publisher:
    """One feed's streamer: `ffmpeg -re` publishing a recording to the relay, and when its first
    sample went out. Not when ffmpeg was spawned: starting and connecting took ~0.3 s here, which a
    streamer's encoder, connected long before, does not spend on each sentence. ffmpeg reports the
    media time it has sent (`-progress`); the wall time less that, at its earliest, is the start,
    moved one AAC frame earlier (the encoder holds that much back), so latencies err long."""

    AAC_FRAME_S = 1024 / 16000

    def __init__(self, server, recording: Path, name: str):
        self.spawned_at = time.monotonic()
        # kept in the relay's list, so stopped with it if a run fails half-way
        self.process = server.publish(recording, name, progress=True)
        self._first_sample_at: float | None = None
        threading.Thread(target=self._read_progress, daemon=True).start()

    def _read_progress(self) -> None:
        for line in self.process.stdout:
            key, _, value = line.strip().partition("=")
            if key == "out_time_us" and value.isdigit() and int(value) > 0:
                at = time.monotonic() - int(value) / 1e6
                self._first_sample_at = at if self._first_sample_at is None else min(self._first_sample_at, at)

    @property
    def started_at(self) -> float:
        if self._first_sample_at is None:  # it never reported: its spawn, which errs long
            return self.spawned_at
        return self._first_sample_at - self.AAC_FRAME_S


def run_feeds(pipeline, server, folder: Path, count: int, run: int, lag_bound_s: float, stream_options) -> dict:
    from pinocchio.listen.audio import ReconnectPolicy, probe_file
    from pinocchio.live.feeds import Feed
    from pinocchio.live.metrics import WorkerMetrics
    from pinocchio.live.worker import LiveWorker
    from pinocchio.moderation.ledger import ModerationLedger
    from pinocchio.store import open_store

    length_s = probe_file(DEMO).duration_s
    cuts = rotations(count, length_s)
    feeds = [Feed(f"bench{run}-{i}", server.rtmp_url(f"bench{run}-{i}")) for i in range(count)]
    recordings = {f.name: rotated_demo(folder, cut) for f, cut in zip(feeds, cuts)}
    claims = {f.name: rotated_claims(cut, length_s) for f, cut in zip(feeds, cuts)}
    stored: dict[str, list[tuple[float, object]]] = {f.name: [] for f in feeds}
    metrics = WorkerMetrics()
    with tempfile.TemporaryDirectory() as tmp:
        engine = open_store(f"sqlite:///{tmp}/live.db")
        worker = LiveWorker(pipeline, engine, feeds, ModerationLedger("pinocchio@bench"), metrics=metrics,
                            on_verdict=lambda feed, v: stored[feed.name].append((time.monotonic(), v)),
                            policy=ReconnectPolicy(initial_s=0.2, max_s=0.5, read_timeout_s=5),
                            stream_options=stream_options, measure_capacity=False)
        runner = threading.Thread(target=worker.run, daemon=True)
        runner.start()  # the worker knocks until each stream is published
        publishers: dict[str, Publisher] = {}
        transcriber = pipeline.transcriber
        cpu_start, wall_start = time.process_time(), time.monotonic()
        decode_start, packs_start = transcriber.decode_s, (transcriber.packer.packs, transcriber.packer.windows)
        for feed in feeds:
            publishers[feed.name] = Publisher(server, recordings[feed.name], feed.name)
        lags: dict[str, list[float]] = {f.name: [] for f in feeds}
        while any(p.process.poll() is None for p in publishers.values()):
            time.sleep(0.5)
            for feed in feeds:
                lags[feed.name].append(metrics.lag.labels(feed.name)._value.get())
        wall_s = time.monotonic() - wall_start
        cpu_per_s = (time.process_time() - cpu_start) / wall_s
        decoding_share = (transcriber.decode_s - decode_start) / wall_s
        packs = transcriber.packer.packs - packs_start[0], transcriber.packer.windows - packs_start[1]
        time.sleep(3.0)  # the last words are committed when the feed ends
        worker.stop.set()
        runner.join(timeout=60)
        engine.dispose()
    latencies, missed, false_flags, missed_claims, slowest = [], 0, [], [], []
    second_hearing_only = 0  # claims found only in whisper's second hearing (StreamOptions.hear_again)
    for feed in feeds:
        for claim in claims[feed.name]:
            for label in claim["labels"]:
                found = [(at, v) for at, v in stored[feed.name] if label in v.labels and near(v, claim)]
                hits = [at for at, _ in found]
                if hits and all(v.segment.heard_again for _, v in found):
                    second_hearing_only += 1
                if hits:
                    latencies.append(min(hits) - (publishers[feed.name].started_at + claim["end_s"]))
                    slowest.append((latencies[-1], f"{feed.name} {claim['start_s']:.0f}s {label}"))
                else:
                    missed += 1
                    missed_claims.append(f"{feed.name} {claim['start_s']:.0f}s {label}: heard " + " | ".join(
                        v.segment.text for _, v in stored[feed.name] if near(v, claim)))
        # Flagged segments that touch no planted claim of this feed: compliant talk flagged, or a
        # claim heard on the wrong feed.
        false_flags += [f"{feed.name} {v.segment.start_s:.0f}s {v.segment.text}" for _, v in stored[feed.name]
                        if v.action != "pass" and not any(near(v, c) for c in claims[feed.name])]
    worst_lag = max((max(v) for v in lags.values() if v), default=0.0)
    planted = sum(len(c["labels"]) for cs in claims.values() for c in cs)
    return {"feeds": count, "latencies": latencies, "missed": missed, "missed_claims": missed_claims,
            "second_hearing_only": second_hearing_only,
            "slowest": [f"{what} {seconds:.2f} s" for seconds, what in sorted(slowest, reverse=True)[:3]],
            "planted": planted, "false_flags": false_flags,
            "worst_lag_s": worst_lag, "held": worst_lag <= lag_bound_s, "cpu_per_feed": cpu_per_s / count,
            "decoding_share": decoding_share, "windows_per_pack": packs[1] / packs[0] if packs[0] else 1.0}


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
    transcriber.transcribe_window = lambda window, keep_from_s=None, prompt=None, temperatures=None, beam_size=None: (
        windows.append((window, prompt)) or original(window, keep_from_s, prompt, temperatures, beam_size))
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
        if stream_options.beam_size is not None:
            kwargs["beam_size"] = stream_options.beam_size
        segments, _ = transcriber.model.transcribe(window.samples, **kwargs)
        for _ in segments:
            pass
    audio_s = sum(len(c.samples) for c in decode_chunks(DEMO)) / 16000
    return (time.perf_counter() - start) / audio_s


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def clip_quality(pipeline, stream_options, feeds: int = 4, packed_runs: int = 5) -> dict:
    """CER of the live path over the real clips (joined with half-second pauses into one recording;
    `feeds` copies rotated so they say different things at once, pushed as fast as they decode),
    batched, packed and alone ("batched", "packed", "alone"); and the calls' make-up. Which windows
    share a call depends on the threads' timing and whisper hears a pack by its company, so the
    CER taken together differs from run to run (0.18-0.30 seen): it is taken `packed_runs` times.
    Alone is the same every run."""
    import numpy as np

    from pinocchio.core.records import AudioChunk
    from pinocchio.listen.audio import decode_chunks
    from pinocchio.training.evaluate import character_error_rate

    speech = ROOT.parent / "shared" / "data" / "speech"
    if not speech.is_dir():
        speech = ROOT / "fixtures" / "speech"
    parts, texts = [], []
    for line in (speech / "trans.txt").read_text(encoding="utf-8").splitlines():
        name, text = line.split("\t", 1)
        parts.append(np.concatenate([c.samples for c in decode_chunks(speech / name)]))
        texts.append(text)
    transcriber = pipeline.transcriber
    packer = transcriber.packer
    layout = packer.options
    found: dict = {"batched": [], "packed": [], "alone": []}
    for mode in ["batched"] * packed_runs + ["packed"] * packed_runs + ["alone"]:
        pack = mode != "alone"
        packer.options = replace(layout, batch=mode == "batched")
        pairs = []
        for k in range(feeds):
            order = list(range(k, len(parts))) + list(range(k))  # feed k starts at clip k
            pairs.append(("".join(texts[i] for i in order), order))
        heard: dict[int, str] = {}
        packs_before = (transcriber.packer.packs, transcriber.packer.windows)

        def follow(k, order):
            audio = np.concatenate([x for i in order for x in (parts[i], np.zeros(8000, np.float32))])
            chunks = (AudioChunk(start_s=j / 16000, samples=audio[j:j + 8000]) for j in range(0, len(audio), 8000))
            heard[k] = "".join(u.text for u in transcriber.streaming(replace(stream_options, pack=pack)).transcribe(chunks)
                               if not u.heard_again)  # the transcript: first hearings

        threads = [threading.Thread(target=follow, args=(k, order)) for k, (_, order) in enumerate(pairs)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        packs = transcriber.packer.packs - packs_before[0], transcriber.packer.windows - packs_before[1]
        found[mode].append({"cer": character_error_rate([(reference, heard[k]) for k, (reference, _) in enumerate(pairs)]),
                               "packs": packs})
    packer.options = layout
    return found


def second_hearing_gain(pipeline, stream_options, folder: Path, feeds: int = 6, runs: int = 3) -> list[dict]:
    """The planted claims found on `feeds` rotated demo feeds, replayed as fast as they decode
    (batched, as the worker decodes them), by the first hearings alone and with the second
    hearings (StreamOptions.hear_again) too: the same decodes judged both ways, so the difference
    is the second hearing's alone. False flags likewise."""
    from pinocchio.listen.audio import decode_chunks, probe_file

    length_s = probe_file(DEMO).duration_s
    cuts = rotations(feeds, length_s)
    recordings = [rotated_demo(folder, cut) for cut in cuts]
    results = []
    for _ in range(runs):
        heard: dict[int, list] = {}

        def follow(k: int) -> None:
            chunks = decode_chunks(recordings[k], chunk_s=stream_options.process_every_s)
            heard[k] = list(pipeline.transcriber.streaming(replace(stream_options, hear_again=True)).transcribe(chunks))

        threads = [threading.Thread(target=follow, args=(k,)) for k in range(feeds)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        result = {}
        for name, keep in (("first", lambda u: not u.heard_again), ("both", lambda u: True)):
            found, flags, planted = [], [], 0
            for k, cut in enumerate(cuts):
                verdicts = list(pipeline.detector.verdicts(pipeline.segmenter.segments(u for u in heard[k] if keep(u))))
                claims = rotated_claims(cut, length_s)
                for claim in claims:
                    for label in claim["labels"]:
                        planted += 1
                        if any(label in v.labels and near(v, claim) for v in verdicts):
                            found.append(f"feed {k} {claim['text']}")
                flags += [v.segment.text for v in verdicts if v.flagged and not any(near(v, c) for c in claims)]
            result[name] = {"found": found, "planted": planted, "false_flags": flags}
        result["second_hearings"] = sum(u.heard_again for us in heard.values() for u in us)
        results.append(result)
    return results


def main() -> None:
    from batch import machine
    from nginx_server import start_nginx

    from pinocchio.core.settings import Settings
    from pinocchio.listen.detect import DetectOptions
    from pinocchio.listen.pipeline import Pipeline
    from pinocchio.listen.streaming import StreamOptions
    from pinocchio.live.capacity import estimate_capacity

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--feeds", default="1,4,6,8,10,12", help="feed counts to try, batched")
    parser.add_argument("--packed-feeds", default="4,5,6", help="feed counts to try laid out in packs ('' for none)")
    parser.add_argument("--baseline-feeds", default="1,2,3", help="feed counts to try with packing off ('' for none)")
    parser.add_argument("--lag-bound", type=float, default=5.0, help="seconds of lag that still count as real time")
    parser.add_argument("--beam", type=int, help="StreamOptions.beam_size (default: the worker's)")
    parser.add_argument("--context", type=float, help="StreamOptions.context_s (default: the worker's)")
    parser.add_argument("--pack-wait", type=float, help="PackOptions.max_wait_s (default: the worker's)")
    parser.add_argument("--in-flight", type=int, help="StreamOptions.windows_in_flight (default: the worker's)")
    parser.add_argument("--threads", type=int, help="Settings.cpu_threads: whisper's and the classifier's (default: the cores)")
    parser.add_argument("--no-hear-again", action="store_true", help="StreamOptions.hear_again off: first hearings only")
    parser.add_argument("--skip-quality", action="store_true", help="leave out the CER and ASR-bound figures")
    args = parser.parse_args()

    stream_options = StreamOptions()
    if args.beam is not None:
        stream_options = replace(stream_options, beam_size=args.beam)
    if args.context is not None:
        stream_options = replace(stream_options, context_s=args.context)
    if args.in_flight is not None:
        stream_options = replace(stream_options, windows_in_flight=args.in_flight)
    if args.no_hear_again:
        stream_options = replace(stream_options, hear_again=False)
    settings = Settings(db_url="sqlite:///:memory:")
    if args.threads is not None:
        settings = replace(settings, cpu_threads=args.threads)
    pipeline = Pipeline(settings, detect_options=DetectOptions(batch_size=1))
    transcriber = pipeline.transcriber  # load before timing anything
    if args.pack_wait is not None:
        transcriber.pack_options = replace(transcriber.pack_options, max_wait_s=args.pack_wait)
    print(f"machine: {machine()}; {stream_options}; {transcriber.pack_options}; {settings.cpu_threads} threads",
          flush=True)
    estimate = estimate_capacity(transcriber, stream_options)
    print(f"worker's start-up measurement: {estimate.describe()}", flush=True)
    curves: dict[str, list[dict]] = {}
    layout = transcriber.packer.options
    with tempfile.TemporaryDirectory() as prefix:
        server = start_nginx(Path(prefix))
        run = 0
        try:
            for mode, counts in (("batched", args.feeds), ("packed", args.packed_feeds), ("alone", args.baseline_feeds)):
                curves[mode] = []
                transcriber.packer.options = replace(layout, batch=mode == "batched")
                for count in (int(x) for x in counts.split(",") if x):
                    result = run_feeds(pipeline, server, Path(prefix), count, run, args.lag_bound,
                                       replace(stream_options, pack=mode != "alone"))
                    run += 1
                    curves[mode].append(result)
                    lat = result["latencies"] or [float("nan")]
                    print(f"{mode} {count} feed(s): {result['planted'] - result['missed']}/"
                          f"{result['planted']} claims ({result['second_hearing_only']} only in a second hearing), "
                          f"{len(result['false_flags'])} false flags, latency p50 "
                          f"{statistics.median(lat):.2f} s, p95 {percentile(lat, 0.95):.2f} s, worst lag "
                          f"{result['worst_lag_s']:.1f} s, CPU {result['cpu_per_feed']:.3f} s/s per feed, whisper busy "
                          f"{result['decoding_share']:.0%} of the time, {result['windows_per_pack']:.1f} windows a call, "
                          f"{'held in real time' if result['held'] else 'NOT held'}", flush=True)
                    if result["false_flags"]:
                        print("   false flags:", result["false_flags"], flush=True)
                    if result["missed_claims"]:
                        print("   missed:", result["missed_claims"], flush=True)
                    print("   slowest:", ", ".join(result["slowest"]), flush=True)
                    if not result["held"]:
                        break
        finally:
            server.stop()
            transcriber.packer.options = layout
    held = {mode: max((r["feeds"] for r in curve if r["held"]), default=0) for mode, curve in curves.items()}
    print(f"capacity: batched {held['batched']} feeds held in real time, packed {held['packed']}, alone "
          f"{held['alone']} ({held['batched'] / max(held['alone'], 1):.1f}x alone); the start-up measurement "
          f"expected {estimate.feeds}", flush=True)
    if args.skip_quality:
        return
    with tempfile.TemporaryDirectory() as folder:
        for gain in second_hearing_gain(pipeline, stream_options, Path(folder)):
            first, both = gain["first"], gain["both"]
            print(f"second hearings, 6 rotated demo feeds as fast as they decode: claims {len(first['found'])}/"
                  f"{first['planted']} by the first hearings, {len(both['found'])}/{both['planted']} with the second "
                  f"({gain['second_hearings']} second hearings that differed); false flags "
                  f"{len(first['false_flags'])} and {len(both['false_flags'])}", flush=True)
            for claim in sorted(set(both["found"]) - set(first["found"])):
                print("   found only in a second hearing:", claim, flush=True)
            for flag in both["false_flags"]:
                print("   false flag:", flag, "(second hearing)" if flag not in first["false_flags"] else "", flush=True)
    quality = clip_quality(pipeline, stream_options)
    for mode in ("batched", "packed"):
        cers = [run["cer"] for run in quality[mode]]
        windows, calls = (sum(run["packs"][i] for run in quality[mode]) for i in (1, 0))
        print(f"real clips through the live path, 4 rotated feeds: CER {mode} {statistics.mean(cers):.4f} "
              f"(mean of {len(cers)} runs: {', '.join(f'{c:.3f}' for c in cers)}; {windows / calls:.1f} windows "
              f"a call)", flush=True)
    print(f"real clips through the live path, one window a call: CER alone {quality['alone'][0]['cer']:.4f}", flush=True)
    windows_rtf = bare_windows_rtf(pipeline, replace(stream_options, pack=False))
    rtf = bare_rtf(pipeline)
    print(f"bare faster-whisper on the live path's windows one by one: RTF {windows_rtf:.3f} -> ASR-bound limit "
          f"{1 / windows_rtf:.1f} feeds; on the demo as one file: RTF {rtf:.3f} -> {1 / rtf:.1f} feeds")


if __name__ == "__main__":
    main()
