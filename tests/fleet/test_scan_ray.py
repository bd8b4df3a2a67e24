"""`pinocchio scan --ray`: a folder of recordings spread over the two-node cluster as Ray tasks,
stored into PostgreSQL, a bad file named in one line while the others go on, and a second run
skipping what was scanned."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest
import sqlalchemy as sa
from conftest import ROOT, SPEECH

pytestmark = pytest.mark.slow


def test_scan_spreads_files_over_the_cluster_and_skips_what_was_scanned(cluster, postgres, tmp_path):
    folder = tmp_path / "recordings"
    folder.mkdir()
    clips = sorted(SPEECH.glob("funasr_*.wav"))[:3]
    for clip in clips:
        shutil.copy(clip, folder / clip.name)
    (folder / "broken.mp3").write_text("not audio")
    db = postgres.new_database()
    env = dict(os.environ, PYTHONPATH=str(ROOT), RAY_USAGE_STATS_ENABLED="0", COLUMNS="400",  # titles unwrapped
               PINOCCHIO_EVIDENCE=str(tmp_path / "clips"))
    command = [sys.executable, "-m", "pinocchio", "scan", str(folder), "--db", db, "--ray", cluster.address,
               "--format", "jsonl"]
    first = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert first.returncode == 1, first.stdout + first.stderr  # the broken file failed; the rest went on
    errors = [line for line in first.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and str(folder / "broken.mp3") in errors[0], first.stderr
    printed = [json.loads(line) for line in first.stdout.splitlines() if line.startswith("{")]
    assert {row["stream"] for row in printed} == {str(folder / clip.name) for clip in clips}, first.stdout
    engine = sa.create_engine(db)
    with engine.connect() as c:
        scanned = c.execute(sa.text("SELECT st.source, sc.status FROM scan sc JOIN stream st ON st.id = sc.stream_id"
                                    " ORDER BY st.source")).all()
        segments = c.execute(sa.text("SELECT count(*) FROM segment")).scalar()
    assert scanned == [(str(folder / clip.name), "done") for clip in clips] and segments >= len(clips)
    again = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert again.returncode == 1 and again.stderr.count("already scanned") == len(clips), again.stderr
