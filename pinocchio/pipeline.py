"""The one loop that batch scans and the live worker both run:
audio chunks -> utterances -> segments -> verdicts -> store."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from sqlalchemy.engine import Engine
from sqlmodel import Session

from pinocchio import __version__
from pinocchio import store
from pinocchio.asr import (AsrOptions, StreamingTranscriber, StreamOptions, Transcriber, load_hallucinations,
                           load_prompt, load_whisper)
from pinocchio.audio import decode_chunks, probe_file
from pinocchio.background import BackgroundLoad
from pinocchio.classify import SHIPPED_MODEL, ClaimClassifier
from pinocchio.config import Settings
from pinocchio.detect import DetectOptions, Detector
from pinocchio.evidence import EvidenceRecorder, EvidenceStore
from pinocchio.errors import PinocchioError
from pinocchio.lexicon import Matcher, load_lexicon
from pinocchio.models import resolve_model
from pinocchio.records import AudioChunk, Utterance, Verdict
from pinocchio.segment import Segmenter, SegmentOptions, Tokenizer

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


def store_verdict(session: Session, scan: store.Scan, verdict: Verdict, recorder: EvidenceRecorder | None,
                  commit_clips: bool = False) -> store.SegmentRow:
    """Store one verdict (batch and live alike): the segment and its findings, viewers' reports
    that were waiting for it, and a request for its evidence clip if it is flagged."""
    from pinocchio.reports import attach_waiting_reports  # the moderation ledger builds on this module

    row, = store.add_verdicts(session, scan=scan, verdicts=[verdict], actor=PIPELINE_VERSION)
    attach_waiting_reports(session, row)
    if recorder and verdict.action != "pass":
        def link(clip: str, segment_id: int = row.id) -> None:
            store.link_evidence(session, segment_id=segment_id, clip=clip)
            if commit_clips:
                session.commit()
        recorder.request(verdict.segment.start_s, verdict.segment.end_s, link)
    return row


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
                 detect_options: DetectOptions = DetectOptions()):
        self.settings = settings
        lexicon = load_lexicon(settings.lexicon_dir)
        self.segmenter = Segmenter(Tokenizer(lexicon.words, settings.cache_dir), segment_options)
        self.classifier = load_classifier(settings)
        scorers = (self.classifier,) if self.classifier else ()
        if self.classifier:
            detect_options = replace(detect_options, confident_score=self.classifier.card.confident)
        self.detector = Detector(Matcher(lexicon), scorers=scorers, options=detect_options)
        self.asr_options = asr_options or AsrOptions(
            model=settings.model, initial_prompt=load_prompt(settings.prompts_dir) if settings.asr_prompt else "")
        self._transcriber = BackgroundLoad(self._load_transcriber, "whisper-load")

    def _load_transcriber(self) -> Transcriber:
        model_dir = resolve_model(self.asr_options.model, self.settings.cache_dir)
        return Transcriber(load_whisper(model_dir, self.settings.cpu_threads),
                           self.asr_options, load_hallucinations(self.settings.prompts_dir))

    @property
    def transcriber(self) -> Transcriber:
        return self._transcriber.get()

    def provenance(self) -> dict:
        return {"pipeline": PIPELINE_VERSION, "asr": asdict(self.asr_options),
                "segment": asdict(self.segmenter.options), **self.detector.provenance()}

    def check_text(self, text: str) -> Verdict:
        return self.detector.verdict(self.segmenter.segment_text(text))

    def check_lines(self, lines: Iterable[str]) -> Iterator[Verdict]:
        """Verdicts for lines of text, batched for the classifier."""
        return self.detector.verdicts(self.segmenter.segment_text(line) for line in lines)

    def audio_verdicts(self, chunks: Iterable[AudioChunk]) -> Iterator[Verdict]:
        """The shared stage chain; a finite iterator of chunks is a recording, an endless one a feed."""
        return self._judge(self.transcriber.transcribe(chunks))

    def live_verdicts(self, chunks: Iterable[AudioChunk], stream_options: StreamOptions = StreamOptions()) -> Iterator[Verdict]:
        """The same chain for live audio: utterances are committed at pauses as the chunks arrive."""
        return self._judge(StreamingTranscriber(self.transcriber, stream_options).transcribe(chunks))

    def _judge(self, utterances: Iterator[Utterance]) -> Iterator[Verdict]:
        # Called once the whisper model is loaded (the caller fetched it), so these loads do not
        # contend with it; while whisper decodes they cost nothing.
        self.segmenter.tokenizer.warm_up()
        if self.classifier:
            self.classifier.warm_up()
        return self.detector.verdicts(self.segmenter.segments(utterances))

    def evidence_recorder(self, evidence: EvidenceStore, live: bool) -> EvidenceRecorder:
        """Live clips are cut seconds after their segment; a batch segment may come a whole
        transcription window after its audio was read, so a batch keeps that much."""
        keep_s = 60.0 if live else self.asr_options.window_s + self.asr_options.cut_search_s + 30.0
        return EvidenceRecorder(evidence, keep_s=keep_s)

    def scan_file(self, path: str | Path, engine: Engine, *, force: bool = False,
                  evidence: EvidenceStore | None = None,
                  on_verdict: Callable[[Verdict], None] | None = None,
                  on_progress: Callable[[float, float | None], None] | None = None) -> ScanOutcome:
        """Scan one recording into the store. Bad input comes back as a failed outcome, never raised,
        so that a batch goes on with its other files."""
        source = str(path)
        self._transcriber.start()  # the model loads while ffprobe, hashing and the database work run
        try:
            info = probe_file(path)
        except PinocchioError as exc:
            return ScanOutcome(source=source, status="failed", error=str(exc))
        with Session(engine) as session:
            stream = store.stream_for(session, source=source, content_sha256=info.sha256, duration_s=info.duration_s)
            done = None if force else store.completed_scan(session, stream_id=stream.id)
            if done is not None:
                verdicts = store.scan_verdicts(session, scan_id=done.id)
                for verdict in verdicts:
                    if on_verdict:
                        on_verdict(verdict)
                return ScanOutcome(source=source, status="skipped", verdicts=tuple(verdicts),
                                   stream_id=stream.id, scan_id=done.id, duration_s=info.duration_s)
            scan = store.start_scan(session, stream=stream, pipeline_version=PIPELINE_VERSION,
                                    provenance=self.provenance())
            session.commit()
            if on_progress:
                on_progress(0.0, info.duration_s)
            verdicts: list[Verdict] = []
            chunks = decode_chunks(path)
            recorder = self.evidence_recorder(evidence, live=False) if evidence else None
            if recorder:
                chunks = recorder.tap(chunks)
            try:
                for verdict in self.audio_verdicts(chunks):
                    store_verdict(session, scan, verdict, recorder)
                    verdicts.append(verdict)
                    if len(verdicts) % COMMIT_EVERY == 0:
                        session.commit()
                    if on_verdict:
                        on_verdict(verdict)
                    if on_progress:
                        on_progress(verdict.segment.end_s, info.duration_s)
            except PinocchioError as exc:
                store.finish_scan(session, scan=scan, status="failed", error=str(exc))
                session.commit()
                return ScanOutcome(source=source, status="failed", verdicts=tuple(verdicts),
                                   stream_id=stream.id, scan_id=scan.id, error=str(exc))
            store.finish_scan(session, scan=scan, status="done")
            session.commit()
            if on_progress:
                on_progress(info.duration_s or 0.0, info.duration_s)
            return ScanOutcome(source=source, status="scanned", verdicts=tuple(verdicts),
                               stream_id=stream.id, scan_id=scan.id, duration_s=info.duration_s)
