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
