"""Calibration on real speech: the reliability of classifier-only findings, the score from which
they may stand alone, the card and the diagram it writes, and the detector honouring it."""

from __future__ import annotations

import json
import shutil

import pytest
from test_eval_set import LINES
from typer.testing import CliRunner

from pinocchio.cli import app
from pinocchio.core.records import Finding, FindingSource, MatchKind, Segment
from pinocchio.core.settings import Settings
from pinocchio.listen.classify import SHIPPED_MODEL, read_card
from pinocchio.listen.detect import DetectOptions, Detector
from pinocchio.listen.lexicon import Matcher, load_lexicon
from pinocchio.training.calibrate import NEVER, ScoredFinding, calibrate, save

runner = CliRunner()


def findings(*rows):
    return [ScoredFinding(label, score, correct, backed) for label, score, correct, backed in rows]


def test_the_cut_off_is_where_classifier_only_findings_reach_the_target():
    found = findings(*[("medical_claim", 0.99, True, False)] * 5, ("medical_claim", 0.97, True, False),
                     ("price_deception", 0.93, False, False), ("price_deception", 0.91, True, False),
                     ("fake_scarcity", 0.85, False, False), ("fake_scarcity", 0.84, False, False),
                     ("fake_scarcity", 0.96, False, True))  # backed: counted apart
    # classifier-only, from the top: from 0.91 up 7 right of 8; from 0.85, 7 of 9; from 0.84, 7 of 10
    assert calibrate(found, "set tune", 40, target=0.7).stand_alone == 0.84
    result = calibrate(found, "set tune", 40, target=0.8)
    assert result.stand_alone == 0.91
    assert (result.backed, result.backed_correct) == (1, 0)
    by_bin = {(b.low, b.findings, b.correct) for b in result.bins}
    assert (0.98, 5, 5) in by_bin and (0.8, 2, 0) in by_bin and (0.9, 2, 1) in by_bin


def test_too_few_or_too_poor_findings_never_stand_alone():
    assert calibrate(findings(("x", 0.99, True, False)), "s", 1).stand_alone == NEVER  # fewer than 5
    assert calibrate(findings(*[("x", 0.95, False, False)] * 9), "s", 9).stand_alone == NEVER


def test_each_label_stands_alone_from_where_enough_of_its_own_findings_were_right():
    found = findings(("medical_claim", 0.61, False, False), ("medical_claim", 0.63, False, False),
                     *[("medical_claim", s, True, False) for s in (0.7, 0.72, 0.81, 0.85, 0.9)],  # from 0.65: 5 of 5
                     *[("price_deception", s, False, False) for s in (0.66, 0.91, 0.97)],  # wrong at every score
                     ("staged_hype", 0.72, True, False),  # right, but one finding says too little
                     ("fake_scarcity", 0.99, True, True))  # backed: no bearing on where it stands alone
    result = calibrate(found, "set tune", 50, target=0.8)  # from 0.60: 5 of 7
    cuts = result.stand_alone_by_label
    assert cuts["medical_claim"] == 0.65 and result.by_label_findings["medical_claim"] == (5, 5)
    assert cuts["price_deception"] == NEVER and cuts["staged_hype"] == NEVER
    assert result.by_label_findings["price_deception"] == (3, 0)  # what it showed from the floor
    assert cuts["fake_scarcity"] == NEVER and cuts["superstition"] == NEVER  # never raised alone: nothing to go by
    assert result.precision_above[0] == (0.61, 11, round(6 / 11, 4))  # all labels together, from the lowest


def test_the_detector_holds_each_label_to_its_own_cut_off():
    matcher = Matcher(load_lexicon(Settings().lexicon_dir))

    class Scorer:
        name = "fixed"

        def findings(self, segments):
            return [[Finding(FindingSource.CLASSIFIER, label, 2, "a", (0, len(s.text)), matched=s.text,
                             match_kind=MatchKind.MODEL, score=0.8) for label in ("medical_claim", "staged_hype")]
                    for s in segments]

        def thresholds(self):
            return {"medical_claim": 0.5, "staged_hype": 0.5}

    options = DetectOptions(stand_alone_score=NEVER, stand_alone_by_label=(("medical_claim", 0.9), ("staged_hype", 0.7)))
    verdict = next(Detector(matcher, [Scorer()], options).verdicts([Segment(0, 1, "喝了这个身体好", ())]))
    assert verdict.labels == ("staged_hype",)


