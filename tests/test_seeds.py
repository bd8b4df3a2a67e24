"""The seed corpus checker (pinocchio/seeds.py): the shipped corpus, and broken corpora built in tmp_path."""

import json
from pathlib import Path

import pytest

from pinocchio.core.errors import CorpusError
from pinocchio.core.labels import LABELS
from pinocchio.training.corpus import (
    DEFAULT_CORPUS,
    SPLITS,
    base_id,
    check_corpus,
    corpus_stats,
    load_corpus,
    split_for,
)


@pytest.fixture(scope="module")
def shipped():
    return check_corpus()  # with the held-out real sentences beside the checkout: none may be copied


def test_shipped_corpus_is_valid_and_meets_targets(shipped):
    rows, errors = shipped
    assert errors == []
    stats = corpus_stats(rows)
    assert stats.total == len(rows) == len(DEFAULT_CORPUS.read_text(encoding="utf-8").splitlines())
    assert all(t.met for t in stats.targets()), stats.lines()
    assert list(stats.per_label) == list(LABELS)
    assert not any("NOT MET" in line for line in stats.lines())


def test_every_split_is_the_hash_of_its_base_id(shipped):
    rows, _ = shipped
    for row in rows:
        assert row.split == split_for(base_id(row.id)), row.id
    assert {row.split for row in rows} == set(SPLITS)


def test_load_corpus_filters_by_split(shipped):
    rows, _ = shipped
    per_split = corpus_stats(rows).per_split
    for split in SPLITS:
        loaded = load_corpus(split=split)
        assert loaded and {row.split for row in loaded} == {split}
        assert len(loaded) == per_split[split]
    assert len(load_corpus()) == len(rows)
    with pytest.raises(CorpusError, match="not one of"):
        load_corpus(split="validation")


# ---------------------------------------------------------------- broken corpora


def seed(id: str, text: str, labels=(), product="tea", split=None, origin=None) -> dict:
    return {"id": id, "text": text, "labels": list(labels), "product": product,
            "split": split or split_for(base_id(id)),
            "origin": origin or ("varied" if "-v" in id else "whispered" if "-w" in id else "written")}


GOOD = [
    seed("tea-0001", "这个茶叶是今年的新茶 口感很清香"),
    seed("sup-0002", "吃了这个保证三天见效", ["efficacy_guarantee"], "health_supplement"),
    # line 3 is the broken one
    seed("sup-0002-v1", "吃了这个保证3天见效", ["efficacy_guarantee"], "health_supplement"),
    seed("cos-0003", "加我薇信私下转账更便宜", ["off_platform_trade"], "cosmetics"),
    seed("sup-0002-w1", "吃了这个保证三天间效", ["efficacy_guarantee"], "health_supplement"),
]


def other_split(id: str) -> str:
    return next(s for s in SPLITS if s != split_for(id))


BROKEN = {
    "invalid JSON": ('{"id": "tea-0009", "text": "半截', "invalid JSON"),
    "unknown label": (seed("tea-0009", "喝了能当神仙", ["fairy_tale"]), "unknown labels ['fairy_tale']"),
    "unsorted labels": (seed("tea-0009", "全网第一好茶 喝了降血压", ["medical_claim", "absolute_claim"]),
                        "labels not sorted or repeated"),
    "repeated label": (seed("tea-0009", "全网第一好茶", ["absolute_claim", "absolute_claim"]),
                       "labels not sorted or repeated"),
    "duplicate id": (seed("tea-0001", "链接在小黄车里面"), "duplicate id tea-0001 (first at line 1)"),
    "duplicate text": (seed("tea-0009", "这个茶叶是今年的新茶 口感很清香"), "duplicate text (first at line 1)"),
    "wrong split": (seed("tea-0009", "链接在小黄车里面", split=other_split("tea-0009")),
                    f"but base tea-0009 hashes to {split_for('tea-0009')}"),
    "unknown split": (seed("tea-0009", "链接在小黄车里面", split="holdout"), "split 'holdout' not one of"),
    "missing field": ({k: v for k, v in seed("tea-0009", "链接在小黄车里面").items() if k != "product"},
                      "missing field(s) product"),
    "extra field": ({**seed("tea-0009", "链接在小黄车里面"), "note": "x"}, "unknown field(s) note"),
    "empty text": (seed("tea-0009", " "), "text must be a non-empty string"),
    "labels not a list": ({**seed("tea-0009", "链接在小黄车里面"), "labels": "medical_claim"},
                          "labels must be a list of strings"),
    "not an object": ('["tea-0009"]', "not a JSON object"),
    "empty line": ("", "empty line"),
    "bad id": (seed("Tea-9", "链接在小黄车里面"), "id 'Tea-9' is not <kind>-NNNN"),
    "unknown origin": (seed("tea-0009", "链接在小黄车里面", origin="scraped"), "origin 'scraped' not one of"),
    "varied id without -vN": (seed("tea-0009", "链接在小黄车里面", origin="varied"),
                              "origin varied does not match id tea-0009"),
    "written id with -vN": (seed("tea-0001-v3", "这个茶叶是今年新茶", origin="written"),
                            "origin written does not match id tea-0001-v3"),
    "varied without base": (seed("tea-0042-v1", "链接在小黄车里面"), "varied line has no written base tea-0042"),
    "whispered id without -wN": (seed("tea-0009", "链接在小黄车里面", origin="whispered"),
                                 "origin whispered does not match id tea-0009"),
    "varied id with -wN": (seed("tea-0001-w1", "这个茶叶是今年新茶", origin="varied"),
                           "origin varied does not match id tea-0001-w1"),
    "whispered without base": (seed("tea-0042-w1", "链接在小黄车里面"), "whispered line has no written base tea-0042"),
    "whispered from a varied line": (seed("sup-0002-v1-w1", "吃了这个保证3天间效"), "is not <kind>-NNNN"),
    "whispered labels differ": (seed("sup-0002-w2", "吃了这个保证三天见小", ["medical_claim"], "health_supplement"),
                                "labels/product differ from its base (line 2)"),
    "varied labels differ": (seed("tea-0001-v1", "这个茶叶是今年的新茶 口感很清香啊", ["absolute_claim"]),
                             "labels/product differ from its base (line 1)"),
    "near-copy": (seed("tea-0009", "家人们 这个茶叶是今年的新茶 口感很清香"), "near-copy of written line 1"),
}


