"""POST reminders to the platform's webhook: JSON signed with HMAC-SHA256, retried with capped
backoff on a thread of its own (a slow receiver never holds up a feed); what still fails is kept
in the dead-letter table, listed by `pinocchio webhooks failed`."""

from __future__ import annotations

import json
import logging
import queue
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from pinocchio.core.signed_post import post_signed
from pinocchio.store.tables import WebhookFailure

log = logging.getLogger(__name__)

@dataclass(frozen=True)
class WebhookOptions:
    attempts: int = 5
    initial_s: float = 0.5
    max_s: float = 8.0
    timeout_s: float = 5.0


class WebhookSender:
    def __init__(self, url: str, secret: str, engine: Engine, options: WebhookOptions = WebhookOptions()):
        self.url = url
        self.secret = secret
        self.engine = engine
        self.options = options
        self.delivered = 0
        self._queue: queue.Queue[bytes | None] = queue.Queue()
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._run, name="webhook", daemon=True)
        self._thread.start()

    def send(self, payload: dict) -> None:
        self._queue.put(json.dumps(payload, ensure_ascii=False, sort_keys=True).encode("utf-8"))

    def close(self, timeout_s: float = 60.0) -> None:
        """Deliver (or dead-letter) what is queued, then stop."""
        self._queue.put(None)
        self._thread.join(timeout=timeout_s)

    def _run(self) -> None:
        while (body := self._queue.get()) is not None:
            self._deliver(body)

    def _post(self, body: bytes) -> None:
        post_signed(self.url, self.secret, body, self.options.timeout_s)

    def _deliver(self, body: bytes) -> None:
        o = self.options
        error = ""
        for attempt in range(1, o.attempts + 1):
            try:
                self._post(body)
                self.delivered += 1
                return
            except urllib.error.HTTPError as exc:
                error = f"HTTP {exc.code}"
                if 400 <= exc.code < 500 and exc.code not in (408, 429):
                    break  # the receiver refuses this payload: retrying will not help
            except (urllib.error.URLError, OSError) as exc:
                error = str(getattr(exc, "reason", exc))
            if attempt < o.attempts:
                threading.Event().wait(min(o.max_s, o.initial_s * 2 ** (attempt - 1)))
        log.warning("webhook %s: giving up after %d attempts (%s); kept as a dead letter", self.url, attempt, error)
        with Session(self.engine) as session:
            session.add(WebhookFailure(url=self.url, payload=body.decode("utf-8"), attempts=attempt, last_error=error))
            session.commit()


def failed_deliveries(engine: Engine) -> list[WebhookFailure]:
    with Session(engine) as session:
        return list(session.exec(select(WebhookFailure).order_by(WebhookFailure.id)))
