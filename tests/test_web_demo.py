"""`pinocchio serve`: its command line, and the demo database `--demo` builds once from the demo
recording with the real pipeline."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import ROOT
from moderation_world import recording, verdict
from sqlmodel import Session, select
from typer.testing import CliRunner
from web_client import client_for, login

from pinocchio.cli import app
from pinocchio.core.settings import Settings
from pinocchio.moderation.cases import review_queue
from pinocchio.moderation.penalties import list_penalties
from pinocchio.moderation.reports import list_reports
from pinocchio.moderation.reviewers import verify_reviewer
from pinocchio.store import open_store, tables
from pinocchio.store.projections import EvidenceClip
from pinocchio.web import demo

runner = CliRunner()


def test_serve_has_help_and_is_documented():
    result = runner.invoke(app, ["serve", "--help"])
    assert result.exit_code == 0 and "--demo" in result.output
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "pinocchio serve --demo" in readme and "PINOCCHIO_API_KEYS" in readme


def test_demo_refuses_a_database_that_is_not_a_demo_and_leaves_it_alone(tmp_path):
    path = tmp_path / "real.db"
    with Session(open_store(str(path))) as session:
        recording(session, verdicts=[verdict(0, 2, "review", "medical_claim")])
        session.commit()
    before = path.read_bytes()
    result = runner.invoke(app, ["serve", "--demo", "--db", str(path)])
    assert result.exit_code == 2 and "is not a demo database" in result.output
    assert path.read_bytes() == before and not list(tmp_path.glob("*.part"))


def test_demo_refuses_a_database_server(tmp_path):
    result = runner.invoke(app, ["serve", "--demo", "--db", "postgresql://localhost/pinocchio"])
    assert result.exit_code == 2 and "builds a SQLite file" in result.output


@pytest.fixture(scope="module")
def demo_settings(tmp_path_factory):
    folder = tmp_path_factory.mktemp("demo")
    return demo.prepare_demo(Settings(), str(folder / "demo.db"))


@pytest.mark.slow
def test_the_demo_database_has_the_whole_flow_in_it(demo_settings):
    engine = open_store(demo_settings.db_url)
    with Session(engine) as session:
        stream = session.exec(select(tables.Stream)).one()
        assert (stream.name, stream.streamer_id) == (demo.STREAM_NAME, demo.STREAMER)
        for account in demo.ACCOUNTS:
            assert verify_reviewer(session, name=account.name, password=account.password).role == account.role
        reports = {(r.reporter_id, r.at_s): r for r in list_reports(session)}
        assert len(reports) == 7  # eight rows in the seeds, one folded
        assert reports[("viewer_7719", 63.0)].duplicates == 1
        assert reports[("viewer_5120", 96.0)].credibility == pytest.approx(2 / 3)  # their earlier report was confirmed
        assert reports[("viewer_2231", 18.5)].credibility == 0.5
        warning, = list_penalties(session, streamer_id=demo.STREAMER)
        assert warning.kind == "warning"
        queue = review_queue(session)
        assert {"medical_claim", "off_platform_trade"} <= {label for c in queue for label in c.found_labels}
        assert any(c.severity == 0 and c.report_count for c in queue)  # viewers flagged what the pipeline passed
        clips = set(session.exec(select(EvidenceClip.clip)).all())
        # The demo shop's facts checked the streamer's promises: three broken, the rest held.
        checks = session.exec(select(tables.PromiseCheckRow)).all()
        assert {c.facts for c in checks} == {"meimei-shop@1"}
        assert sorted(c.kind for c in checks if c.outcome == "contradicted") == ["guarantee", "reference_price", "stock"]
        assert {c.kind for c in checks if c.outcome == "honest"} >= {"stated_price", "guarantee", "shipping"}
    evidence = Path(demo_settings.db_url.removeprefix("sqlite:///")).parent / "evidence"
    assert clips and all((evidence / name).is_file() for name in clips)


@pytest.mark.slow
def test_the_demo_is_built_once_and_served(demo_settings):
    path = Path(demo_settings.db_url.removeprefix("sqlite:///"))
    stamp = path.stat().st_mtime_ns
    again = demo.prepare_demo(Settings(), str(path))
    assert again.db_url == demo_settings.db_url and path.stat().st_mtime_ns == stamp
    world = type("World", (), {"db_url": demo_settings.db_url, "evidence_dir": None})
    with client_for(world) as client:
        login(client, "demo", "demodemo")
        assert demo.STREAM_NAME in client.get("/queue").text
        # A viewer doubted 七天无理由 (the facts bear it out) and another reported 假一赔十 (they break it).
        engine = open_store(demo_settings.db_url)
        with Session(engine) as session:
            reports = {r.reporter_id: r for r in list_reports(session)}
            checked = {c.segment_id: c for c in session.exec(select(tables.PromiseCheckRow)).all()
                       if c.kind == "guarantee"}
        doubted, = [s for s in reports["viewer_6408"].segment_ids if s in checked]
        page = client.get(f"/cases/{doubted}").text
        assert "Promises checked" in page and "✓ holds" in page and "已开通 七天无理由退货" in page
        broken, = [s for s in reports["viewer_8830"].segment_ids if s in checked]
        page = client.get(f"/cases/{broken}").text
        assert "✗ false" in page and "breaks the fact: 美美优选 未开通 假一赔N" in page
