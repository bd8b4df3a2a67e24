"""`pinocchio fleet run` on a real two-node Ray cluster, real nginx-rtmp feeds (followed over HLS)
and a real PostgreSQL, all on loopback inside a private network namespace (tests/test_fleet.py
starts this folder there; MODELS.md has why). Four rooms speak planted claims between silences;
meanwhile one worker is killed with kill -9, the controller is killed, a node is removed and a
feed is removed, then SIGTERM drains the fleet. The claims said across the kill must be stored, and
nothing twice."""

from __future__ import annotations

import difflib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import sqlalchemy as sa
from conftest import DEMO, RAY_NODE, ROOT, ffmpeg

pytestmark = pytest.mark.slow

FEEDS = ("room0", "room1", "room2", "room3")
# Each room's audio: stretches of the demo (its seconds) between silences (seconds), with four
# planted claims; room k starts STAGGER_S * k later, so that mostly one room talks at a time: two
# workers share these two cores here, and one of them alone must hold all four rooms after the
# other dies (four rooms talking at once are past one 2-core machine: issue 14 measured three).
# Each claim comes after a compliant sentence, as in a stream: said after a silence, with no speech
# before it for whisper to hear it in, 最后五单 came out as 集合舞蹈.
STRETCHES = [(9.5, 30.0), 6.0, (36.0, 43.0), 2.0]
STAGGER_S = 16.0
# Where each claim ends in a room's audio (seconds from its first stretch): the demo's times moved
# to where STRETCHES put them.
CLAIMS_END_S = {"efficacy_guarantee": 10.7, "false_endorsement": 15.7, "price_deception": 20.1, "fake_scarcity": 32.8}
CLAIMS = set(CLAIMS_END_S)
LATE_S = 8.0  # a claim is stored this long after it is said, at worst, on these cores
HEARD_EARLY_S, HEARD_LATE_S = 6.0, 2.0  # where a claim's speech is looked for, around its end
MOVE_WITHIN_S = 10.0
SETTLED_AFTER_S = 10.0  # no segment stored for this long: the worker has decoded all it read
# The node leaves this long after the rooms start at the earliest, so that the claims counted (said
# before it left) are at least eight: up to room1's last claim (16 + 32.8 + LATE_S = 56.8 s).
NODE_LEAVES_AT_S = 58.0
AUDIO_S = sum(p[1] - p[0] if isinstance(p, tuple) else p for p in STRETCHES) + STAGGER_S * (len(FEEDS) - 1)


def room_audio(folder: Path, k: int) -> Path:
    """Room k's stretches and silences as one file (AAC, as an encoder would send), all rooms alike
    long: room k waits STAGGER_S * k first and that much less at the end."""
    parts = [STAGGER_S * k, *STRETCHES[:-1], STRETCHES[-1] + STAGGER_S * (len(FEEDS) - 1 - k)]
    inputs, graph = [], []
    for n, part in enumerate(parts):
        if isinstance(part, tuple):
            inputs += ["-ss", str(part[0]), "-t", str(part[1] - part[0]), "-i", str(DEMO)]
        else:
            inputs += ["-f", "lavfi", "-t", str(max(part, 0.1)), "-i", "anullsrc=r=16000:cl=mono"]
        graph.append(f"[{n}:a]aresample=16000,aformat=channel_layouts=mono[a{n}]")
    graph.append("".join(f"[a{n}]" for n in range(len(parts))) + f"concat=n={len(parts)}:v=0:a=1[out]")
    path = folder / f"room{k}.m4a"
    ffmpeg(*inputs, "-filter_complex", ";".join(graph), "-map", "[out]", "-c:a", "aac", str(path))
    return path


