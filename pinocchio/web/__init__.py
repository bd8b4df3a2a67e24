"""The reviewers' console and the platform's HTTP API (FastAPI, server-rendered Jinja2 pages).
Thin: every route calls the moderation library and commits once."""

from pinocchio.web.app import WebOptions, create_app

__all__ = ["WebOptions", "create_app"]
