"""The penalty ladder: its numbers, and its file's errors with their exact lines."""

from datetime import datetime, timedelta, timezone

import pytest

from pinocchio.ladder import label_rules, load_ladder
from pinocchio.moderation_errors import LadderError

T0 = datetime(2025, 6, 1, 12, 0, tzinfo=timezone.utc)


def test_shipped_ladder_points_and_steps():
    ladder = load_ladder()
    assert ladder.version == "1" and ladder.strike_expiry_days == 90
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


def test_bans_grow_up_the_shipped_ladder():
    bans = [s.hours for s in load_ladder().steps if s.penalty == "ban"]
    assert bans == sorted(bans) and len(set(bans)) == len(bans)


def test_label_rules_come_from_seeds():
    rules = label_rules()
    assert rules["medical_claim"].severity == 3 and rules["medical_claim"].article == "广告法第十七条"
    assert rules["fake_scarcity"].severity == 1


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
