"""Do reviewers' decisions teach the claim classifier? Decisions simulated from the real dev set's
`tune` half, measured on its `report` half, against the same training without them, in one run.

    .venv/bin/python benchmarks/decisions.py [--set ../shared/data/liveamr/dev.jsonl] [--epochs 14]

1. The tune half's sure lines are split by their id in two: 70 % become decided cases in a fresh
   store (a reviewer confirms the gold labels, or dismisses a compliant line: what the desk would
   have done), 30 % are kept to calibrate on.
2. Two models are trained with the same seed and options: the corpus alone, and the corpus plus
   `--decisions` from that store (`pinocchio train`).
3. Each is calibrated on the kept 30 % (`pinocchio calibrate`: where a classifier-only finding may
   stand alone) and measured on the report half's sure lines (`pinocchio eval --set`): the
   detector's figures, and the classifier's own — how well its scores rank the report half's gold
   labels (average precision per label with 3+ positives, over all line-label pairs, and over the
   pairs no lexicon hit covers, which is where a classifier could add to the lexicon).
`--reuse FOLDER` measures the two models an earlier run left in FOLDER instead of training them.
The dev set is read at run time and nothing of it is written into the project: the store, the
split file and both models live in a temporary folder. (Its rules of use: ../shared/data/liveamr.)
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEV_SET = ROOT.parent / "shared" / "data" / "liveamr" / "dev.jsonl"
PINOCCHIO = [sys.executable, "-m", "pinocchio"]


def part(line_id: str) -> str:
    """tuneA (decisions) for 70 % of the tune half's lines, tuneB (calibration) for the rest."""
    return "tuneA" if int(hashlib.sha256(line_id.encode()).hexdigest()[:8], 16) % 10 < 7 else "tuneB"


def decided_store(lines: list[dict], db: Path) -> None:
    """A store in which a reviewer decided every line of `lines` as its gold labels say."""
    from sqlmodel import Session

    from pinocchio.core.records import Segment, Verdict, VerdictAction
    from pinocchio.listen.pipeline import store_verdicts
    from pinocchio.moderation.cases import claim_case, confirm_case, dismiss_case
    from pinocchio.moderation.ledger import ModerationLedger
    from pinocchio.moderation.reviewers import add_reviewer
    from pinocchio.store import open_store, scans

    engine = open_store(f"sqlite:///{db}")
    with Session(engine) as session:
        add_reviewer(session, name="desk", role="reviewer", password="simulated decisions")
        stream = scans.stream_for(session, source="dev-tune", content_sha256=hashlib.sha256(b"dev-tune").hexdigest(),
                                  duration_s=None)
        scan = scans.start_scan(session, stream=stream, pipeline_version="simulated", provenance={})
        verdicts = [Verdict(Segment(2.0 * i, 2.0 * i + 1.5, x["text"], ()), (), VerdictAction.REVIEW)
                    for i, x in enumerate(lines)]
        ids = store_verdicts(session, [(scan, v) for v in verdicts], ModerationLedger("simulated"))
        session.commit()
        for segment_id, x in zip(ids, lines):
            claim_case(session, reviewer="desk", segment_id=segment_id)
            if x["labels"]:
                confirm_case(session, reviewer="desk", segment_id=segment_id, labels=x["labels"])
            else:
                dismiss_case(session, reviewer="desk", segment_id=segment_id)
        session.commit()
    engine.dispose()


