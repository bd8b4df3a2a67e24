"""Pinocchio: catch false advertising in what Chinese live-commerce streamers say."""

__version__ = "0.1.0"

from pinocchio.core.errors import PinocchioError
from pinocchio.core.records import (
    AudioChunk,
    Finding,
    Segment,
    Utterance,
    Verdict,
    Word,
)

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
