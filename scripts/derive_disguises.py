"""Derive the disguised-spelling table (pinocchio/data/disguises.yaml) from the morph explanations
of HealthAMR_train.tsv: word-level facts only (this spelling stands for that word), never a
sentence. Usage: .venv/bin/python scripts/derive_disguises.py [../shared/data/liveamr/HealthAMR_train.tsv]

Kept: spellings of two or more characters explained at least MIN_SEEN times, standing for a
different word. Single characters (米 for 元) are left to the lexicon's patterns ({money}), where
the number around them says what they mean."""

from __future__ import annotations

import re
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT.parent / "shared" / "data" / "liveamr" / "HealthAMR_train.tsv"
TARGET = ROOT / "pinocchio" / "data" / "disguises.yaml"
MIN_SEEN = 2
EXPLAINED = re.compile(r'([^，。、"“”\s]+?)为(?:结构|语义)变体词，原词为["“]+([^"”]+)["”]+')
HEADER = """# Disguised spellings of live-commerce streamers and the words they stand for (心灵之窗 for 眼睛,
# 小糖人 for 糖尿病患者, 去什么斑 for 祛斑). Word-level facts derived by scripts/derive_disguises.py from
# the morph explanations of HealthAMR_train.tsv — the LiveAMR datasets of "Chinese Morph Resolution
# in E-commerce Live Streaming Scenarios" (NAACL 2025 Industry Track),
# loopback00/Morph-Resolution-Datasets-and-Methods @ 0ab29f880708dacaf90a9b78a7d6ba064eb9b16c,
# dataset/HealthAMR/plm/train.tsv; no sentence of it is here. Detection reads each segment also with
# these spellings resolved (pinocchio/listen/disguise.py), so a claim keeps its label disguised.
# `seen`: how many explanations named the pair. Regenerate rather than edit by hand.
source: "loopback00/Morph-Resolution-Datasets-and-Methods@0ab29f880708dacaf90a9b78a7d6ba064eb9b16c:dataset/HealthAMR/plm/train.tsv"
disguises:
"""


def main(source: Path) -> None:
    seen: Counter = Counter()
    for line in source.read_text(encoding="utf-8").splitlines():
        columns = line.split("\t")
        if len(columns) >= 4:
            for match in EXPLAINED.finditer(columns[3].replace('""', '"')):
                said, means = match.group(1).strip(), match.group(2).strip()
                if len(said) >= 2 and said != means and means:
                    seen[(said, means)] += 1
    # One meaning per spelling: the one explained most often.
    best: dict[str, tuple[str, int]] = {}
    for (said, means), n in seen.most_common():
        if n >= MIN_SEEN and said not in best:
            best[said] = (means, n)
    lines = [f'  - {{said: "{said}", means: "{means}", seen: {n}}}' for said, (means, n) in
             sorted(best.items(), key=lambda kv: (-kv[1][1], kv[0]))]
    TARGET.write_text(HEADER + "\n".join(lines) + "\n", encoding="utf-8")
    print(f"{len(lines)} disguised spellings -> {TARGET}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else SOURCE)
