"""Counts and checks for seeds/corpus.jsonl (plain python3, standard library only).

    python3 seeds/stats.py [path/to/corpus.jsonl]

Prints the counts (total, per label, compliant share, per split, written vs varied, per product)
and checks every line: valid JSON object with exactly the schema's fields, known labels only
(sorted, no repeats), unique ids, unique texts, split values, the split of each line equal to the
hash split of its base id (so variations sit in their base's split), varied lines matching their
written base, and no near-copies among written lines. Errors are printed as
corpus.jsonl:LINE: reason, and the exit status is 1 when there is any.
"""
from __future__ import annotations

import hashlib
import json
import re
import sys
from collections import Counter, defaultdict
from pathlib import Path

LABELS = ("absolute_claim", "medical_claim", "efficacy_guarantee", "false_endorsement",
          "price_deception", "fake_scarcity", "off_platform_trade", "superstition")
FIELDS = {"id", "text", "labels", "product", "split", "origin"}
SPLITS = ("train", "dev", "test")
ORIGINS = ("written", "varied")
ID_RE = re.compile(r"^[a-z]+-\d{4}(-v\d+)?$")
NEAR_JACCARD = 0.7
TARGETS = {"total": 4000, "per_label": 250, "compliant_share": 0.40, "written": 2500}


def split_for(base_id: str) -> str:
    """Same rule as vary.py: sha256 of the base id, first 8 hex digits, mod 100."""
    h = int(hashlib.sha256(base_id.encode("utf-8")).hexdigest()[:8], 16) % 100
    return "train" if h < 80 else ("dev" if h < 90 else "test")


def squash(text: str) -> str:
    return re.sub(r"[\s，,]", "", text)


def bigrams(text: str) -> frozenset:
    t = squash(text)
    return frozenset(t[i:i + 2] for i in range(len(t) - 1)) or frozenset([t])


def near_copies(written: list) -> list:
    """(line, other_line) pairs of written texts that are near-copies (bigram Jaccard or containment)."""
    grams = [(n, squash(t), bigrams(t)) for n, t in written]
    index = defaultdict(list)
    found = []
    for i, (n, sq, g) in enumerate(grams):
        seen = Counter()
        for b in g:
            for j in index[b]:
                seen[j] += 1
        for j, shared in seen.items():
            m, sq2, g2 = grams[j]
            jac = shared / (len(g) + len(g2) - shared)
            contained = (len(sq) >= 5 and sq in sq2) or (len(sq2) >= 5 and sq2 in sq)
            if jac >= NEAR_JACCARD or contained:
                found.append((n, m))
        for b in g:
            index[b].append(i)
    return found


def check(path: Path) -> tuple:
    errors, rows = [], []
    name = path.name
    ids, texts = {}, {}
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            errors.append(f"{name}:{n}: empty line")
            continue
        try:
            r = json.loads(line)
        except json.JSONDecodeError as e:
            errors.append(f"{name}:{n}: invalid JSON ({e.msg})")
            continue
        if not isinstance(r, dict):
            errors.append(f"{name}:{n}: not a JSON object")
            continue
        if set(r) != FIELDS:
            errors.append(f"{name}:{n}: fields {sorted(r)} != {sorted(FIELDS)}")
            continue
        bad = False
        for key in ("id", "text", "product", "split", "origin"):
            if not isinstance(r[key], str) or not r[key].strip():
                errors.append(f"{name}:{n}: {key} must be a non-empty string")
                bad = True
        if not isinstance(r["labels"], list) or not all(isinstance(x, str) for x in r["labels"]):
            errors.append(f"{name}:{n}: labels must be a list of strings")
            bad = True
        if bad:
            continue
        unknown = [x for x in r["labels"] if x not in LABELS]
        if unknown:
            errors.append(f"{name}:{n}: unknown labels {unknown} (known: {', '.join(LABELS)})")
        if r["labels"] != sorted(set(r["labels"])):
            errors.append(f"{name}:{n}: labels not sorted or repeated")
        if not ID_RE.match(r["id"]):
            errors.append(f"{name}:{n}: id {r['id']!r} is not <kind>-NNNN or <kind>-NNNN-vK")
        if r["id"] in ids:
            errors.append(f"{name}:{n}: duplicate id {r['id']} (first at line {ids[r['id']]})")
        ids.setdefault(r["id"], n)
        if r["text"] in texts:
            errors.append(f"{name}:{n}: duplicate text (first at line {texts[r['text']]})")
        texts.setdefault(r["text"], n)
        if r["split"] not in SPLITS:
            errors.append(f"{name}:{n}: split {r['split']!r} not one of {', '.join(SPLITS)}")
        if r["origin"] not in ORIGINS:
            errors.append(f"{name}:{n}: origin {r['origin']!r} not one of {', '.join(ORIGINS)}")
        base = r["id"].split("-v")[0]
        if r["split"] in SPLITS and r["split"] != split_for(base):
            errors.append(f"{name}:{n}: split {r['split']} but base {base} hashes to {split_for(base)}")
        if (r["origin"] == "varied") != ("-v" in r["id"]):
            errors.append(f"{name}:{n}: origin {r['origin']} does not match id {r['id']}")
        rows.append((n, r))
    by_id = {r["id"]: (n, r) for n, r in rows}
    for n, r in rows:
        if r["origin"] != "varied":
            continue
        base = by_id.get(r["id"].split("-v")[0])
        if base is None or base[1]["origin"] != "written":
            errors.append(f"{name}:{n}: varied line has no written base {r['id'].split('-v')[0]}")
        elif (base[1]["labels"], base[1]["product"]) != (r["labels"], r["product"]):
            errors.append(f"{name}:{n}: labels/product differ from its base (line {base[0]})")
    written = [(n, r["text"]) for n, r in rows if r["origin"] == "written"]
    for n, m in near_copies(written):
        errors.append(f"{name}:{n}: written line is a near-copy of written line {m}")
    return [r for _, r in rows], errors


