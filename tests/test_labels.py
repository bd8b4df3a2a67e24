"""One label table (pinocchio/data/labels.yaml) that the lexicons, the classifier's card and the
ladder agree with."""

from __future__ import annotations

import json

import pytest

from pinocchio.core.errors import ConfigError, InputError
from pinocchio.core.labels import LABELS, check_label, label_table
from pinocchio.core.settings import Settings
from pinocchio.core.yaml_file import read_yaml
from pinocchio.listen.classify import SHIPPED_MODEL, read_card
from pinocchio.listen.lexicon import load_lexicon
from pinocchio.moderation.ladder import load_ladder


def test_the_table_has_every_label_once():
    table = label_table()
    assert tuple(table) == LABELS
    assert all(rule.article and rule.severity in (1, 2, 3) and rule.description for rule in table.values())


def test_each_lexicon_file_is_a_label_of_the_table_and_defaults_to_its_article():
    table = label_table()
    lexicons = Settings().lexicon_dir
    files = sorted(lexicons.glob("*.yaml"))
    assert [p.stem for p in files] == sorted(LABELS)
    for path in files:
        data = read_yaml(path).data
        assert data["label"] == path.stem
        assert data["default_article"] == table[path.stem].article, path
    assert {e.label for e in load_lexicon(lexicons).entries} == set(LABELS)


def test_the_shipped_classifier_card_carries_the_table():
    card = read_card(SHIPPED_MODEL)
    table = label_table()
    assert set(card.labels) == set(LABELS)
    for label in LABELS:
        assert (card.rules[label].severity, card.rules[label].article) == (table[label].severity,
                                                                           table[label].article), label
    saved = json.loads((SHIPPED_MODEL / "config.json").read_text(encoding="utf-8"))
    assert set(saved["id2label"].values()) == set(LABELS)


def test_the_ladder_prices_only_labels_of_the_table():
    ladder = load_ladder(Settings().ladder_path)
    assert {label for label, _ in ladder.label_points} <= set(LABELS)
    assert {s for s, _ in ladder.points_by_severity} == {rule.severity for rule in label_table().values()} | {1, 2, 3}


def test_an_unknown_label_is_named_with_the_choices():
    with pytest.raises(InputError, match="label 'lying' is not one of: absolute_claim, medical_claim"):
        check_label("lying")


def test_a_broken_table_names_file_and_line(tmp_path):
    bad = tmp_path / "labels.yaml"
    text = (Settings().ladder_path.parent / "labels.yaml").read_text(encoding="utf-8")
    bad.write_text(text.replace("  severity: 3\n", "  severity: 7\n", 1), encoding="utf-8")
    with pytest.raises(ConfigError, match=rf"{bad}:\d+: severity of medical_claim must be 1, 2 or 3, not 7"):
        label_table(bad)
