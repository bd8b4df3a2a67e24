"""Load something slow (a dictionary, a model) on a thread while other work goes on."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class BackgroundLoad(Generic[T]):
    """`start()` begins building on a daemon thread; `get()` waits for it (starting it if nobody
    did) and re-raises in the caller's thread whatever the build raised."""

    def __init__(self, build: Callable[[], T], name: str):
        self._build = build
        self._name = name
        self._value: T | None = None
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._thread.start()

    def _run(self) -> None:
        try:
            self._value = self._build()
        except BaseException as exc:
            self._error = exc

    def get(self) -> T:
        self.start()
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._value  # type: ignore[return-value]


class Every:
    """Run `work` every `interval_s` seconds on a daemon thread until stopped (a server's
    housekeeping: the deadline sweep, the penalty notices). A run that raises is logged, and the
    next one is tried on time."""

    def __init__(self, interval_s: float, work: Callable[[], object], name: str):
        import logging

        self._log = logging.getLogger(__name__)
        self.interval_s = interval_s
        self._work = work
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> "Every":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self._work()
            except Exception:  # the database busy, a receiver down: next time
                self._log.exception("%s failed; trying again in %g s", self._thread.name, self.interval_s)
