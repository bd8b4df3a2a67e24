import shutil

import pytest

from pinocchio.core.errors import ConfigError
from pinocchio.core.labels import LABELS
from pinocchio.core.records import Finding, Segment, Verdict
from pinocchio.core.reminder_texts import load_templates
from pinocchio.core.settings import package_data
from pinocchio.live.reminders import Reminders

TEMPLATES = package_data("prompts", "reminders")


def verdict(start_s, label="medical_claim", action="review"):
    finding = Finding("lexicon", label, 3, "广告法第十七条", (4, 8), term="能治", matched="能治糖尿病", match_kind="literal")
    return Verdict(Segment(start_s, start_s + 2, "这个茶能治糖尿病", ()), (finding,), action)


def test_every_label_has_a_template_naming_the_rule():
    templates = load_templates(TEMPLATES)
    assert set(templates) == set(LABELS) | {"facts", "viewers"}
    message = Reminders(templates).for_verdict("room7", verdict(61.0))[0].message
    assert "能治糖尿病" in message and "广告法第十七条" in message


def test_a_repeated_claim_is_reminded_once_per_window():
    reminders = Reminders(load_templates(TEMPLATES), window_s=120)
    sent = [len(reminders.for_verdict("room7", verdict(t))) for t in (10, 50, 131, 140)]
    assert sent == [1, 0, 1, 0]
    assert len(reminders.for_verdict("room8", verdict(50))) == 1  # another stream is another streamer
    assert len(reminders.for_verdict("room7", verdict(60, label="superstition"))) == 1
    assert reminders.for_verdict("room7", verdict(300, action="pass")) == []


def test_a_missing_or_broken_template_names_its_file(tmp_path):
    shutil.copytree(TEMPLATES, tmp_path / "r")
    (tmp_path / "r" / "superstition.txt").write_text("请注意{colour}", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"superstition.txt: unknown field 'colour'"):
        load_templates(tmp_path / "r")
    (tmp_path / "r" / "superstition.txt").unlink()
    with pytest.raises(ConfigError, match=r"superstition.txt: missing reminder template"):
        load_templates(tmp_path / "r")


def test_a_broken_promise_is_reminded_with_the_fact_it_breaks():
    text = "翡翠手镯假一赔十"
    lexicon = Finding("lexicon", "false_endorsement", 2, "广告法第二十八条", (0, 2), matched="翡翠")
    facts = Finding("facts", "false_endorsement", 2, "电子商务法第十七条", (4, 8), term="guarantee_not_enrolled",
                    matched="假一赔十", match_kind="fact", fact="美美优选 未开通 假一赔N [meimei-shop@1]")
    remind, = Reminders(load_templates(TEMPLATES)).for_verdict("room7", Verdict(Segment(0, 2, text, ()),
                                                                               (lexicon, facts), "remind"))
    assert "“假一赔十”与店铺的真实资料不符：美美优选 未开通 假一赔N。" in remind.message
    assert "电子商务法第十七条" in remind.message and remind.article == "电子商务法第十七条"
    assert "meimei-shop@1" not in remind.message
