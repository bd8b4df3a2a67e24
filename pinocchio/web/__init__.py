"""The reviewers' console and the platform's HTTP API (FastAPI, server-rendered Jinja2 pages).
Thin: every route calls the moderation library and commits once; pages show stored facts and never
run a model. May import `moderation`, `store` and `core` (and `listen` only to build the demo)."""

from pinocchio.web.app import create_app

__all__ = ["create_app"]
