"""What the claim classifier's scores mean on real speech, and where its findings may stand alone.

A model trained on written lines is confident on streams it never saw: a score of 0.95 on real
speech is not 95 % precision. `calibrate` reads a labelled set of real sentences (its `tune` split),
and for every label the classifier scores over its threshold records whether the label was right;
findings that a lexicon hit of the same label backs are counted apart, since the detector keeps
those anyway. From the classifier-only findings it draws the reliability of the scores (observed
precision per score bin, and the precision of all findings at or above each score) and picks
`stand_alone`: the lowest score from which classifier-only findings reach the target precision,
and, per label, `stand_alone_by_label`: the lowest score (never below LABEL_FLOOR) from which that
label's classifier-only findings on the set, at least MIN_FINDINGS of them, were right at least the
target share of the time. The detector drops classifier-only findings below their label's score
(the global one where a card has no per-label ones). The result is written into the model
directory's `pinocchio.json` (`calibration`) and drawn as `reliability.png` beside it."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from pinocchio.core.errors import ModelError
from pinocchio.core.labels import LABELS
from pinocchio.listen.classify import SETTINGS_FILE
from pinocchio.listen.pipeline import Pipeline
from pinocchio.training.evaluate import LabelledLine

BIN_EDGES = (0.5, 0.7, 0.8, 0.9, 0.95, 0.98, 1.0001)
TARGET_PRECISION = 0.7
MIN_FINDINGS = 5  # a cut-off is only chosen where at least this many findings stand above it
NEVER = 1.01  # no classifier-only finding stands alone
# Per label, the scores tried from the bottom up; below 0.6 a score says too little, whatever a small
# set shows. A label needs MIN_FINDINGS of its own there: "none were raised on the tune half" was
# tried as leave to stand alone and flagged 好了 and 咱还有最后 on the demo and 7 unseen real
# sentences, all wrong.
LABEL_GRID = (0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95)
LABEL_FLOOR = LABEL_GRID[0]


@dataclass(frozen=True)
class ScoredFinding:
    label: str
    score: float
    correct: bool
    backed: bool  # a lexicon finding of the same label in the same sentence


@dataclass(frozen=True)
class ReliabilityBin:
    low: float
    high: float
    findings: int
    correct: int

    @property
    def precision(self) -> float | None:
        return self.correct / self.findings if self.findings else None


@dataclass(frozen=True)
class Calibration:
    set_name: str
    sentences: int
    stand_alone: float  # classifier-only findings below this score are dropped
    target_precision: float
    bins: tuple[ReliabilityBin, ...]  # classifier-only findings by score
    precision_above: tuple[tuple[float, int, float], ...]  # (score, findings at or above, their precision)
    backed: int  # findings a lexicon hit of the same label backs (kept whatever their score)
    backed_correct: int
    # label -> the score from which its classifier-only findings stand alone (NEVER: none do)
    stand_alone_by_label: dict[str, float] = field(default_factory=dict)
    # label -> (classifier-only findings at or above its score, or above LABEL_FLOOR where it has
    # none, right) on the set
    by_label_findings: dict[str, tuple[int, int]] = field(default_factory=dict)

    def as_json(self) -> dict:
        found = asdict(self)
        found["bins"] = [asdict(b) | {"precision": b.precision} for b in self.bins]
        return found


def scored_findings(pipeline: Pipeline, items: list[LabelledLine]) -> list[ScoredFinding]:
    """Every classifier finding on the items (sure ones only), and whether its label was right."""
    sure = [i for i in items if not i.unsure]
    found = []
    for item, verdict in zip(sure, pipeline.check_lines(i.text for i in sure)):
        lexicon = {f.label for f in verdict.findings if f.source == "lexicon"}
        for f in verdict.findings:
            if f.source == "classifier":
                found.append(ScoredFinding(f.label, f.score, f.label in item.labels, f.label in lexicon))
    return found


def calibrate(findings: list[ScoredFinding], set_name: str, sentences: int,
              target: float = TARGET_PRECISION) -> Calibration:
    alone = sorted((f for f in findings if not f.backed), key=lambda f: f.score)
    bins = tuple(ReliabilityBin(lo, hi, sum(lo <= f.score < hi for f in alone),
                                sum(lo <= f.score < hi and f.correct for f in alone))
                 for lo, hi in zip(BIN_EDGES, BIN_EDGES[1:]))
    above = []
    for i, f in enumerate(alone):
        rest = alone[i:]
        above.append((round(f.score, 4), len(rest), round(sum(x.correct for x in rest) / len(rest), 4)))
    qualifying = [score for score, n, precision in above if n >= MIN_FINDINGS and precision >= target]
    backed = [f for f in findings if f.backed]
    by_label, counts = {}, {}
    for label in LABELS:
        mine = [f for f in alone if f.label == label]
        floor = [f for f in mine if f.score >= LABEL_FLOOR]  # what a label that never stands alone showed
        by_label[label], counts[label] = NEVER, (len(floor), sum(f.correct for f in floor))
        for cut in LABEL_GRID:
            standing = [f for f in mine if f.score >= cut]
            right = sum(f.correct for f in standing)
            if len(standing) >= MIN_FINDINGS and right / len(standing) >= target:
                by_label[label], counts[label] = cut, (len(standing), right)
                break
    return Calibration(set_name=set_name, sentences=sentences, stand_alone=min(qualifying, default=NEVER),
                       target_precision=target, bins=bins, precision_above=tuple(above), backed=len(backed),
                       backed_correct=sum(f.correct for f in backed), stand_alone_by_label=by_label,
                       by_label_findings=counts)


def save(calibration: Calibration, model_dir: Path) -> Path:
    """Write the calibration into the card and draw the reliability diagram beside it."""
    card_path = model_dir / SETTINGS_FILE
    try:
        card = json.loads(card_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelError(f"{card_path}: cannot read the classifier's card ({exc})") from None
    card["calibration"] = calibration.as_json()
    card_path.write_text(json.dumps(card, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    _describe(calibration, model_dir / "README.md")
    return draw(calibration, model_dir / "reliability.png")


MARK_START, MARK_END = "<!-- calibration -->", "<!-- /calibration -->"


def stands_from(cut: float, digits: int = 2, lead: str = "from ", never: str = "never") -> str:
    """Where findings start to stand alone, in words: `never` when no score reached the target."""
    return never if cut >= NEVER else f"{lead}{cut:.{digits}f}"


def _describe(calibration: Calibration, readme: Path) -> None:
    """The model card's section on calibration, replaced in place on every run."""
    rows = "\n".join(f"| {b.low:.2f}–{min(b.high, 1.0):.2f} | {b.findings} | {b.correct} | "
                     f"{'—' if b.precision is None else f'{b.precision:.2f}'} |" for b in calibration.bins)
    label_rows = "\n".join(
        f"| {label} | {stands_from(cut, lead='')} | {calibration.by_label_findings.get(label, (0, 0))[0]} | "
        f"{calibration.by_label_findings.get(label, (0, 0))[1]} |" for label, cut in calibration.stand_alone_by_label.items())
    stands = stands_from(calibration.stand_alone, digits=4, lead="from a score of ",
                         never="never: no score reached the target")
    section = f"""{MARK_START}
## Calibration on real speech

`pinocchio calibrate` on {calibration.set_name} ({calibration.sentences} sure sentences): findings that a
lexicon hit of the same label backs ({calibration.backed}, {calibration.backed_correct} right) are kept
whatever their score. Taken together, the findings the classifier makes alone reach the target precision
({calibration.target_precision:.2f}) {stands}. Observed precision of those findings by score
(`reliability.png`):

| score | findings | right | precision |
|---|---|---|---|
{rows}

Per label, a classifier-only finding stands alone from the lowest score (at least {LABEL_FLOOR:.2f}) from
which that label's classifier-only findings on the set, at least {MIN_FINDINGS} of them, were right at least
{calibration.target_precision:.0%} of the time; the detector uses these:

| label | stands alone from | findings there (from {LABEL_FLOOR:.2f} where never) | right |
|---|---|---|---|
{label_rows}
{MARK_END}"""
    text = readme.read_text(encoding="utf-8") if readme.is_file() else ""
    if MARK_START in text and MARK_END in text:
        before, rest = text.split(MARK_START, 1)
        text = before + section + rest.split(MARK_END, 1)[1]
    else:
        text = text.rstrip() + "\n\n" + section + "\n"
    readme.write_text(text, encoding="utf-8")