def run(*args: str) -> str:
    done = subprocess.run([*PINOCCHIO, *args], capture_output=True, text=True, cwd=ROOT)
    if done.returncode != 0:
        sys.exit(f"pinocchio {' '.join(args)} failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return done.stdout


def figures(report: str, slice_name: str) -> dict:
    """micro-F1, macro-F1 and the compliant false flags of one slice of `pinocchio eval --set`."""
    lines = report.splitlines()
    start = next(i for i, line in enumerate(lines) if slice_name in line)
    block = lines[start:start + 16]
    micro = float(next(x for x in block if x.startswith("micro-F1")).split()[1])
    macro = float(next(x for x in block if x.startswith("macro-F1")).split()[1])
    flags = next(x for x in block if x.startswith("compliant lines falsely flagged")).split(": ")[1]
    return {"micro_f1": micro, "macro_f1": macro, "false_flags": flags}


def average_precision(scores: list[float], gold: list[bool]) -> float | None:
    """The mean of the precision at each gold positive, reading from the highest score down."""
    ranked = [g for _, g in sorted(zip(scores, gold), key=lambda x: -x[0])]
    hits, total = 0, 0.0
    for seen, g in enumerate(ranked, 1):
        if g:
            hits += 1
            total += hits / seen
    return total / hits if hits else None


def ranking(model: Path, lines: list[dict], lexicon_labels: list[set[str]]) -> dict:
    """How well the classifier's scores rank the gold labels of `lines`."""
    from pinocchio.listen.classify import ClaimClassifier

    classifier = ClaimClassifier(model)
    scores = classifier.probabilities([x["text"] for x in lines])
    labels = classifier.card.labels
    pairs = [(float(scores[i, j]), label in x["labels"], label in lexicon_labels[i])
             for i, x in enumerate(lines) for j, label in enumerate(labels)]
    found = {"ap_all": average_precision([p[0] for p in pairs], [p[1] for p in pairs]),
             "ap_beyond_lexicon": average_precision([p[0] for p in pairs if not p[2]], [p[1] for p in pairs if not p[2]])}
    for j, label in enumerate(labels):
        gold = [label in x["labels"] for x in lines]
        if sum(gold) >= 3:
            found[f"ap_{label}"] = average_precision(list(scores[:, j]), gold)
    return {k: round(v, 3) for k, v in found.items() if v is not None}


def lexicon_labels(lines: list[dict]) -> list[set[str]]:
    from pinocchio.core.settings import Settings
    from pinocchio.listen.pipeline import Pipeline

    pipeline = Pipeline(Settings.from_env().with_overrides(classifier="none"))
    return [{f.label for f in v.findings} for v in pipeline.check_lines(x["text"] for x in lines)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--set", type=Path, default=DEV_SET)
    parser.add_argument("--epochs", type=int, default=14)
    parser.add_argument("--reuse", type=Path, help="a folder of an earlier run whose two models are measured again")
    args = parser.parse_args()
    rows = [json.loads(line) for line in args.set.read_text(encoding="utf-8").splitlines() if line.strip()]
    folder = args.reuse or Path(tempfile.mkdtemp(prefix="pinocchio-decisions-"))
    split_file = folder / "dev-split.jsonl"
    with split_file.open("w", encoding="utf-8") as out:
        for x in rows:
            split = part(x["id"]) if x["split"] == "tune" else x["split"]
            out.write(json.dumps({**x, "split": split}, ensure_ascii=False) + "\n")
    decisions = [x for x in rows if x["split"] == "tune" and part(x["id"]) == "tuneA" and not x.get("unsure")]
    if not args.reuse:
        decided_store(decisions, folder / "decisions.db")
    confirmed, dismissed = sum(bool(x["labels"]) for x in decisions), sum(not x["labels"] for x in decisions)
    print(f"decisions simulated from the tune half: {len(decisions)} ({confirmed} confirmed, {dismissed} dismissed); "
          f"calibration on the other {sum(1 for x in rows if x['split'] == 'tune' and part(x['id']) == 'tuneB')} tune lines")
    report_lines = [x for x in rows if x["split"] == "report" and not x.get("unsure")]
    lexicon = lexicon_labels(report_lines)
    results = {}
    for name, extra in (("corpus alone", []), ("corpus + decisions", ["--decisions", str(folder / "decisions.db")])):
        model = folder / name.replace(" ", "_").replace("+", "and")
        started = time.perf_counter()
        if not args.reuse:
            run("train", "--out", str(model), "--epochs", str(args.epochs), *extra)
        trained_s = time.perf_counter() - started
        run("calibrate", "--set", str(split_file), "--split", "tuneB", "--classifier", str(model))
        report = run("eval", "--set", str(split_file), "--split", "report", "--classifier", str(model))
        results[name] = {**figures(report, "report, sure items"),
                         "train_s": "reused" if args.reuse else round(trained_s)}
        card = json.loads((model / "pinocchio.json").read_text(encoding="utf-8"))
        results[name]["version"] = card["version"]
        results[name]["stand_alone"] = card.get("calibration", {}).get("stand_alone")
        results[name]["classifier"] = ranking(model, report_lines, lexicon)
        print(f"{name}: {results[name]}")
    base, taught = results["corpus alone"], results["corpus + decisions"]
    print(f"\nreport half, sure lines: micro-F1 {base['micro_f1']:.3f} -> {taught['micro_f1']:.3f} "
          f"({taught['micro_f1'] - base['micro_f1']:+.3f}), macro-F1 {base['macro_f1']:.3f} -> {taught['macro_f1']:.3f}, "
          f"compliant flagged {base['false_flags']} -> {taught['false_flags']}")
    print("the classifier's ranking of the report half's gold labels (average precision):")
    for key in base["classifier"]:
        before, after = base["classifier"][key], taught["classifier"].get(key)
        print(f"  {key[3:]:<22}{before:.3f} -> {after:.3f} ({after - before:+.3f})")
    print(f"models and store in {folder} (delete when done)")


if __name__ == "__main__":
    main()
