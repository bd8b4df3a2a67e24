"""The fleet controller's rules, with workers played by a script (no Ray): feeds go where there is
room, a silent, restarted or departed worker's feeds move once and are stored as moved, a removed
feed is dropped, a restarted controller adopts the feeds where they run, and nothing is followed
twice. The real cluster is tests/fleet/."""

from __future__ import annotations

import uuid
from dataclasses import replace

import pytest
from sqlmodel import Session

from pinocchio.core.clock import utcnow
from pinocchio.core.records import Feed
from pinocchio.fleet.controller import Controller, ControllerOptions
from pinocchio.fleet.placement import over_capacity, place
from pinocchio.fleet.records import FeedReport, WorkerStatus
from pinocchio.store import fleet as fleet_store
from pinocchio.store import open_store

OPTIONS = ControllerOptions(dead_after_s=3.0, retry_after_s=10.0)


class ScriptedWorker:
    def __init__(self, name: str, capacity: int | None):
        self.name, self.capacity = name, capacity
        self.incarnation = uuid.uuid4().hex
        self.feeds: dict[str, FeedReport] = {}
        self.silent = False
        self.died = False  # Ray said its process died (it may come back, restarted, empty)
        self.lingering = False  # a dropped feed goes on a while, storing what it heard

    def restart(self) -> None:
        self.incarnation, self.feeds = uuid.uuid4().hex, {}

    def status(self) -> WorkerStatus:
        return WorkerStatus(name=self.name, node=f"node-{self.name}", address="127.0.0.1", pid=1000,
                            incarnation=self.incarnation, started_at=utcnow(), capacity=self.capacity,
                            metrics_url=None, feeds=dict(self.feeds))


class ScriptedLinks:
    def __init__(self, *workers: ScriptedWorker):
        self.by_name = {w.name: w for w in workers}
        self.calls: list[tuple[str, str, str]] = []
        self.resumed: list[str] = []  # feeds told to resume (joined from as far back as they keep)
        self.behind: dict[str, float] = {}  # how far behind live each feed's last worker was

    def workers(self):
        return {name: (f"node-{name}", "127.0.0.1") for name in self.by_name}

    def statuses(self, wait_s):
        return {name: None if w.died else w.status() for name, w in self.by_name.items() if not w.silent}

    def follow(self, worker, feed, resume=False, behind_s=0.0):
        self.calls.append(("follow", worker, feed.name))
        self.resumed += [feed.name] if resume else []
        self.behind[feed.name] = behind_s
        feeds = self.by_name[worker].feeds
        if not self.by_name[worker].silent and not (feed.name in feeds and feeds[feed.name].following):
            feeds[feed.name] = FeedReport(lag_s=0.5, segments=0, following=True)  # an ended one starts again

    def drop(self, worker, feed):
        self.calls.append(("drop", worker, feed))
        if worker in self.by_name and not self.by_name[worker].silent and not self.by_name[worker].lingering:
            self.by_name[worker].feeds.pop(feed, None)

    def drain(self, wait_s):
        for worker in self.by_name.values():
            worker.feeds.clear()


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


@pytest.fixture
def fleet(db_url):
    engine = open_store(db_url)
    with Session(engine) as session:
        fleet_store.add_feeds(session, [Feed(f"room{i}", f"rtmp://127.0.0.1/live/room{i}") for i in range(4)])
        session.commit()
    return engine


def followers(links: ScriptedLinks) -> dict[str, list[str]]:
    """Which workers follow each feed (as far as anyone can tell: a silent one is not counted)."""
    seen: dict[str, list[str]] = {}
    for name, worker in sorted(links.by_name.items()):
        for feed, report in worker.feeds.items() if not worker.silent else ():
            if report.following:
                seen.setdefault(feed, []).append(name)
    return seen


def stored(engine) -> dict[str, tuple]:
    with Session(engine) as session:
        return {f.name: (f.state, f.worker, f.moves) for f in fleet_store.feeds(session)}