@dataclass
class Fleet:
    """`pinocchio fleet run` in its own process, and the store it writes."""

    db_url: str
    env: dict
    log: Path
    process: subprocess.Popen | None = None
    engine: sa.Engine = field(init=False)

    def __post_init__(self):
        self.engine = sa.create_engine(self.db_url)

    def cli(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "pinocchio", *args, "--db", self.db_url], env=self.env,
                              cwd=ROOT, capture_output=True, text=True, timeout=60)

    def status(self) -> tuple[dict, dict]:
        done = self.cli("fleet", "status", "--format", "jsonl")
        assert done.returncode == 0, done.stderr
        rows = [json.loads(line) for line in done.stdout.splitlines()]
        return ({r["name"]: r for r in rows if r["type"] == "feed"}, {r["name"]: r for r in rows if r["type"] == "member"})

    def stored_status(self) -> tuple[dict, dict]:
        """What `status` prints, read from the store directly: fast enough to time a move by."""
        with self.engine.connect() as c:
            feeds = {r["name"]: dict(r) for r in c.execute(sa.text("SELECT * FROM fleet_feed")).mappings()}
            members = {r["name"]: dict(r) for r in c.execute(sa.text("SELECT * FROM fleet_member")).mappings()}
        return feeds, members

    def wait(self, what: str, check, timeout_s: float, every_s: float = 0.25, fast: bool = False):
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"the fleet exited while waiting for {what}:\n{self.tail()}"
            if value := check(*(self.stored_status() if fast else self.status())):
                return value
            time.sleep(every_s)
        raise AssertionError(f"{what}: not within {timeout_s} s; status {self.status()}\n{self.tail()}")

    def claims_stored(self, feed: str) -> set[str]:
        with self.engine.connect() as c:
            return set(c.execute(sa.text(
                "SELECT DISTINCT f.label FROM finding f JOIN segment s ON s.id = f.segment_id "
                "JOIN stream st ON st.id = s.stream_id WHERE st.name = :name AND s.action != 'pass'"),
                {"name": feed}).scalars())

    def segments(self, feed: str) -> list[tuple[int, int, str]]:
        """The room's first hearings (a second hearing lies over one of them by design)."""
        with self.engine.connect() as c:
            return [tuple(r) for r in c.execute(sa.text(
                "SELECT s.start_ms, s.end_ms, s.text FROM segment s JOIN stream st ON st.id = s.stream_id "
                "WHERE st.name = :name AND NOT s.heard_again ORDER BY s.start_ms"), {"name": feed})]

    def settle(self, quiet_s: float, timeout_s: float) -> float:
        """Wait until no segment has been stored for `quiet_s`; when the last one was."""
        deadline, last, last_at = time.monotonic() + timeout_s, -1, time.monotonic()
        while time.monotonic() < deadline:
            with self.engine.connect() as c:
                count = c.execute(sa.text("SELECT count(*) FROM segment")).scalar()
            if count != last:
                last, last_at = count, time.monotonic()
            elif time.monotonic() - last_at >= quiet_s:
                break
            time.sleep(0.5)
        return last_at

    def warnings(self, chars: int = 6000) -> str:
        """The log's WARNING and ERROR lines: what a failed run's report needs from it."""
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(line for line in text.splitlines() if "WARNING" in line or "ERROR" in line)[-chars:]

    def tail(self, chars: int = 6000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""


def following(feeds: dict, worker: str | None = None) -> dict[str, str]:
    return {n: f["worker"] for n, f in feeds.items() if f["state"] == "following" and f["lag_s"] is not None
            and (worker is None or f["worker"] == worker)}


@pytest.fixture(scope="module")
def run(cluster, postgres, nginx, tmp_path_factory):
    """The whole scenario, once; the tests below read what it recorded."""
    tmp = tmp_path_factory.mktemp("fleet")
    env = dict(os.environ, PYTHONPATH=str(ROOT), RAY_USAGE_STATS_ENABLED="0", PINOCCHIO_EVIDENCE=str(tmp / "clips"))
    audios = [room_audio(tmp, k) for k in range(len(FEEDS))]
    streams = tmp / "streams.yaml"
    streams.write_text("version: 1\nstreams:\n" + "".join(
        f"  - name: {name}\n    url: {nginx.hls_url(name)}\n    streamer: s-{k}\n    room: '{k}'\n"
        for k, name in enumerate(FEEDS)), encoding="utf-8")
    fleet = Fleet(postgres.new_database(), env, tmp / "fleet.log")
    seen: dict = {"timeline": []}
    with open(fleet.log, "w") as log:
        fleet.process = subprocess.Popen([sys.executable, "-m", "pinocchio", "fleet", "run", "--streams", str(streams),
                                          "--db", fleet.db_url, "--ray", cluster.address], env=env, cwd=ROOT,
                                         stdout=log, stderr=subprocess.STDOUT)
    try:
        members = fleet.wait("two workers measured and the feeds placed", lambda feeds, m: m if sum(
            1 for x in m.values() if x["role"] == "worker" and x["state"] == "alive" and x["capacity"]) == 2
            and all(f["worker"] for f in feeds.values()) else None, timeout_s=240)
        seen["members"] = members
        started = time.monotonic()
        for audio, name in zip(audios, FEEDS):
            nginx.publish(audio, name)
        seen["placed"] = fleet.wait("all four followed", lambda feeds, m: following(feeds) if len(
            following(feeds)) == 4 else None, timeout_s=60)
        seen["metrics"] = {name: urllib.request.urlopen(m["metrics_url"], timeout=5).read().decode()
                           for name, m in members.items() if m["role"] == "worker"}

        # kill -9 the worker on the controller's node; its feeds must move to the other node's.
        controller = members["controller"]
        victim = next(n for n, m in members.items() if m["role"] == "worker" and m["node"] == controller["node"])
        other = next(n for n, m in members.items() if m["role"] == "worker" and n != victim)
        victim_feeds = sorted(n for n, w in seen["placed"].items() if w == victim)
        first = victim_feeds[0]
        deadline = time.monotonic() + 60  # once it has stored a claim: the replay must not store it again
        while not fleet.claims_stored(first) and time.monotonic() < deadline:
            time.sleep(0.2)
        seen["stored_before_kill"] = {name: fleet.claims_stored(name) for name in victim_feeds}
        os.kill(members[victim]["pid"], signal.SIGKILL)
        killed = time.monotonic()
        seen["timeline"].append(("worker killed", killed - started))
        fleet.wait("the killed worker's feeds on the other node", lambda feeds, m: all(
            following(feeds).get(n) == other for n in victim_feeds), timeout_s=30, every_s=0.1, fast=True)
        seen["moved_after_s"] = time.monotonic() - killed
        seen["victim"], seen["other"], seen["victim_feeds"] = victim, other, victim_feeds

        # kill -9 the controller: Ray starts it again, it adopts the feeds where they run.
        before, _ = fleet.status()
        os.kill(controller["pid"], signal.SIGKILL)
        seen["timeline"].append(("controller killed", time.monotonic() - started))
        seen["controller_back"] = fleet.wait("a new controller", lambda feeds, m: m["controller"] if m[
            "controller"]["pid"] != controller["pid"] and m["controller"]["state"] == "alive" else None, timeout_s=60)
        time.sleep(2.0)
        after, _ = fleet.status()
        seen["moves_across_controller_restart"] = {n: (before[n]["worker"], after[n]["worker"], before[n]["moves"],
                                                       after[n]["moves"]) for n in FEEDS}

        # Remove the other node once the restarted worker is back, and not before NODE_LEAVES_AT_S
        # (a fast machine has it back sooner): everything moves to it.
        fleet.wait("the killed worker back", lambda feeds, m: m[victim]["state"] == "alive" and m[victim]["pid"] != members[victim]["pid"], timeout_s=120)
        while time.monotonic() - started < NODE_LEAVES_AT_S:
            time.sleep(0.2)
        node = next(n for n in cluster.list_all_nodes() if n.node_id == members[other]["node"])
        cluster.remove_node(node)
        removed = time.monotonic()
        seen["timeline"].append(("node removed", removed - started))
        fleet.wait("every feed on the remaining worker", lambda feeds, m: len(following(feeds, victim)) == 4,
                   timeout_s=30, every_s=0.1, fast=True)
        seen["moved_after_node_s"] = time.monotonic() - removed

        # Remove a feed while it runs, once it has said its last claim.
        deadline = time.monotonic() + 60
        while "fake_scarcity" not in fleet.claims_stored("room3") and time.monotonic() < deadline:
            time.sleep(0.2)
        done = fleet.cli("fleet", "remove", "room3")
        assert done.returncode == 0, done.stderr
        seen["removed_followed"] = fleet.wait("room3 no longer followed", lambda feeds, m: "room3" not in feeds and
                                              all(x["feeds"] <= 3 for x in m.values() if x["name"] == victim) or None,
                                              timeout_s=30)
        # Let every room finish, and the one worker left catch up with what it has not decoded yet
        # (it holds four rooms on a share of two cores and ends up to half a minute behind, and a
        # drain stops reading: what it had not read would be lost by the test's haste), then drain.
        while time.monotonic() - started < AUDIO_S + 10:
            time.sleep(0.5)
        seen["timeline"].append(("store settled", fleet.settle(quiet_s=SETTLED_AFTER_S, timeout_s=120) - started))
        fleet.process.send_signal(signal.SIGTERM)
        seen["exit"] = fleet.process.wait(timeout=180)
        seen["final"] = fleet.status()
        # For a failure's message: the run and what each room stored.
        seen["report"] = "\n".join([str({k: v for k, v in seen.items() if k not in ("metrics", "final")})] + [
            "\n  ".join([f"{name}: {sorted(fleet.claims_stored(name))}"] + [
                f"{a / 1000:.1f}-{b / 1000:.1f} {t}" for a, b, t in fleet.segments(name)]) for name in FEEDS]
            + ["the fleet's log, its warnings:", fleet.warnings()])
        yield fleet, seen
    finally:
        if fleet.process.poll() is None:
            fleet.process.kill()
        if len(cluster.list_all_nodes()) < 2:  # the next tests get two nodes again
            cluster.add_node(**RAY_NODE)
            cluster.wait_for_nodes()


def test_four_feeds_are_followed_on_two_nodes_with_metrics_per_worker(run):
    fleet, seen = run
    assert sorted(seen["placed"]) == list(FEEDS) and len(set(seen["placed"].values())) == 2, seen["placed"]
    for name, text in seen["metrics"].items():
        assert "pinocchio_expected_feeds" in text and "pinocchio_feed_lag_seconds{" in text, name


def test_a_killed_workers_feeds_resume_on_the_other_node_within_10_s(run):
    fleet, seen = run
    assert seen["moved_after_s"] < MOVE_WITHIN_S, seen["report"]
    assert seen["moved_after_node_s"] < MOVE_WITHIN_S, seen["report"]


def test_the_claims_said_across_the_kill_are_stored_and_none_twice(run):
    """Across the kill -9 and the controller's restart nothing said is lost and nothing stored
    twice: the killed worker's rooms resume on the other node from 12 s back and as far again as
    the dead worker was behind (what it had read and not decoded included), so a failover does not
    lose the stretch it took. In every room the speech of every claim counted is stored at its
    time, whatever whisper made of it (nothing lost). Its label: in the killed worker's rooms every
    claim but one at most, in all rooms together three of four. Whisper mishears a claim now and
    then on these overloaded workers, with either decoder: on 2026-12-06 the four rooms decoded at
    once, as fast as read (a worker far behind), gave 最后五单 as 捷轰五单 in two rooms of four both
    with the packing of that day and with the one before; runs here lost 中央电视台 (总养电视台)
    in one killed room of six claims, once in three. A lost stretch would cost a room several
    claims, and its speech. After the node removal one restarted worker holds all four rooms and
    falls behind: claims said then are this machine's limit and are not counted."""
    fleet, seen = run
    left_at = dict(seen["timeline"])["node removed"]
    missed, unheard, counted = {}, [], 0
    for k, name in enumerate(FEEDS):
        said = {label: STAGGER_S * k + end_s for label, end_s in CLAIMS_END_S.items()
                if STAGGER_S * k + end_s + LATE_S <= left_at}
        counted += len(said)
        missed[name] = sorted(set(said) - fleet.claims_stored(name))
        stored = fleet.segments(name)
        # A resumed room's times run up to 4 s early (README, fleet): the claim's speech is looked for
        # from HEARD_EARLY_S before its end to HEARD_LATE_S after it.
        unheard += [(name, label) for label, end_s in said.items()
                    if not any(a / 1000 < end_s + HEARD_LATE_S and b / 1000 > end_s - HEARD_EARLY_S for a, b, _ in stored)]
        twice = [(a, b) for i, a in enumerate(stored) for b in stored[i + 1:]
                 if len(a[2]) >= 6 and difflib.SequenceMatcher(None, a[2], b[2]).ratio() >= 0.6]
        assert not twice, f"{name} stored twice: {twice}\n{seen['report']}"
    assert counted >= 8, f"too few claims said before the node left to check: {counted}"
    assert not unheard, f"no speech stored where these claims were said: {unheard}\n{seen['report']}"
    victims = seen["victim_feeds"]
    assert sum(len(missed[name]) for name in victims) <= 1, f"the killed worker's rooms lost claims: {missed}\n{seen['report']}"
    assert sum(len(m) for m in missed.values()) <= counted // 4, f"missed {missed}\n{seen['report']}"


def test_a_restarted_controller_moves_nothing(run):
    fleet, seen = run
    assert all(b == a and mb == ma for b, a, mb, ma in seen["moves_across_controller_restart"].values()), seen


def test_sigterm_drains_the_fleet_and_every_scan_ends(run):
    fleet, seen = run
    assert seen["exit"] == 0, fleet.tail()
    feeds, members = seen["final"]
    assert sorted(feeds) == ["room0", "room1", "room2"] and all(f["state"] == "waiting" for f in feeds.values())
    assert members["controller"]["state"] == "gone"
    with fleet.engine.connect() as c:
        statuses = c.execute(sa.text("SELECT st.name, sc.status FROM scan sc JOIN stream st ON st.id = sc.stream_id "
                                     "ORDER BY sc.id")).all()
    # A killed worker's scans were left running and the next worker's superseded them; the last
    # scan of every feed ended when it was dropped or drained.
    assert {status for _, status in statuses} <= {"done", "abandoned"}, statuses
    last = {name: status for name, status in statuses}
    assert last == {name: "done" for name in FEEDS}, statuses