def draw(calibration: Calibration, path: Path) -> Path:
    """Predicted score against observed precision, per bin, with the counts; the cut-off marked."""
    try:
        import matplotlib

        matplotlib.use("Agg")  # files only, no screen
        import matplotlib.pyplot as plt
    except ImportError:
        raise ModelError("drawing the reliability diagram needs matplotlib: pip install 'pinocchio[train]'") from None
    shown = [b for b in calibration.bins if b.findings]
    fig, ax = plt.subplots(figsize=(5.5, 4.5), dpi=110)
    ax.plot([0.5, 1.0], [0.5, 1.0], linestyle="--", color="grey", label="calibrated")
    ax.plot([(b.low + min(b.high, 1.0)) / 2 for b in shown], [b.precision for b in shown], marker="o",
            label="classifier-only findings")
    for b in shown:
        ax.annotate(str(b.findings), ((b.low + min(b.high, 1.0)) / 2, b.precision), textcoords="offset points",
                    xytext=(0, 6), ha="center", fontsize=8)
    if calibration.stand_alone < NEVER:
        ax.axvline(calibration.stand_alone, color="tab:red", linewidth=1,
                   label=f"stands alone from {calibration.stand_alone:.2f}")
    ax.set(xlim=(0.5, 1.0), ylim=(0.0, 1.05), xlabel="classifier score", ylabel="observed precision",
           title=f"Reliability on {calibration.set_name} ({calibration.sentences} sentences)")
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
