"""Where a feed goes: to the worker with the lowest share of its measured capacity in use once it
has the feed, so feeds spread by what each machine can decode, not one per worker in turn. When
every worker is full they still go somewhere (a feed followed late beats a feed not followed), to
the worker that is least over."""

from __future__ import annotations

from collections.abc import Mapping, Sequence


def place(feeds: Sequence[str], capacity: Mapping[str, int], load: Mapping[str, int]) -> dict[str, str]:
    """Each of `feeds` (in order) to a worker of `capacity` (feeds it should hold), given what
    each already holds (`load`). No workers: nothing is placed."""
    held = {worker: load.get(worker, 0) for worker in capacity}
    placed: dict[str, str] = {}
    for feed in feeds:
        if not held:
            break
        worker = min(held, key=lambda w: ((held[w] + 1) / max(capacity[w], 1), held[w], w))
        placed[feed] = worker
        held[worker] += 1
    return placed


def over_capacity(capacity: Mapping[str, int], load: Mapping[str, int]) -> dict[str, int]:
    """Workers holding more feeds than they should, and by how many."""
    return {w: load.get(w, 0) - c for w, c in capacity.items() if load.get(w, 0) > c}
