"""Pinocchio: catch false advertising in what Chinese live-commerce streamers say.

The rooms (docs/architecture.md has the map): `core` (records, errors, settings, text, labels,
the log's vocabulary), `listen` (the pipeline), `live` (the live worker), `moderation` (the ledger
and everything reviewers do), `store` (tables and the engine), `training` (the classifier), `cli`
and `web` (thin layers), `data` (lexicons, prompts, ladder, label table, shipped classifier)."""

__version__ = "0.1.0"

from pinocchio.core.errors import PinocchioError  # noqa: E402
from pinocchio.core.records import AudioChunk, Finding, Segment, Utterance, Verdict, Word  # noqa: E402

__all__ = [
    "AudioChunk",
    "Finding",
    "PinocchioError",
    "Segment",
    "Utterance",
    "Verdict",
    "Word",
    "__version__",
]