def write_corpus(path: Path, broken) -> Path:
    lines = [json.dumps(r, ensure_ascii=False) for r in GOOD]
    lines.insert(2, broken if isinstance(broken, str) else json.dumps(broken, ensure_ascii=False))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_good_corpus_has_no_errors(tmp_path):
    lines = [json.dumps(r, ensure_ascii=False) for r in GOOD]
    (tmp_path / "corpus.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    rows, errors = check_corpus(tmp_path / "corpus.jsonl")
    assert errors == []
    assert [(r.id, r.line) for r in rows] == [(g["id"], n) for n, g in enumerate(GOOD, 1)]
    assert rows[1].labels == ("efficacy_guarantee",)


@pytest.mark.parametrize("case", BROKEN)
def test_broken_line_is_named_and_good_rows_are_kept(tmp_path, case):
    broken, reason = BROKEN[case]
    rows, errors = check_corpus(write_corpus(tmp_path / "corpus.jsonl", broken))
    assert errors, case
    assert all(e.startswith("corpus.jsonl:3: ") for e in errors), errors
    assert any(reason in e for e in errors), errors
    good_lines = {1: "tea-0001", 2: "sup-0002", 4: "sup-0002-v1", 5: "cos-0003", 6: "sup-0002-w1"}
    assert {r.line: r.id for r in rows if r.line != 3} == good_lines


def test_missing_file_is_one_error(tmp_path):
    path = tmp_path / "nowhere.jsonl"
    assert check_corpus(path) == ([], [f"{path}: no such file"])
    with pytest.raises(CorpusError, match="no such file"):
        load_corpus(path)


def test_load_corpus_names_the_first_error_and_how_many_more(tmp_path):
    path = write_corpus(tmp_path / "corpus.jsonl", seed("tea-0009", "喝了能当神仙", ["medical_claim", "fairy_tale"]))
    with pytest.raises(CorpusError) as raised:
        load_corpus(path)
    message = str(raised.value)
    assert message.startswith("corpus.jsonl:3: unknown labels ['fairy_tale']")
    assert "(and 1 more; run 'pinocchio seeds check')" in message


def test_load_corpus_of_a_good_file_by_split(tmp_path):
    ids = [f"tea-{n:04d}" for n in range(1, 41)]
    # Distinct made-up texts: a number and one of 40 different characters, so no two are near-copies.
    lines = [json.dumps(seed(id, f"{n}号{chr(0x4E00 + 97 * n)}茶"), ensure_ascii=False) for n, id in enumerate(ids, 1)]
    path = tmp_path / "corpus.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert check_corpus(path)[1] == []
    for split in SPLITS:
        expected = [id for id in ids if split_for(id) == split]
        assert expected, split  # forty ids hash into every split
        assert [r.id for r in load_corpus(path, split)] == expected


def test_stats_count_and_report_unmet_targets(tmp_path):
    rows = load_corpus(write_corpus(tmp_path / "corpus.jsonl", seed("tea-0009", "链接在小黄车里面")))
    stats = corpus_stats(rows)
    assert (stats.total, stats.compliant) == (6, 2)
    assert stats.per_label["efficacy_guarantee"] == 3 and stats.per_label["superstition"] == 0
    assert stats.per_origin == {"written": 4, "varied": 1, "whispered": 1}
    assert stats.per_product == {"health_supplement": 3, "tea": 2, "cosmetics": 1}
    assert sum(stats.per_split.values()) == 6
    text = "\n".join(stats.lines())
    assert "33.3%" in text and text.count("NOT MET") == 4  # a tiny corpus meets none


def test_a_line_that_copies_a_held_out_real_sentence_is_refused(tmp_path):
    """`seeds check` reads the held-out real set at run time (../shared/data/liveamr) and refuses
    any corpus line sharing a 12-character run with one of its sentences, said or resolved."""
    from pinocchio.training.corpus import HELD_OUT, held_out_runs

    runs = held_out_runs(HELD_OUT)
    assert len(runs) > 100_000, "the held-out set must be beside the checkout"
    copied = next(iter(runs))  # twelve characters of a held-out sentence, never written down here
    corpus = tmp_path / "corpus.jsonl"
    lines = [{"id": "gen-0001", "text": "家人们晚上好欢迎来到直播间", "labels": [], "product": "general"},
             {"id": "gen-0002", "text": "宝宝们" + copied, "labels": [], "product": "general"}]
    corpus.write_text("".join(json.dumps(dict(x, split=split_for(x["id"]), origin="written"), ensure_ascii=False)
                              + "\n" for x in lines), encoding="utf-8")
    _, errors = check_corpus(corpus)
    assert len(errors) == 1 and errors[0].startswith("corpus.jsonl:2: copies a held-out real sentence (12+ characters")
    _, errors = check_corpus(corpus, held_out=None)
    assert errors == []