def test_feeds_go_where_there_is_room_and_the_store_says_where(fleet):
    links = ScriptedLinks(ScriptedWorker("a", 3), ScriptedWorker("b", 1), ScriptedWorker("c", None))
    controller = Controller(fleet, links, OPTIONS, clock=Clock())
    controller.step()
    held = followers(links)
    assert sorted(held) == [f"room{i}" for i in range(4)] and all(len(w) == 1 for w in held.values())
    assert sorted(w[0] for w in held.values()) == ["a", "a", "a", "b"]  # c has not measured itself: nothing
    controller.step()
    assert {state for state, _, _ in stored(fleet).values()} == {"following"}
    with Session(fleet) as session:
        members = {m.name: (m.role, m.state, m.feeds) for m in fleet_store.members(session)}
    assert members == {"controller": ("controller", "alive", 4), "a": ("worker", "alive", 3),
                       "b": ("worker", "alive", 1), "c": ("worker", "alive", 0)}


@pytest.mark.parametrize("how", ["silent", "died", "restarted", "node left"])
def test_a_lost_workers_feeds_move_once_to_the_others(fleet, how):
    a, b = ScriptedWorker("a", 2), ScriptedWorker("b", 2)
    links, clock = ScriptedLinks(a, b), Clock()
    controller = Controller(fleet, links, OPTIONS, clock=clock)
    controller.step()
    on_a = sorted(feed for feed, workers in followers(links).items() if workers == ["a"])
    assert len(on_a) == 2
    for k, name in enumerate(on_a):
        a.feeds[name] = replace(a.feeds[name], lag_s=3.0 + k, unsettled_s=1.5)
    controller.step()  # seen: how far behind live a is on each, and what it has read and not decoded
    if how == "silent":
        a.silent = True
        clock.now += 1.0
        controller.step()
        assert sorted(followers(links)) == sorted(set(f"room{i}" for i in range(4)) - set(on_a))  # not moved yet
        clock.now += OPTIONS.dead_after_s
    elif how == "died":
        a.died = True
    elif how == "restarted":
        a.restart()
    else:
        del links.by_name["a"]
    controller.step()
    assert {feed: workers for feed, workers in followers(links).items()} == {f"room{i}": ["b"] for i in range(4)}
    controller.step()
    after = stored(fleet)
    assert {name: moves for name, (_, _, moves) in after.items()} == {f"room{i}": int(f"room{i}" in on_a)
                                                                     for i in range(4)}
    assert all(state == "following" and worker == "b" for state, worker, _ in after.values())
    assert links.resumed == on_a  # taken up from as far back as the source keeps; new feeds are not
    assert [links.behind[name] for name in on_a] == [4.5, 5.5]  # and as far as a was behind on them
    if how == "silent":  # it is told to drop them, should it come back
        assert {("drop", "a", feed) for feed in on_a} <= set(links.calls)
        a.silent = False  # back, still following them (the drops were lost): told again
        assert sorted(f for f, w in followers(links).items() if w == ["a", "b"]) == on_a
        clock.now += 1.0
        controller.step()
        assert all(workers == ["b"] for workers in followers(links).values())


def test_new_feeds_wait_for_workers_still_starting_but_a_lost_one_moves_at_once(fleet):
    a, b = ScriptedWorker("a", 4), ScriptedWorker("b", 4)
    links, clock = ScriptedLinks(a, b), Clock()
    b.silent = True  # loading its model
    controller = Controller(fleet, links, OPTIONS, clock=clock)
    controller.step()
    assert followers(links) == {}  # the first worker up does not take every feed
    b.silent = False
    clock.now += 1.0
    controller.step()
    assert sorted(w for workers in followers(links).values() for w in workers) == ["a", "a", "b", "b"]
    links.by_name["c"] = c = ScriptedWorker("c", 4)  # a node joins, its worker starting...
    c.silent = True
    a.died = True  # ...as another dies: its feeds do not wait for the newcomer
    clock.now += 1.0
    controller.step()
    assert all(workers == ["b"] for workers in followers(links).values()) and len(followers(links)) == 4
    clock.now += OPTIONS.start_grace_s  # one that never comes up holds nobody back for long
    with Session(fleet) as session:
        fleet_store.add_feeds(session, [Feed("room9", "rtmp://127.0.0.1/live/room9")])
        session.commit()
    controller.step()
    assert followers(links)["room9"] == ["b"]


