"""Shared fixtures: repository paths, a temporary database, the real pipeline and model."""

from __future__ import annotations

import difflib
import hashlib
import hmac
import json
import math
import os
import shutil
import statistics
import subprocess
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from pinocchio.core.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
SPEECH = FIXTURES / "speech"
DEMO = FIXTURES / "demo" / "demo_stream.m4a"
DEMO_REFERENCE = FIXTURES / "demo" / "demo_stream.reference.json"
WEBHOOK_SECRET = "s3cret"
TEST_LADDER = ROOT / "tests" / "data" / "ladder.yaml"


def in_private_network() -> bool:
    lines = Path("/proc/self/net/dev").read_text().splitlines()[2:]
    return {line.split(":")[0].strip() for line in lines} == {"lo"}


# tests/fleet/ runs Ray, which must see loopback only: tests/test_fleet.py runs it in a private
# network namespace; anywhere else it is not collected.
collect_ignore = [] if in_private_network() else ["fleet"]


def pytest_configure(config) -> None:
    # Moderation logic is tested on a ladder of the tests' own; the shipped one only as data.
    os.environ["PINOCCHIO_LADDER"] = str(TEST_LADDER)


def speech_references() -> dict[str, str]:
    lines = (SPEECH / "trans.txt").read_text(encoding="utf-8").splitlines()
    return dict(line.split("\t", 1) for line in lines if line.strip())


def demo_sentences(with_facts: bool = False) -> list[dict]:
    """The demo's sentences; `with_facts`: as checked against the demo shop (fixtures/demo/shop.yaml),
    each also carrying the labels of the promises those facts break."""
    sentences = [x for x in json.loads(DEMO_REFERENCE.read_text(encoding="utf-8")) if x.get("kind", "speech") == "speech"]
    if with_facts:
        sentences = [dict(s, labels=sorted(set(s["labels"]) | {p["label"] for p in s.get("promises", [])
                                                                if p["outcome"] == "contradicted"}))
                     for s in sentences]
    return sentences


def overlapping(rows: list[dict], sentence: dict, slack_s: float = 0.5) -> list[dict]:
    return [r for r in rows if r["start"] < sentence["end_s"] + slack_s and r["end"] > sentence["start_s"] - slack_s]


def _inside(sentence: dict, within: tuple[float, float]) -> bool:
    return within[0] <= sentence["start_s"] and sentence["end_s"] <= within[1]


def missed_claims(rows: list[dict], within: tuple[float, float] = (0.0, math.inf), with_facts: bool = False) -> list[str]:
    """Planted claims of the demo that no flagged segment near their time carries, as a reviewer
    would check them: by label and time, not by exact words (whisper mishears). `within` limits
    the check to the claims said wholly inside that stretch of the recording; `with_facts`: the
    promises the demo shop's facts break are claims too."""
    missed = []
    for sentence in demo_sentences(with_facts):
        if not _inside(sentence, within):
            continue
        for label in sentence["labels"]:
            hits = [f for r in overlapping(rows, sentence) if r["action"] != "pass"
                    for f in r["findings"] if f["label"] == label and f["article"]]
            if not hits:
                missed.append(f"{sentence['start_s']:.1f}s {label}: {sentence['text']} / heard: "
                              + " | ".join(r["text"] for r in overlapping(rows, sentence)))
    return missed


def false_flags(rows: list[dict], within: tuple[float, float] = (0.0, math.inf), with_facts: bool = False) -> list[dict]:
    """Flagged segments that lie over compliant demo sentences only (those wholly inside `within`)."""
    sentences = demo_sentences(with_facts)
    claim_times = [(s["start_s"], s["end_s"]) for s in sentences if s["labels"]]
    return [r for s in sentences if not s["labels"] and _inside(s, within)
            for r in overlapping(rows, s, slack_s=0.0)
            if r["action"] != "pass" and not any(r["start"] < e and r["end"] > b for b, e in claim_times)]


def unmet_promises(rows: list[dict], within: tuple[float, float] = (0.0, math.inf)) -> list[str]:
    """The demo's promises (script.yaml) that were not checked as planted against the demo shop:
    each must be found, by kind and time, with its outcome; a broken one must also be flagged by a
    facts finding of its label that cites the fact."""
    unmet = []
    for sentence in demo_sentences():
        if not _inside(sentence, within):
            continue
        near = overlapping(rows, sentence)
        for promise in sentence.get("promises", []):
            checked = [p for r in near for p in r.get("promises", [])
                       if p["kind"] == promise["kind"] and p["outcome"] == promise["outcome"]]
            cited = [f for r in near if r["action"] != "pass" for f in r["findings"]
                     if f["source"] == "facts" and f["label"] == promise.get("label") and f.get("fact")]
            if not checked or (promise["outcome"] == "contradicted" and not cited):
                unmet.append(f"{sentence['start_s']:.1f}s {promise['kind']} {promise['said']} should be "
                             f"{promise['outcome']} / heard: " + " | ".join(
                                 f"{r['text']} {[(p['kind'], p['outcome']) for p in r.get('promises', [])]}" for r in near))
    return unmet


def _timed_chars(spans: list[tuple[float, float, str]]) -> tuple[str, list[float]]:
    """The words of timed spans run together (punctuation dropped), each character placed in time
    by spreading its span's duration evenly over its characters."""
    text, times = "", []
    for start_s, end_s, words in spans:
        chars = [c for c in words if c.isalnum()]
        text += "".join(chars)
        times += [start_s + (k + 0.5) * (end_s - start_s) / len(chars) for k in range(len(chars))]
    return text, times