def pct(a: int, b: int) -> str:
    return f"{100 * a / b:.1f}%" if b else "-"


def report(rows: list) -> list:
    out = []
    total = len(rows)
    comp = sum(1 for r in rows if not r["labels"])
    origin = Counter(r["origin"] for r in rows)
    out.append(f"total lines            {total}")
    out.append(f"written / varied       {origin['written']} / {origin['varied']}")
    out.append(f"compliant (labels=[])  {comp} ({pct(comp, total)})")
    multi = sum(1 for r in rows if len(r["labels"]) > 1)
    out.append(f"multi-label lines      {multi}")
    out.append("")
    out.append(f"{'label':<20}{'all':>7}{'written':>9}{'varied':>8}{'train':>7}{'dev':>6}{'test':>6}")
    for lab in LABELS:
        have = [r for r in rows if lab in r["labels"]]
        c = Counter(r["origin"] for r in have)
        s = Counter(r["split"] for r in have)
        out.append(f"{lab:<20}{len(have):>7}{c['written']:>9}{c['varied']:>8}"
                   f"{s['train']:>7}{s['dev']:>6}{s['test']:>6}")
    out.append("")
    out.append(f"{'split':<8}{'lines':>7}{'share':>8}{'written':>9}{'varied':>8}{'compliant':>11}")
    for sp in SPLITS:
        have = [r for r in rows if r["split"] == sp]
        c = Counter(r["origin"] for r in have)
        k = sum(1 for r in have if not r["labels"])
        out.append(f"{sp:<8}{len(have):>7}{pct(len(have), total):>8}{c['written']:>9}"
                   f"{c['varied']:>8}{k:>6} ({pct(k, len(have))})")
    groups = Counter(r["split"] for r in rows if r["origin"] == "written")
    out.append("base groups per split: " + ", ".join(f"{sp} {groups[sp]}" for sp in SPLITS))
    out.append("")
    prod = Counter(r["product"] for r in rows)
    pcomp = Counter(r["product"] for r in rows if not r["labels"])
    out.append(f"{'product':<20}{'lines':>7}{'compliant':>11}")
    for p, c in sorted(prod.items(), key=lambda kv: (-kv[1], kv[0])):
        out.append(f"{p:<20}{c:>7}{pcomp[p]:>11}")
    out.append("")
    lens = sorted(len(r["text"]) for r in rows)
    if lens:
        out.append(f"text length (chars)    min {lens[0]}, median {lens[len(lens) // 2]}, max {lens[-1]}")
    per_label_min = min((sum(1 for r in rows if lab in r["labels"]) for lab in LABELS), default=0)
    out.append("")
    out.append("targets: " + ", ".join([
        f"total>={TARGETS['total']} {'ok' if total >= TARGETS['total'] else 'NO'}",
        f"per label>={TARGETS['per_label']} {'ok' if per_label_min >= TARGETS['per_label'] else 'NO'}",
        f"compliant>={TARGETS['compliant_share']:.0%} "
        f"{'ok' if total and comp / total >= TARGETS['compliant_share'] else 'NO'}",
        f"written>={TARGETS['written']} {'ok' if origin['written'] >= TARGETS['written'] else 'NO'}",
    ]))
    return out


def main(argv: list) -> int:
    path = Path(argv[0]) if argv else Path(__file__).resolve().parent / "corpus.jsonl"
    rows, errors = check(path)
    print("\n".join(report(rows)))
    print()
    for e in errors:
        print(e)
    print(f"{len(errors)} errors")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
