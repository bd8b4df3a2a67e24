"""Is a feed falling behind live? The worker reads a feed's audio only as fast as it can decode it,
so when it cannot keep up the audio it reads gets older and older: the lag grows. `LagWatch`
follows one feed's lag and says when it starts to fall behind (over `behind_s` and still growing
by `growth_s` over the last `window_s` of wall time) and when it has caught up again (back under
`caught_up_s`), each once, so the worker can log, count and record it rather than fall behind in
silence."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from enum import StrEnum


@dataclass(frozen=True)
class LagOptions:
    behind_s: float = 10.0
    window_s: float = 60.0
    growth_s: float = 5.0
    caught_up_s: float = 3.0


class LagChange(StrEnum):
    BEHIND = "behind"
    CAUGHT_UP = "caught_up"


@dataclass(frozen=True)
class LagReading:
    change: LagChange
    lag_s: float
    growth_s: float  # how much the lag grew over the window (negative: it shrank)


class LagWatch:
    def __init__(self, options: LagOptions = LagOptions()):
        self.options = options
        self.behind = False
        self._samples: deque[tuple[float, float]] = deque()  # (wall seconds, lag seconds)

    def observe(self, wall_s: float, lag_s: float) -> LagReading | None:
        """Take one reading; a `LagReading` when the feed starts falling behind or has caught up."""
        o = self.options
        self._samples.append((wall_s, lag_s))
        while len(self._samples) > 2 and self._samples[1][0] <= wall_s - o.window_s:
            self._samples.popleft()  # keep one sample at least a window old, when there is one
        oldest_wall, oldest_lag = self._samples[0]
        growth = lag_s - oldest_lag
        if not self.behind and lag_s >= o.behind_s and growth >= o.growth_s:
            self.behind = True
            return LagReading(LagChange.BEHIND, lag_s, growth)
        if self.behind and lag_s <= o.caught_up_s:
            self.behind = False
            return LagReading(LagChange.CAUGHT_UP, lag_s, growth)
        return None
