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
from pinocchio.web import create_app, demo

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


@pytest.mark.slow
def test_the_desk_shows_the_demo_s_figures_in_the_terminal_and_in_a_real_browser(demo_settings, tmp_path):
    """`pinocchio stats` and the dashboard on the demo database: the same figures; in Debian's
    chromium the charts are drawn (images decoded, and the screenshot of one holds many colours)."""
    import io
    import json
    import shutil
    import socket
    import subprocess
    import threading
    import time

    import uvicorn
    from matplotlib import image
    from playwright.sync_api import sync_playwright

    lines = [json.loads(x) for x in runner.invoke(app, ["stats", "--db", demo_settings.db_url, "-f", "jsonl"])
             .stdout.splitlines()]
    total = next(x for x in lines if x["day"] == "total" and "streams" in x)
    assert (total["streams"], total["reports"], total["reporters"], total["penalties_warning"]) == (1, 7, 6, 1)
    assert total["findings_medical_claim"] >= 2 and total["segments"] > 20
    table = runner.invoke(app, ["stats", "--db", demo_settings.db_url]).stdout
    assert "the desk since the start" in table and "warning 1" in table

    assert shutil.which("fc-list") and subprocess.run(["fc-list", ":lang=zh"], capture_output=True, text=True).stdout
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    app_ = create_app(demo_settings.with_overrides(secret_key="demo-browser", deadline_sweep_s=0))
    server = uvicorn.Server(uvicorn.Config(app_, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline
        time.sleep(0.05)
    base = f"http://127.0.0.1:{port}"
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1500, "height": 1200})
            refused = []
            page.on("console", lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None)
            page.goto(f"{base}/dashboard")
            page.fill("input[name=name]", "demo")
            page.fill("input[name=password]", "demodemo")
            page.press("input[name=password]", "Enter")
            page.wait_for_url(f"{base}/dashboard")
            assert "1</b> streams listened" in page.content() and "7</b> reports" in page.content()
            page.wait_for_function("[...document.querySelectorAll('img.chart')].every(i => i.complete && i.naturalWidth > 0)",
                                   timeout=20_000)
            assert page.locator("img.chart").count() == 5
            shot = page.locator("img.chart").nth(1).screenshot(path=str(tmp_path / "findings.png"))
            browser.close()
    finally:
        server.should_exit = True
        thread.join(timeout=10)
    pixels = image.imread(io.BytesIO(shot))
    colours = {tuple((px[:3] * 255).astype(int)) for row in pixels[::4] for px in row[::4]}
    assert len(colours) > 20, "the findings chart came out blank"
    assert refused == []
