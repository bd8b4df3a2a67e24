"""`pinocchio eval --set`: detection measured on any labelled JSONL set of real sentences, with the
counts behind every figure, sure items apart from all, split by split, a confusion table and the
errors; a broken set names file:line."""

from __future__ import annotations

import json

import pytest
from conftest import ROOT
from typer.testing import CliRunner

from pinocchio.cli import app
from pinocchio.core.errors import InputError
from pinocchio.training.evaluate import Judged, LabelledLine, confusion, label_report, read_labelled_set, set_slices

runner = CliRunner()
DEV_SET = ROOT.parent / "shared" / "data" / "liveamr" / "dev.jsonl"  # read at run time, never copied
LINES = [  # our own sentences
    {"text": "这个茶能治糖尿病", "labels": ["medical_claim"], "split": "tune"},
    {"text": "加我薇信私下转账更便宜", "labels": ["off_platform_trade"], "split": "tune"},
    {"text": "宝宝们链接在小黄车里面", "labels": [], "split": "tune"},
    {"text": "最后一个问题我回答一下", "labels": [], "split": "report"},
    {"text": "老板不同意这个价我偷偷给你们上", "labels": ["staged_hype"], "split": "report", "unsure": True},
    {"text": "我们家是全网最低价", "labels": ["absolute_claim", "price_deception"], "split": "report"},
]


@pytest.fixture
def labelled(tmp_path):
    path = tmp_path / "set.jsonl"
    path.write_text("\n".join(json.dumps(x, ensure_ascii=False) for x in LINES) + "\n", encoding="utf-8")
    return path


def test_micro_and_macro_f1_come_with_their_counts():
    gold = [{"a"}, {"a", "b"}, set(), set()]
    predicted = [{"a"}, {"a"}, {"b"}, set()]
    report = label_report(gold, predicted, ["a", "b", "c"])
    assert (report.true_positives, report.predicted, report.support) == ({"a": 2, "b": 0, "c": 0},
                                                                         {"a": 2, "b": 1, "c": 0},
                                                                         {"a": 2, "b": 1, "c": 0})
    assert report.micro_f1 == pytest.approx(2 * 2 / (2 * 2 + 1 + 1))
    assert report.macro_f1 == pytest.approx((1.0 + 0.0) / 2)  # c has no gold positive: it says nothing
    assert (report.false_flags, report.compliant) == (1, 2)


def test_slices_are_per_split_and_sure_or_all(labelled):
    items = read_labelled_set(labelled)
    judged = [Judged(i, frozenset(i.labels) if i.split == "tune" else frozenset()) for i in items]
    names = [s.name for s in set_slices(judged)]
    assert names == ["report, sure items", "report, all items", "tune, sure items", "tune, all items",
                     "all splits, sure items", "all splits, all items"]
    report_sure = set_slices(judged)[0].report
    assert report_sure.total == 2 and report_sure.support["staged_hype"] == 0  # the unsure one is out
    assert set_slices(judged)[1].report.support["staged_hype"] == 1
    table = confusion(judged)
    assert table["compliant"] == {"nothing": 2} and table["medical_claim"] == {"medical_claim": 1}


def test_the_command_prints_every_slice_and_the_errors(labelled):
    result = runner.invoke(app, ["eval", "--set", str(labelled), "--errors", "10"])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "set.jsonl, report, sure items" in out and "set.jsonl, all splits, all items" in out
    assert "micro-F1" in out and "over the" in out and "compliant lines falsely flagged" in out
    assert "confusion (gold: what was flagged, lines):" in out
    wrong = [line for line in out.splitlines() if line.startswith(f"{labelled}:")]
    assert all("\tgold " in line and "\tgot " in line for line in wrong)
    assert not any(":5\t" in line for line in wrong)  # unsure items are not listed as errors


def test_only_one_split(labelled):
    result = runner.invoke(app, ["eval", "--set", str(labelled), "--split", "tune"])
    assert result.exit_code == 0 and "report," not in result.output and "tune, sure items" in result.output


@pytest.mark.parametrize("line, message", [
    ('{"text": "x"}', ":2: labels must be a list of label names"),
    ('{"labels": []}', ":2: text must be a non-empty string"),
    ("not json", ":2: not JSON"),
    ('{"text": "x", "labels": [], "unsure": "no"}', ":2: unsure must be true or false"),
])
def test_a_broken_set_names_file_and_line(tmp_path, line, message):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"text": "好的", "labels": []}\n' + line + "\n", encoding="utf-8")
    with pytest.raises(InputError, match=f"^{path}{message}"):
        read_labelled_set(path)
    result = runner.invoke(app, ["eval", "--set", str(path)])
    assert result.exit_code == 2 and f"error: {path}{message}" in result.output


