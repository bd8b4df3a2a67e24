from pathlib import Path

import pytest

from pinocchio.core.records import Finding, Segment
from pinocchio.core.settings import Settings
from pinocchio.listen.detect import DetectOptions, Detector, decide
from pinocchio.listen.lexicon import Matcher, load_lexicon

ROOT = Path(__file__).resolve().parent.parent


def finding(severity, label="absolute_claim", source="lexicon"):
    return Finding(source, label, severity, "广告法第九条第（三）项", (0, 2))


def test_actions_follow_severity():
    options = DetectOptions()
    assert decide([], options) == "pass"
    assert decide([finding(1), finding(2)], options) == "remind"
    assert decide([finding(2), finding(3)], options) == "review"
    assert decide([finding(2)], DetectOptions(review_severity=2)) == "review"


class FixedScorer:
    """A scorer that flags every segment mentioning 血糖: enough to show the detector merges sources."""

    name = "fixed-test-scorer"

    def findings(self, segments):
        return [[finding(3, "medical_claim", "classifier")] if "血糖" in s.text else [] for s in segments]

    def thresholds(self):
        return {"medical_claim": 0.5}


@pytest.fixture(scope="module")
def matcher():
    return Matcher(load_lexicon(Settings().lexicon_dir))


def test_scorer_findings_merge_with_lexicon_hits(matcher):
    detector = Detector(matcher, scorers=[FixedScorer()], options=DetectOptions(batch_size=2))
    segments = [Segment(0, 1, "吃了血糖就下来了", ()), Segment(1, 2, "全网最低价", ()), Segment(2, 3, "家人们晚上好", ())]
    verdicts = list(detector.verdicts(segments))
    assert [v.segment for v in verdicts] == segments
    assert [v.action for v in verdicts] == ["review", "remind", "pass"]
    assert "classifier" in {f.source for f in verdicts[0].findings}
    assert {f.source for f in verdicts[1].findings} == {"lexicon"}
    assert detector.provenance()["scorers"] == ["fixed-test-scorer"]
