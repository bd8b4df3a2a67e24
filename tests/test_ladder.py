"""The penalty ladder: its logic on the tests' own ladder (tests/data/ladder.yaml), the shipped
ladder as data only, and a ladder file's errors with their exact lines."""

from datetime import datetime, timedelta, timezone

import pytest
from conftest import TEST_LADDER

from pinocchio.core.errors import LadderError
from pinocchio.core.labels import LABELS
from pinocchio.core.settings import Settings, package_data
from pinocchio.moderation.ladder import PENALTIES, load_ladder

T0 = datetime(2025, 6, 1, 12, 0, tzinfo=timezone.utc)


def test_points_and_steps():
    ladder = load_ladder(TEST_LADDER)
    assert ladder.version == "test-1" and ladder.strike_expiry_days == 90
    assert ladder.points_for("medical_claim", 3) == 4
    assert ladder.points_for("fake_scarcity", 1) == 1
    assert ladder.points_for("absolute_claim", 2) == 2
    assert ladder.points_for("off_platform_trade", 3) == 5  # the label's own price beats its severity
    assert ladder.penalty_for(0, T0) is None
    warning = ladder.penalty_for(3, T0)
    assert (warning.kind, warning.step, warning.ends_at) == ("warning", 1, T0)
    ban = ladder.penalty_for(9, T0)
    assert (ban.kind, ban.step, ban.points, ban.ends_at) == ("ban", 8, 9, T0 + timedelta(hours=72))
    assert ladder.penalty_for(12, T0).ends_at == T0 + timedelta(days=7)
    forever = ladder.penalty_for(40, T0)
    assert (forever.kind, forever.ends_at) == ("permanent_ban", None)
    assert ladder.strike_expires_at(T0) == T0 + timedelta(days=90)


def test_the_shipped_ladder_is_a_valid_policy():
    """Data, not logic: it loads, every label it prices is in the taxonomy, its steps climb from a
    warning to a permanent ban and its bans grow. Its numbers are policy's to change."""
    shipped = package_data("ladder.yaml")
    assert Settings().ladder_path == shipped
    ladder = load_ladder(shipped)
    assert {label for label, _ in ladder.label_points} <= set(LABELS)
    assert ladder.steps[0].penalty == "warning" and ladder.steps[-1].penalty == "permanent_ban"
    assert all(step.penalty in PENALTIES for step in ladder.steps)
    bans = [s.hours for s in ladder.steps if s.penalty == "ban"]
    assert bans == sorted(bans) and len(set(bans)) == len(bans)


def test_the_setting_names_the_ladder(monkeypatch, tmp_path):
    monkeypatch.setenv("PINOCCHIO_LADDER", str(TEST_LADDER))
    assert load_ladder().version == "test-1"


GOOD = """version: 2
strike_expiry_days: 30
points_by_severity: {1: 1, 2: 2, 3: 3}
steps:
  - at: 1
    penalty: warning
  - at: 3
    penalty: ban
    hours: 12
"""


@pytest.mark.parametrize("text, where, message", [
    (GOOD.replace("    hours: 12", "    hours: 0"), 7, "a ban needs hours > 0"),
    (GOOD.replace("  - at: 3", "  - at: 1"), 7, "steps must climb: at 1 is not above 1"),
    (GOOD.replace("penalty: warning", "penalty: caning"), 5, "penalty 'caning' is not one of"),
    (GOOD + "colour: red\n", 10, "unknown key 'colour'"),
    (GOOD.replace("{1: 1, 2: 2, 3: 3}", "{1: 1, 2: 2}"), 3, "severities 1, 2 and 3"),
    (GOOD + "label_points: {lying: 3}\n", 10, "label 'lying' is not one of"),
    (GOOD + "  - at: 5\n    penalty: ban\n    hours: 6\n", 10, "bans must grow longer"),
    (GOOD.replace("version: 2\n", ""), 1, "version is missing"),
    ("version: 1\nsteps: [\n", 3, "YAML syntax error"),
])
def test_broken_ladders_name_file_and_line(tmp_path, text, where, message):
    path = tmp_path / "ladder.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(LadderError) as caught:
        load_ladder(path)
    assert str(caught.value).startswith(f"{path}:{where}: ") and message in str(caught.value)


def test_a_good_custom_ladder_loads(tmp_path):
    path = tmp_path / "ladder.yaml"
    path.write_text(GOOD, encoding="utf-8")
    ladder = load_ladder(path)
    assert ladder.version == "2" and ladder.points_for("medical_claim", 3) == 3
    assert ladder.penalty_for(3, T0).ends_at == T0 + timedelta(hours=12)
