"""The reviewers' console and the platform's HTTP API (FastAPI, server-rendered Jinja2 pages).
Thin: every route calls the moderation library and commits once."""

from pinocchio.web.app import create_app

__all__ = ["create_app"]