def test_a_removed_feed_is_dropped_and_an_added_one_followed(fleet):
    links = ScriptedLinks(ScriptedWorker("a", 8))
    controller = Controller(fleet, links, OPTIONS, clock=Clock())
    controller.step()
    with Session(fleet) as session:
        assert fleet_store.remove_feed(session, "room1")
        fleet_store.add_feeds(session, [Feed("room9", "rtmp://127.0.0.1/live/room9")])
        session.commit()
    controller.step()
    assert sorted(followers(links)) == ["room0", "room2", "room3", "room9"]
    assert ("drop", "a", "room1") in links.calls and "room1" not in stored(fleet)


def test_a_restarted_controller_adopts_the_feeds_where_they_run(fleet):
    links = ScriptedLinks(ScriptedWorker("a", 2), ScriptedWorker("b", 2))
    Controller(fleet, links, OPTIONS, clock=Clock()).step()
    before, calls = followers(links), len(links.calls)
    again = Controller(fleet, links, OPTIONS, clock=Clock())
    again.step()
    again.step()
    assert followers(links) == before and len(links.calls) == calls  # nothing moved, nobody told anything
    assert {name: worker for name, worker in again.placed.items()} == {f: w[0] for f, w in before.items()}


def test_a_feed_followed_twice_is_dropped_where_it_was_not_placed(fleet):
    a, b = ScriptedWorker("a", 4), ScriptedWorker("b", 4)
    links = ScriptedLinks(a, b)
    controller = Controller(fleet, links, OPTIONS, clock=Clock())
    controller.step()
    feed, [owner] = next(iter(followers(links).items()))
    other = b if owner == "a" else a
    other.feeds[feed] = FeedReport(lag_s=1.0, segments=3, following=True)  # e.g. a worker that came back
    controller.step()
    assert followers(links)[feed] == [owner] and ("drop", other.name, feed) in links.calls


def test_a_feed_that_ended_is_joined_again_after_a_while(fleet):
    a = ScriptedWorker("a", 8)
    links, clock = ScriptedLinks(a), Clock()
    controller = Controller(fleet, links, OPTIONS, clock=clock)
    controller.step()
    a.feeds["room2"] = FeedReport(lag_s=None, segments=5, following=False, error="room2: no audio after 8 attempts")
    controller.step()
    assert stored(fleet)["room2"][0] == "ended"
    with Session(fleet) as session:
        assert session.get(fleet_store.FleetFeed, "room2").error.endswith("no audio after 8 attempts")
    told = len(links.calls)
    clock.now += OPTIONS.retry_after_s - 1
    controller.step()
    assert links.calls[told:] == []  # not yet
    clock.now += 1
    controller.step()  # joined again after the wait
    assert links.calls[told:] == [("follow", "a", "room2")]
    controller.step()
    assert followers(links)["room2"] == ["a"] and stored(fleet)["room2"][0] == "following"


def test_drain_stops_every_worker_and_the_store_says_nobody_follows():
    engine = open_store("sqlite:///:memory:")
    with Session(engine) as session:
        fleet_store.add_feeds(session, [Feed("room0", "rtmp://127.0.0.1/live/room0")])
        session.commit()
    links = ScriptedLinks(ScriptedWorker("a", 2))
    controller = Controller(engine, links, OPTIONS, clock=Clock())
    controller.step()
    controller.drain(5.0)
    assert followers(links) == {} and stored(engine) == {"room0": ("waiting", None, 0)}