def demo_offset(rows: list[dict]) -> float:
    """Seconds to add to a live worker's stream times to get the demo recording's, found from what
    was said: the rows' text is matched to the reference script character by character (whisper
    mishears some, the rest line up) and the median time difference is taken. A worker joins a
    feed mid-stream and counts time from its first sample, so this is how its times are checked."""
    heard, heard_s = _timed_chars([(r["start"], r["end"], r["text"]) for r in rows])
    said, said_s = _timed_chars([(s["start_s"], s["end_s"], s["text"]) for s in demo_sentences()])
    blocks = difflib.SequenceMatcher(None, heard, said, autojunk=False).get_matching_blocks()
    diffs = [said_s[b.b + k] - heard_s[b.a + k] for b in blocks if b.size >= 2 for k in range(b.size)]
    assert len(diffs) >= 10, f"too little of the demo recognised to place the rows in it: {heard!r}"
    return float(statistics.median(diffs))


def shifted(rows: list[dict], offset_s: float) -> list[dict]:
    return [dict(r, start=r["start"] + offset_s, end=r["end"] + offset_s) for r in rows]


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y", *args], check=True)


@pytest.fixture(scope="session")
def settings() -> Settings:
    return Settings(db_url="sqlite:///:memory:")


@pytest.fixture(scope="session")
def postgres():
    """A private PostgreSQL cluster on loopback (tests/postgres_server.py). Missing PostgreSQL fails
    the tests that need it rather than skipping them: CI installs it."""
    from postgres_server import missing, start_postgres

    if reason := missing():
        pytest.fail(reason, pytrace=False)
    folder = Path(tempfile.mkdtemp(prefix="pinocchio-pg-"))  # not under pytest's root-only folder: as root
    server = start_postgres(folder)                              # the cluster runs as nobody
    yield server
    server.stop()
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request) -> str:
    """The store's two databases: every test of the store runs on each. A test about one of them
    says so with @pytest.mark.parametrize("backend", [...])."""
    return request.param


@pytest.fixture
def db_url(backend: str, tmp_path: Path, request) -> str:
    """A new, empty database on `backend`."""
    if backend == "postgresql":
        return request.getfixturevalue("postgres").new_database()
    return f"sqlite:///{tmp_path / 'pinocchio.db'}"


@pytest.fixture(scope="session")
def pipeline(settings: Settings):
    from pinocchio.listen.pipeline import Pipeline

    return Pipeline(settings)


@pytest.fixture(scope="session")
def clip_dir(tmp_path_factory) -> Path:
    """Real speech re-encoded into other containers (mp4 and flv with a video track, mp3, m4a)."""
    out = tmp_path_factory.mktemp("containers")
    src = SPEECH / "funasr_paraformer_example_0.wav"
    ffmpeg("-i", str(src), "-f", "lavfi", "-i", "color=c=black:s=160x120:r=10:d=5.5",
           "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", str(out / "clip.mp4"))
    ffmpeg("-i", str(src), "-f", "lavfi", "-i", "color=c=black:s=160x120:r=10:d=5.5",
           "-c:v", "flv1", "-c:a", "aac", "-f", "flv", str(out / "clip.flv"))
    ffmpeg("-i", str(src), "-c:a", "libmp3lame", "-b:a", "128k", str(out / "clip.mp3"))
    ffmpeg("-i", str(src), "-c:a", "aac", str(out / "clip.m4a"))
    shutil.copy(src, out / "clip.wav")
    return out


@pytest.fixture
def receiver():
    """Answers with the codes in `plan` (then 200), recording bodies whose signature checks out."""
    state = {"plan": [], "good": [], "bad_signatures": 0, "requests": 0}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            state["requests"] += 1
            expected = "sha256=" + hmac.new(WEBHOOK_SECRET.encode(), body, hashlib.sha256).hexdigest()
            if not hmac.compare_digest(self.headers.get("X-Pinocchio-Signature", ""), expected):
                state["bad_signatures"] += 1
                self.send_response(401)
            else:
                code = state["plan"].pop(0) if state["plan"] else 200
                if code == 200:
                    state["good"].append(json.loads(body))
                self.send_response(code)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    state["url"] = f"http://127.0.0.1:{server.server_port}/hook"
    yield state
    server.shutdown()


@pytest.fixture(scope="session")
def nginx(tmp_path_factory):
    """A private nginx with the RTMP module (RTMP in and out, HLS over HTTP) on loopback ports.
    Missing nginx fails the tests that need it rather than skipping them: CI installs it."""
    from nginx_server import missing, start_nginx

    if reason := missing():
        pytest.fail(reason, pytrace=False)
    server = start_nginx(tmp_path_factory.mktemp("nginx"))  # raises with nginx's own words if it cannot
    yield server
    server.stop()


@pytest.fixture
def world(tmp_path, db_url):
    """The reviewers' console's world (tests/web_world.py): a scanned stream, cases, reviewers, on
    each backend. test_appeals.py builds its own, smaller one under the same name."""
    from web_world import build_world

    return build_world(tmp_path, db_url)


@pytest.fixture
def client(world):
    """An HTTP client of the console and API over `world`'s database."""
    from web_client import client_for

    with client_for(world) as c:
        yield c


# The fleet tests' Ray nodes: one CPU and a small object store each (they pass paths and records).
RAY_NODE = {"num_cpus": 1, "object_store_memory": 80 * 2**20}


@pytest.fixture(scope="session")
def cluster():
    """A two-node Ray cluster on this machine (ray.cluster_utils), for tests/fleet/ only: inside the
    private network namespace tests/test_fleet.py makes, where Ray sees loopback alone."""
    assert in_private_network(), "run through tests/test_fleet.py: Ray must see loopback only"
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={**RAY_NODE, "include_dashboard": False})
    cluster.add_node(**RAY_NODE)
    cluster.wait_for_nodes()
    yield cluster
    cluster.shutdown()
