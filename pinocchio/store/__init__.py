"""Storage: the tables (what was heard, the moderation log, the moderation projections), opening
an engine, and the scan/segment writes. Imports only `pinocchio.core`; everything above it
(listening, moderation, web) imports it."""

from pinocchio.store.engine import open_store

__all__ = ["open_store"]