def test_placement_spreads_by_capacity_and_still_places_when_full():
    assert sorted(place(["f1", "f2", "f3", "f4"], {"a": 3, "b": 1}, {}).values()) == ["a", "a", "a", "b"]
    assert sorted(place(["f1", "f2", "f3"], {"a": 4, "b": 2}, {"a": 3}).values()) == ["a", "b", "b"]
    assert place(["f1", "f2"], {"a": 1, "b": 1}, {"a": 1, "b": 1}) == {"f1": "a", "f2": "b"}  # over, evenly
    assert place(["f1"], {}, {}) == {}
    assert over_capacity({"a": 1, "b": 2}, {"a": 3, "b": 2}) == {"a": 2}


def test_a_feed_name_already_followed_from_another_url_is_refused(fleet):
    from pinocchio.core.errors import Conflict

    with Session(fleet) as session:
        with pytest.raises(Conflict, match="'room1' is already followed from rtmp://127.0.0.1/live/room1"):
            fleet_store.add_feeds(session, [Feed("room1", "rtmp://127.0.0.1/live/other")])
        assert fleet_store.add_feeds(session, [Feed("room1", "rtmp://127.0.0.1/live/room1")]) == []


def test_a_restarted_controller_takes_up_a_feed_that_ended_at_once_though_a_worker_is_starting(fleet):
    """The feed ended while no controller ran: the new one must not hold it back for workers still
    loading (the start grace is for feeds never placed)."""
    a = ScriptedWorker("a", 4)
    links, clock = ScriptedLinks(a), Clock()
    Controller(fleet, links, OPTIONS, clock=clock).step()
    a.feeds["room1"] = FeedReport(lag_s=None, segments=3, following=False, error="room1: feed ended at 40.0 s")
    loading = ScriptedWorker("b", None)
    loading.silent = True  # its actor is still loading whisper: it answers nothing yet
    links.by_name["b"] = loading
    again = Controller(fleet, links, OPTIONS, clock=clock)
    told = len(links.calls)
    again.step()
    assert ("follow", "a", "room1") in links.calls[told:]
    assert followers(links)["room1"] == ["a"]


def test_a_worker_over_its_capacity_gives_feeds_to_one_that_came_back_once_it_has_settled(fleet):
    a, b = ScriptedWorker("a", 2), ScriptedWorker("b", 2)
    links, clock = ScriptedLinks(a, b), Clock()
    controller = Controller(fleet, links, OPTIONS, clock=clock)
    controller.step()
    b.restart()  # its two feeds go to a, which then holds twice what it can
    controller.step()
    assert all(workers == ["a"] for workers in followers(links).values())
    a.feeds = {name: replace(report, lag_s=lag) for (name, report), lag in zip(sorted(a.feeds.items()), (9, 2, 7, 5))}
    clock.now += OPTIONS.settled_s - 1
    controller.step()
    assert all(workers == ["a"] for workers in followers(links).values())  # b came back too lately to be trusted
    a.lingering = True
    clock.now += 1
    controller.step()  # the feed least behind (room1) is dropped on a...
    assert ("drop", "a", "room1") in links.calls
    controller.step()
    assert followers(links)["room1"] == ["a"]  # ...which stores what it heard before b joins it
    del a.feeds["room1"]
    controller.step()
    assert followers(links)["room1"] == ["b"] and links.resumed[-1] == "room1"  # from as far back as it keeps
    assert links.behind["room1"] == 2  # and as far behind as a was on it
    a.lingering = False
    clock.now += OPTIONS.relieve_every_s - 1
    controller.step()
    assert sorted(followers(links).values()) == [["a"], ["a"], ["a"], ["b"]]  # one move per while
    clock.now += 1
    controller.step()
    controller.step()
    assert sorted(followers(links).values()) == [["a"], ["a"], ["b"], ["b"]]
    clock.now += 10 * OPTIONS.relieve_every_s
    controller.step()
    assert sorted(followers(links).values()) == [["a"], ["a"], ["b"], ["b"]]  # even: nothing more moves
    assert {name: moves for name, (_, _, moves) in stored(fleet).items()}["room1"] == 2