def test_the_real_dev_set_is_read_at_run_time():
    """The liveamr dev set (../shared, beside every checkout) reads as a labelled set: 800 lines,
    400 to tune on and 400 to report."""
    items = read_labelled_set(DEV_SET)
    assert len(items) == 800 and {i.split for i in items} == {"tune", "report"}
    assert sum(not i.unsure for i in items) == 623
    assert isinstance(items[0], LabelledLine)


def test_eval_with_facts_says_what_the_shop_s_facts_added_and_took_back(tmp_path):
    """Lines of our own, read as said in the demo shop's stream: a false 假一赔十 is added on a
    line labelled compliant, 最后五单 keeps its flag (2,000 in stock), an honest 七天无理由 adds nothing."""
    path = tmp_path / "set.jsonl"
    lines = [("手镯支持假一赔十", []), ("支持七天无理由退货", []), ("最后五单了", ["fake_scarcity"]), ("家人们晚上好", [])]
    path.write_text("".join(json.dumps({"text": t, "labels": labels, "split": "tune"}, ensure_ascii=False) + "\n"
                            for t, labels in lines), encoding="utf-8")
    shop = ROOT / "fixtures" / "demo" / "shop.yaml"
    result = runner.invoke(app, ["eval", "--set", str(path), "--facts", str(shop), "--errors", "5"])
    assert result.exit_code == 0, result.output
    first = result.stdout.splitlines()[0]
    assert first == ("facts of shop.yaml, tune, sure items: compliant lines flagged 0/3 without the facts, "
                     "1/3 with them (1 added, 0 taken back)")
    assert "guarantee       honest 1, contradicted 1" in result.stdout and "stock           contradicted 1" in result.stdout
    assert "added\t1\tfalse_endorsement\t手镯支持假一赔十" in result.stdout
    missing = runner.invoke(app, ["eval", "--set", str(path), "--facts", str(shop), "--stream", "nowhere"])
    assert missing.exit_code == 2 and "no stream 'nowhere'" in missing.stderr


def test_on_real_speech_the_facts_of_an_honest_shop_add_no_flag(pipeline):
    """Real streamer sentences (read from the shared dev set at run time), checked as said in the
    stream of a shop that holds what honest streamers promise: no compliant line gains a flag, and
    the guarantees said there are found and checked honest."""
    from pinocchio.facts.catalog import file_stream_facts
    from pinocchio.facts.checker import FactChecker
    from pinocchio.facts.files import read_facts_file
    from pinocchio.training.evaluate import facts_effect, judge_set

    facts = file_stream_facts(read_facts_file(ROOT / "benchmarks" / "facts" / "honest_shop.yaml"))
    items = read_labelled_set(DEV_SET)
    plain = judge_set(pipeline, items)
    checked = judge_set(pipeline, items, lambda: FactChecker(lambda: facts))
    whole = facts_effect(plain, checked)[-1]
    assert whole.name == "all splits, sure items" and whole.compliant > 400
    assert whole.added == () and whole.flagged_with <= whole.flagged_without
    assert whole.outcomes[("guarantee", "honest")] >= 20 and whole.outcomes[("guarantee", "contradicted")] == 0


def test_the_default_detector_holds_the_issue_s_bars_on_the_report_half(pipeline):
    """The shipped lexicons and classifier, as a reviewer would meet them, on the dev set's report
    half (sure items; never tuned on): micro-F1 ≥ 0.70, F1 ≥ 0.70 on every label with at least 5
    gold positives there, and at most 3 % of compliant lines flagged. A lexicon change that costs
    real speech its figures fails here before it ships."""
    from pinocchio.training.evaluate import judge_set, set_slices

    items = [i for i in read_labelled_set(DEV_SET) if i.split == "report"]
    report = next(s for s in set_slices(judge_set(pipeline, items)) if s.name == "report, sure items").report
    assert report.micro_f1 >= 0.70, report
    assert report.false_flag_rate <= 0.03, report
    for label, gold in report.support.items():
        if gold >= 5:
            assert report.f1[label] >= 0.70, (label, report.f1[label], report.true_positives[label], gold)
