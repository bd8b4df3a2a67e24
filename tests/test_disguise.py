"""Disguised spellings: resolved with their places kept, so a disguised claim keeps its label and
its finding points at the words said; the table ships in the package and is made by a script from
word-level facts; `eval --pairs` measures how many claims keep their labels disguised."""

from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import ROOT
from typer.testing import CliRunner

from pinocchio.cli import app
from pinocchio.core.errors import LexiconError
from pinocchio.core.settings import Settings
from pinocchio.listen.disguise import Disguises, load_disguises, masked_spellings
from pinocchio.listen.pipeline import Pipeline
from pinocchio.training.evaluate import DisguisedPair, pairs_report, read_pairs

TABLE = Disguises({"小糖人": "糖尿病患者", "去什么斑": "祛斑", "心灵之窗": "眼睛"})


def test_resolving_keeps_where_every_character_came_from():
    resolved = TABLE.resolve("我们小糖人去什么斑")
    assert resolved.text == "我们糖尿病患者祛斑"
    assert resolved.said_span(2, 7) == (2, 5) and resolved.said_span(7, 9) == (5, 9)
    assert resolved.said_span(0, 2) == (0, 2)
    assert resolved.touches_disguise(2, 4) and not resolved.touches_disguise(0, 2)
    assert TABLE.resolve("没有伪装").text == "没有伪装"


def test_a_spelling_said_with_one_character_masked_is_known_unless_two_spellings_share_the_mask():
    masked = masked_spellings(["白内障", "降血压", "降血脂", "减肥药", "治疗", "go有效"])
    assert masked["白某障"] == "白内障" and "某内障" not in masked and "白内某" not in masked  # inner characters only
    assert "降血某" not in masked  # 降血压 or 降血脂: says nothing for sure
    assert masked["降某压"] == "降血压"
    assert not any(len(k) < 3 for k in masked)  # two characters with one masked would be a guess
    table = TABLE.with_masked(["白内障", "没有之一"])
    assert table.resolve("有白某障的").text == "有白内障的" and table.resolve("小糖人").text == "糖尿病患者"
    assert table.resolve("没有某一某来").text == "没有某一某来"  # 某 beside it: another word is masked there


def test_the_pipeline_reads_a_masked_lexicon_spelling_as_the_spelling(lexicon_only):
    said = lexicon_only.check_text("这个喝了能降某压")
    found, = [f for f in said.findings if f.label == "medical_claim"]
    assert (found.match_kind, found.matched, found.term) == ("disguise", "降某压", "降血压")


@pytest.fixture(scope="module")
def lexicon_only():
    return Pipeline(Settings(classifier="none"))


def test_a_disguised_claim_keeps_its_label_and_points_at_the_words_said(lexicon_only):
    plain = lexicon_only.check_text("喝了对白内障好")
    disguised = lexicon_only.check_text("喝了对白抹光好")  # 白抹光: a disguise of 白内障 in the table
    assert "medical_claim" in plain.labels and disguised.labels == plain.labels
    found, = [f for f in disguised.findings if f.label == "medical_claim"]
    assert (found.match_kind, found.matched, found.span, found.term) == ("disguise", "白抹光", (3, 6), "白内障")


def test_the_shipped_table_names_its_source_and_loads():
    path = Settings().disguises_path
    text = path.read_text(encoding="utf-8")
    assert "loopback00/Morph-Resolution-Datasets-and-Methods" in text and "HealthAMR_train.tsv" in text
    table = load_disguises(path)
    assert len(table.pairs) >= 200 and table.pairs["心灵之窗"] == "眼睛"
    assert all(len(said) >= 2 for said in table.pairs)


def test_the_table_is_made_again_by_its_script(tmp_path):
    """From the word-level facts of HealthAMR_train.tsv (beside the checkout), the same table."""
    shipped = Settings().disguises_path.read_bytes()
    subprocess.run([sys.executable, str(ROOT / "scripts" / "derive_disguises.py")], check=True, capture_output=True)
    assert Settings().disguises_path.read_bytes() == shipped


def test_a_broken_table_names_file_and_line(tmp_path):
    path = tmp_path / "d.yaml"
    path.write_text('disguises:\n  - {said: "小糖人", means: "糖尿病患者"}\n  - {said: "x"}\n', encoding="utf-8")
    with pytest.raises(LexiconError, match=rf"^{path}:3: an entry needs said and means"):
        load_disguises(path)


def test_pairs_count_the_claims_that_keep_their_labels(lexicon_only, tmp_path):
    pairs = [DisguisedPair(1, "这个可以去什么斑", "这个可以祛斑"), DisguisedPair(2, "这个茶能制糖尿病", "这个茶能治糖尿病"),
             DisguisedPair(3, "宝宝们晚上号", "宝宝们晚上好")]
    report = pairs_report(lexicon_only, pairs)
    assert (report.pairs, report.flagged) == (3, 2) and report.kept == 2 and report.kept_share == 1.0
    path = tmp_path / "pairs.tsv"
    path.write_text("这个可以去什么斑\t这个可以祛斑\t结构变体词\tx\n一样\t一样\t无\t\n", encoding="utf-8")
    assert read_pairs(path) == [DisguisedPair(1, "这个可以去什么斑", "这个可以祛斑")]
    result = CliRunner().invoke(app, ["eval", "--pairs", str(path), "--classifier", "none"])
    assert result.exit_code == 0 and "1 pairs with a disguised word; 1 flagged" in result.output
