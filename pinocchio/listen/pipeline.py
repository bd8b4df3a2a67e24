"""The one loop that batch scans and the live worker both run:
audio chunks -> utterances -> segments -> verdicts -> store, each stored verdict handed to the
moderation ledger (`core.ledger.Ledger`) through one call."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from pathlib import Path

from sqlalchemy.engine import Engine
from sqlmodel import Session

from pinocchio import __version__
from pinocchio.core.background import BackgroundLoad
from pinocchio.core.clock import utcnow
from pinocchio.core.errors import PinocchioError
from pinocchio.core.events import Evidence
from pinocchio.core.ledger import Ledger
from pinocchio.core.records import AudioChunk, StoredVerdict, Utterance, Verdict
from pinocchio.core.settings import Settings
from pinocchio.listen.asr import (
    AsrOptions,
    LiveTranscriber,
    SpeechToText,
    Transcriber,
    load_hallucinations,
    load_prompt,
    load_whisper,
)
from pinocchio.listen.audio import decode_chunks, probe_file
from pinocchio.listen.classify import SHIPPED_MODEL, ClaimClassifier
from pinocchio.listen.detect import DetectOptions, Detector, PromiseChecker
from pinocchio.listen.disguise import load_disguises
from pinocchio.listen.evidence import EvidenceRecorder, EvidenceStore
from pinocchio.listen.lexicon import Matcher, load_lexicon
from pinocchio.listen.models import resolve_model
from pinocchio.listen.packing import PackOptions
from pinocchio.listen.segment import Segmenter, SegmentOptions, Tokenizer
from pinocchio.listen.streaming import StreamOptions
from pinocchio.store import scans
from pinocchio.store.tables import Scan, Stream

log = logging.getLogger(__name__)

PIPELINE_VERSION = f"pinocchio@{__version__}"
COMMIT_EVERY = 50  # segments; a crash loses at most this much of a long recording's progress


@dataclass(frozen=True)
class ScanOutcome:
    source: str
    status: str  # "scanned", "skipped" (already scanned) or "failed"
    verdicts: tuple[Verdict, ...] = ()
    stream_id: int | None = None
    scan_id: int | None = None
    duration_s: float | None = None
    error: str | None = None


def store_verdicts(session: Session, stored: Sequence[tuple[Scan | scans.ScanOf, Verdict]], ledger: Ledger) -> list[int]:
    """Store verdicts (batch and live alike; a live worker's batch spans its feeds): the segments
    and their findings, then hand them to the ledger, which flags them and attaches the reports
    waiting for them. The segments' ids, in order."""
    ids = scans.add_segments(session, stored)
    ledger.verdicts_stored(session, [StoredVerdict(segment_id=segment_id, stream_id=scan.stream_id, scan_id=scan.id,
                                                   verdict=verdict) for segment_id, (scan, verdict) in zip(ids, stored)])
    return ids


def store_verdict(session: Session, scan: Scan, verdict: Verdict, ledger: Ledger,
                  recorder: EvidenceRecorder | None = None) -> int:
    """Store one verdict (a recording's, as it is judged) and ask for its evidence clip if it is
    flagged; the clip is recorded as an `evidence` event, in this session, when it is cut."""
    segment_id, = store_verdicts(session, [(scan, verdict)], ledger)
    if recorder and verdict.flagged:
        recorder.request(verdict.segment.start_s, verdict.segment.end_s, lambda clip: ledger.record(
            session, Evidence(clip=clip), subject_id=segment_id, stream_id=scan.stream_id))
    return segment_id


def load_classifier(settings: Settings) -> ClaimClassifier | None:
    """The configured classifier (its settings checked now, its weights loaded later), or None."""
    if settings.classifier.lower() == "none":
        return None
    path = Path(settings.classifier).expanduser() if settings.classifier else SHIPPED_MODEL
    return ClaimClassifier(path, cpu_threads=settings.cpu_threads)


class Pipeline:
    """Built once per process: lexicon, tokenizer and detector at once (bad lexicons fail before any
    work), the whisper model on first use (text checks never load it)."""

    def __init__(self, settings: Settings, asr_options: AsrOptions | None = None,
                 segment_options: SegmentOptions = SegmentOptions(),
                 detect_options: DetectOptions = DetectOptions(),
                 transcriber: SpeechToText | None = None):
        """`transcriber` replaces whisper (tests script one); by default whisper loads on first use."""
        self.settings = settings
        lexicon = load_lexicon(settings.lexicon_dir)
        self.segmenter = Segmenter(Tokenizer(lexicon.words, settings.cache_dir), segment_options)
        self.classifier = load_classifier(settings)
        scorers = (self.classifier,) if self.classifier else ()
        if self.classifier:
            card = self.classifier.card
            # A classifier-only finding that passes its label's stand-alone score still goes to a
            # reviewer, never to an automatic reminder, unless its score also reaches where all such
            # findings together were precise enough on real speech (calibration.stand_alone).
            detect_options = replace(detect_options, confident_score=max(card.confident, card.stand_alone),
                                     stand_alone_score=card.stand_alone,
                                     stand_alone_by_label=tuple(sorted(card.stand_alone_by_label.items())))
        self.detector = Detector(Matcher(lexicon), scorers=scorers, options=detect_options,
                                 disguises=load_disguises(settings.disguises_path).with_masked(lexicon.words)
                                 if settings.disguises_path else None)
        self.asr_options = asr_options or AsrOptions(
            model=settings.model, initial_prompt=load_prompt(settings.prompts_dir) if settings.asr_prompt else "")
        if transcriber is not None:
            self.asr_options = transcriber.options
        self._transcriber = BackgroundLoad(lambda: transcriber or self._load_transcriber(), "whisper-load")

    def _load_transcriber(self) -> Transcriber:
        s = self.settings
        model_dir = resolve_model(self.asr_options.model, s.cache_dir)
        return Transcriber(load_whisper(model_dir, s.cpu_threads, s.device, s.compute_type, s.encoder_margin_s),
                           self.asr_options, load_hallucinations(s.prompts_dir),
                           PackOptions(max_wait_s=s.live_pack_wait_s, batch=s.live_batch))

    @property
    def transcriber(self) -> SpeechToText:
        return self._transcriber.get()

    def provenance(self, stream_options: StreamOptions | None = None) -> dict:
        """Every option that changes what a scan stores: whisper's model, device and options, the
        live commit options, segmentation, lexicon, classifier thresholds and review rules."""
        s = self.settings
        found = {"pipeline": PIPELINE_VERSION, "asr": asdict(self.asr_options),
                 "device": s.device, "compute_type": s.compute_type, "segment": asdict(self.segmenter.options),
                 **self.detector.provenance()}
        if stream_options is not None:
            found["stream"] = asdict(stream_options)
        return found

    def check_text(self, text: str, facts: PromiseChecker | None = None) -> Verdict:
        return self.detector.verdict(self.segmenter.segment_text(text), facts)

    def check_lines(self, lines: Iterable[str], facts: PromiseChecker | None = None) -> Iterator[Verdict]:
        """Verdicts for lines of text, batched for the classifier (with `facts`, as one stream's)."""
        return self.detector.verdicts((self.segmenter.segment_text(line) for line in lines), facts)

    def audio_verdicts(self, chunks: Iterable[AudioChunk], facts: PromiseChecker | None = None) -> Iterator[Verdict]:
        """The shared stage chain; a finite iterator of chunks is a recording, an endless one a feed.
        `facts`: the stream's shop facts stage (facts.checker), when it has a shop."""
        return self._judge(self.transcriber.transcribe(chunks), facts)

    def live_verdicts(self, chunks: Iterable[AudioChunk], stream_options: StreamOptions = StreamOptions(),
                      facts: PromiseChecker | None = None, live: LiveTranscriber | None = None) -> Iterator[Verdict]:
        """The same chain for live audio: utterances are committed at pauses as the chunks arrive.
        `live`: the feed's streaming transcriber, made by the caller to watch how far it has got."""
        live = live or self.transcriber.streaming(stream_options)
        return self._judge(live.transcribe(chunks), facts)

    def _judge(self, utterances: Iterator[Utterance], facts: PromiseChecker | None = None) -> Iterator[Verdict]:
        # Called once the whisper model is loaded (the caller fetched it), so these loads do not
        # contend with it; while whisper decodes they cost nothing.
        self.segmenter.tokenizer.warm_up()
        if self.classifier:
            self.classifier.warm_up()
        return self.detector.verdicts(self.segmenter.segments(utterances), facts)

    def evidence_recorder(self, evidence: EvidenceStore, live: bool) -> EvidenceRecorder:
        """Live clips are cut seconds after their segment; a batch segment may come a whole
        transcription window after its audio was read, so a batch keeps that much."""
        keep_s = 60.0 if live else self.asr_options.window_s + self.asr_options.cut_search_s + 30.0
        return EvidenceRecorder(evidence, keep_s=keep_s)

    def scan_file(self, path: str | Path, engine: Engine, ledger: Ledger, *, force: bool = False,
                  evidence: EvidenceStore | None = None,
                  on_verdict: Callable[[Verdict], None] | None = None,
                  on_progress: Callable[[float, float | None], None] | None = None,
                  facts: Callable[[Stream, datetime], PromiseChecker | None] | None = None) -> ScanOutcome:
        """Scan one recording into the store. Bad input comes back as a failed outcome, never raised,
        so that a batch goes on with its other files. `facts` gives the stream's facts stage (its
        shop's facts, from the scan's start), or None when it has none (facts.catalog)."""
        source = str(path)
        self._transcriber.start()  # the model loads while ffprobe, hashing and the database work run
        try:
            info = probe_file(path)
        except PinocchioError as exc:
            return ScanOutcome(source=source, status="failed", error=str(exc))
        with Session(engine) as session:
            stream = scans.stream_for(session, source=source, content_sha256=info.sha256, duration_s=info.duration_s)
            done = None if force else scans.completed_scan(session, stream_id=stream.id)
            if done is not None:
                verdicts = scans.scan_verdicts(session, scan_id=done.id)
                for verdict in verdicts:
                    if on_verdict:
                        on_verdict(verdict)
                return ScanOutcome(source=source, status="skipped", verdicts=tuple(verdicts),
                                   stream_id=stream.id, scan_id=done.id, duration_s=info.duration_s)
            started = utcnow()
            checker = facts(stream, started) if facts else None
            provenance = {**self.provenance(), **(checker.provenance() if checker else {})}
            scan = scans.start_scan(session, stream=stream, pipeline_version=PIPELINE_VERSION, provenance=provenance)
            scan.started_at = started
            session.commit()
            if on_progress:
                on_progress(0.0, info.duration_s)
            verdicts: list[Verdict] = []
            chunks = decode_chunks(path)
            recorder = self.evidence_recorder(evidence, live=False) if evidence else None
            if recorder:
                chunks = recorder.tap(chunks)
            try:
                for verdict in self.audio_verdicts(chunks, checker):
                    store_verdict(session, scan, verdict, ledger, recorder)
                    verdicts.append(verdict)
                    if len(verdicts) % COMMIT_EVERY == 0:
                        session.commit()
                    if on_verdict:
                        on_verdict(verdict)
                    if on_progress:
                        on_progress(verdict.segment.end_s, info.duration_s)
            except PinocchioError as exc:
                scans.finish_scan(session, scan=scan, status="failed", error=str(exc))
                session.commit()
                return ScanOutcome(source=source, status="failed", verdicts=tuple(verdicts),
                                   stream_id=stream.id, scan_id=scan.id, error=str(exc))
            scans.finish_scan(session, scan=scan, status="done")
            session.commit()
            if on_progress:
                on_progress(info.duration_s or 0.0, info.duration_s)
            return ScanOutcome(source=source, status="scanned", verdicts=tuple(verdicts),
                               stream_id=stream.id, scan_id=scan.id, duration_s=info.duration_s)
