"""Add newly written lines to the corpus: `.venv/bin/python seeds/add_lines.py FILE.jsonl...`

Each input line is `{"text", "labels", "product"}` (how writers hand lines in). A line is taken as a
`written` corpus line with the next free id of its product's kind, its split computed from that id,
unless it repeats a corpus line, is a near-copy of one (the checker's rule), or copies a held-out
real sentence; those are listed and left out. Run `seeds/vary.py` and `pinocchio seeds check` after.
"""

from __future__ import annotations

import json
import re
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pinocchio.training.corpus import (  # noqa: E402
    DEFAULT_CORPUS,
    NearCopies,
    SeedRow,
    copied_from_held_out,
    held_out_runs,
    split_for,
)

KIND = {"health_supplement": "sup", "cosmetics": "cos", "tea": "tea", "snack_food": "food", "clothing": "clo",
        "shoes": "sho", "electronics": "ele", "small_appliance": "app", "jewellery_jade": "jew", "kids_goods": "kid",
        "farm_produce": "farm", "household_cleaning": "cln", "pet_food": "pet", "books_courses": "edu", "wine": "wine",
        "home_decor": "deco", "general": "gen"}
ID = re.compile(r"^([a-z]+)-(\d{4})")


def main(paths: list[str]) -> None:
    lines = DEFAULT_CORPUS.read_text(encoding="utf-8").splitlines()
    corpus = [json.loads(line) for line in lines if line.strip()]
    next_number = Counter()
    for row in corpus:
        kind, number = ID.match(row["id"]).groups()
        next_number[kind] = max(next_number[kind], int(number) + 1)
    written = [SeedRow(r["id"], r["text"], tuple(r["labels"]), r["product"], r["split"], r["origin"], i)
               for i, r in enumerate(corpus, 1) if r["origin"] == "written"]
    texts = {r["text"] for r in corpus}
    index = NearCopies()
    for row in written:
        index.add(row)
    runs = held_out_runs()
    added, left_out = [], Counter()
    for path in paths:
        for number, raw in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
            if not raw.strip():
                continue
            item = json.loads(raw)
            text = item["text"].strip()
            kind = KIND[item["product"]]
            row = SeedRow(f"{kind}-{next_number[kind]:04d}", text, tuple(sorted(set(item["labels"]))),
                          item["product"], "", "written", len(written) + 1)
            if text in texts:
                left_out["repeats a corpus line"] += 1
                continue
            if copied_from_held_out([row], runs):
                left_out["copies a held-out real sentence"] += 1
                print(f"{path}:{number}: left out, copies a held-out real sentence")
                continue
            if index.copied(row) is not None:
                left_out["near-copy of a corpus line"] += 1
                continue
            next_number[kind] += 1
            row = SeedRow(row.id, row.text, row.labels, row.product, split_for(row.id), "written", row.line)
            written.append(row)
            index.add(row)
            texts.add(text)
            added.append({"id": row.id, "text": row.text, "labels": list(row.labels), "product": row.product,
                          "split": row.split, "origin": "written"})
    with open(DEFAULT_CORPUS, "a", encoding="utf-8") as out:
        for item in added:
            out.write(json.dumps(item, ensure_ascii=False) + "\n")
    print(f"added {len(added)} written lines; left out: {dict(left_out) or 'none'}")


if __name__ == "__main__":
    main(sys.argv[1:])
