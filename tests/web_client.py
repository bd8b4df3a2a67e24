"""TestClient helpers for the web tests: an app on a `web_world`, logging in, CSRF tokens."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from pinocchio.core.settings import Settings
from pinocchio.web import create_app

API_KEY = "test-api-key-0123456789"
TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def client_for(world, api_keys: tuple[str, ...] = (API_KEY,)) -> TestClient:
    return TestClient(create_app(Settings(db_url=world.db_url, evidence_dir=world.evidence_dir,
                                          secret_key="test-secret", api_keys=api_keys)))


def token(client: TestClient, path: str = "/login") -> str:
    page = client.get(path)
    assert page.status_code == 200, page.text
    return TOKEN.search(page.text).group(1)


def login(client: TestClient, name: str, password: str) -> str:
    """Log in through the form; returns the CSRF token of the logged-in session."""
    answer = client.post("/login", data={"name": name, "password": password, "csrf_token": token(client)},
                         follow_redirects=False)
    assert answer.status_code == 303, answer.text
    return token(client, "/queue")


def api(client: TestClient, path: str, body, key: str = API_KEY):
    return client.post(path, json=body, headers={"Authorization": f"Bearer {key}"})