def test_save_writes_the_card_and_draws_the_diagram(tmp_path):
    model = tmp_path / "model"
    shutil.copytree(SHIPPED_MODEL, model)
    result = calibrate(findings(*[("medical_claim", 0.96, True, False)] * 6), "dev.jsonl tune", 30)
    picture = save(result, model)
    assert picture == model / "reliability.png" and picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    card = json.loads((model / "pinocchio.json").read_text(encoding="utf-8"))
    assert card["calibration"]["stand_alone"] == 0.96 and card["calibration"]["set_name"] == "dev.jsonl tune"
    assert read_card(model).stand_alone == 0.96
    assert read_card(model).stand_alone_by_label["medical_claim"] == 0.6  # 6 of 6 right from the floor
    readme = (model / "README.md").read_text(encoding="utf-8")
    assert readme.count("## Calibration on real speech") == 1 and "from a score of 0.9600" in readme
    save(result, model)  # again: the section is replaced, not repeated
    assert (model / "README.md").read_text(encoding="utf-8").count("## Calibration on real speech") == 1


def test_the_detector_drops_classifier_only_findings_below_the_cut_off():
    matcher = Matcher(load_lexicon(Settings().lexicon_dir))

    class Scorer:
        name = "fixed"

        def findings(self, segments):
            return [[Finding(FindingSource.CLASSIFIER, "medical_claim", 3, "a", (0, len(s.text)), matched=s.text,
                             match_kind=MatchKind.MODEL, score=0.9)] for s in segments]

        def thresholds(self):
            return {"medical_claim": 0.5}

    alone, backed = Segment(0, 1, "喝了这个身体好", ()), Segment(1, 2, "这个茶能治糖尿病", ())
    strict = Detector(matcher, [Scorer()], DetectOptions(stand_alone_score=0.95))
    assert [v.labels for v in strict.verdicts([alone, backed])] == [(), ("medical_claim",)]
    backed_verdict = next(strict.verdicts([backed]))
    assert {str(f.source) for f in backed_verdict.findings} == {"lexicon", "classifier"}  # kept when backed
    lenient = Detector(matcher, [Scorer()], DetectOptions(stand_alone_score=0.5))
    assert next(lenient.verdicts([alone])).labels == ("medical_claim",)


def test_the_command_prints_the_reliability_and_writes_the_card(tmp_path):
    labelled = tmp_path / "set.jsonl"
    labelled.write_text("\n".join(json.dumps(x, ensure_ascii=False) for x in LINES) + "\n", encoding="utf-8")
    model = tmp_path / "model"
    shutil.copytree(SHIPPED_MODEL, model)
    result = runner.invoke(app, ["calibrate", "--set", str(labelled), "--split", "tune", "--classifier", str(model)])
    assert result.exit_code == 0, result.output
    assert "reach the target precision" in result.output and (model / "reliability.png").is_file()
    assert "medical_claim" in result.output and "stands alone" in result.output
    assert "calibration" in json.loads((model / "pinocchio.json").read_text(encoding="utf-8"))
    missing = runner.invoke(app, ["calibrate", "--set", str(labelled), "--split", "nope", "--classifier", str(model)])
    assert missing.exit_code == 2 and "no lines in split 'nope'" in missing.output


@pytest.mark.parametrize("args", [["--classifier", "none"]])
def test_calibrating_needs_a_classifier(tmp_path, args):
    labelled = tmp_path / "set.jsonl"
    labelled.write_text(json.dumps(LINES[0], ensure_ascii=False) + "\n", encoding="utf-8")
    result = runner.invoke(app, ["calibrate", "--set", str(labelled), *args])
    assert result.exit_code == 2 and "needs a classifier" in result.output


def test_a_finding_standing_alone_on_its_label_alone_goes_to_a_reviewer(tmp_path):
    """Passing its label's stand-alone score lets a classifier-only finding reach the review queue;
    only a score where all such findings together were precise on real speech reminds at once."""
    from pinocchio.listen.pipeline import Pipeline

    model = tmp_path / "model"
    shutil.copytree(SHIPPED_MODEL, model)
    card = json.loads((model / "pinocchio.json").read_text(encoding="utf-8"))
    text = "咱还有最后"  # a cut-off fragment the classifier alone reads as fake_scarcity

    def action(global_cut: float) -> tuple[str, tuple[str, ...]]:
        card["calibration"]["stand_alone"] = global_cut
        card["confident"] = 0.5  # the training's own notion of sure, out of the way
        card["calibration"]["stand_alone_by_label"] = {label: 0.6 for label in card["labels"]}
        (model / "pinocchio.json").write_text(json.dumps(card, ensure_ascii=False), encoding="utf-8")
        verdict = Pipeline(Settings(classifier=str(model))).check_text(text)
        assert {f.source for f in verdict.findings} == {"classifier"}
        return verdict.action, verdict.labels

    assert action(NEVER) == ("review", ("fake_scarcity",))
    assert action(0.5) == ("remind", ("fake_scarcity",))
