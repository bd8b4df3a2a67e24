import csv
from pathlib import Path

import pytest

from pinocchio.core.errors import LexiconError
from pinocchio.core.labels import LABELS
from pinocchio.core.settings import Settings
from pinocchio.core.text import normalize_text
from pinocchio.listen.lexicon import Matcher, check_lexicons, load_lexicon
from pinocchio.listen.segment import Tokenizer

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def lexicon():
    return load_lexicon(Settings().lexicon_dir)


@pytest.fixture(scope="module")
def labels_of(lexicon):
    matcher = Matcher(lexicon)
    tokenizer = Tokenizer(lexicon.words)

    def labels(text: str) -> set[str]:
        clean = normalize_text(text)
        return {f.label for f in matcher.match(clean, tokenizer.tokenize(clean))}

    return labels


def test_shipped_lexicons_are_valid_and_cover_every_label(lexicon):
    assert {e.label for e in lexicon.entries} == set(LABELS)
    assert len(lexicon.entries) >= 300
    for label in LABELS:
        assert sum(e.label == label for e in lexicon.entries) >= 30, label
    assert all(e.article for e in lexicon.entries)


def test_reference_cases(labels_of):
    """Every line of tests/data/lexicon_cases.tsv: the labels a reviewer would give."""
    with open(ROOT / "tests" / "data" / "lexicon_cases.tsv", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    assert len(rows) >= 100
    wrong = []
    for row in rows:
        expected = {x.strip() for x in (row["labels"] or "").split(",") if x.strip()}
        got = labels_of(row["text"])
        if got != expected:
            wrong.append(f"{row['text']}: expected {sorted(expected)}, got {sorted(got)}")
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("text,label", [
    ("这个茶能治糖尿病", "medical_claim"),
    ("喝了可以将血压", "medical_claim"),  # whisper's homophone for 降血压
    ("用了三天就能趋班", "medical_claim"),  # 祛斑 misheard
    ("喜欢的加我薇信", "off_platform_trade"),  # disguised spelling
    ("家人们这是全网最低价", "absolute_claim"),
])
def test_disguised_and_misheard_claims_are_caught(labels_of, text, label):
    assert label in labels_of(text)


@pytest.mark.parametrize("text", [
    "第一次来直播间的宝宝点个关注",
    "最近很多人问这个怎么用",
    "支持七天无理由退货",
    "这个不是药品不能治病",
    "最后一个问题我回答一下",
])
def test_hard_negatives_pass(labels_of, text):
    assert labels_of(text) == set()


def test_findings_carry_article_severity_and_span(lexicon):
    text = "这个茶能治糖尿病"
    findings = Matcher(lexicon).match(text)
    assert findings
    for f in findings:
        assert f.article and f.severity in (1, 2, 3)
        assert text[f.span[0]:f.span[1]] == f.matched


def write(dir_: Path, name: str, body: str) -> Path:
    dir_.mkdir(parents=True, exist_ok=True)
    path = dir_ / name
    path.write_text(body, encoding="utf-8")
    return path


GOOD_HEAD = 'label: superstition\nversion: "1"\ndefault_article: "广告法第九条第（八）项"\nterms:\n'


@pytest.mark.parametrize("line,reason", [
    ("  - {term: 开光, severity: 5}", "severity must be 1, 2 or 3"),
    ("  - {term: 开光, severity: 2, colour: red}", "unknown key 'colour'"),
    ("  - {severity: 2}", "term is missing"),
    ("  - {term: 开光, severity: 2, exceptions: 不开光}", "exceptions must be a list"),
    ("  - {term: 开光, severity: 2", "YAML syntax error"),
])
def test_broken_entry_names_file_and_line(tmp_path, line, reason):
    path = write(tmp_path, "superstition.yaml", GOOD_HEAD + "  - {term: 招财, severity: 1}\n" + line + "\n")
    _, errors = check_lexicons(tmp_path)
    assert errors, line
    assert errors[0].startswith(f"{path}:") and reason in errors[0]
    if "YAML" not in reason:
        assert errors[0].startswith(f"{path}:6:")
    with pytest.raises(LexiconError, match=str(path)):
        load_lexicon(tmp_path)


def test_label_must_match_file_name(tmp_path):
    write(tmp_path, "absolute_claim.yaml", GOOD_HEAD + "  - {term: 招财, severity: 1}\n")
    _, errors = check_lexicons(tmp_path)
    assert any("does not match the file name" in e and ":1:" in e for e in errors)


def test_duplicate_term_in_a_file(tmp_path):
    write(tmp_path, "superstition.yaml", GOOD_HEAD + "  - {term: 招财, severity: 1}\n  - {term: 招财, severity: 2}\n")
    _, errors = check_lexicons(tmp_path)
    assert errors == [f"{tmp_path / 'superstition.yaml'}:6: '招财' is already listed at line 5"]


def test_token_boundaries_and_exceptions(tmp_path):
    write(tmp_path, "absolute_claim.yaml", 'label: absolute_claim\nversion: "1"\ndefault_article: "x"\n'
          "terms:\n  - {term: 第一, severity: 2}\n  - {term: 能治, severity: 3, exceptions: [不能治]}\n")
    lexicon = load_lexicon(tmp_path)
    matcher, tokenizer = Matcher(lexicon), Tokenizer(lexicon.words)
    for text, expected in [("销量第一", 1), ("第一次来", 0), ("这个能治", 1), ("这个不能治", 0), ("这个不能制病", 0)]:
        assert len(matcher.match(text, tokenizer.tokenize(text))) == expected, text


def test_what_was_said_before_can_only_take_findings_back(lexicon):
    matcher = Matcher(lexicon)
    assert [f.term for f in matcher.match("治病")] == ["治病"]
    # A cut at a short pause parted the disclaimer from its words; heard or misheard, it still holds.
    assert matcher.match("治病", before="注意这个不是药品不能") == []
    assert matcher.match("治病", before="这个不是药品不能") == []
    assert matcher.match("能治病", before="这个不") == []
    assert matcher.match("病", before="不能治") == []
    # A negation elsewhere before does not reach, and a claim said before is not found again.
    assert [f.term for f in matcher.match("治病", before="不能吃但是能")] == ["治病"]
    assert matcher.match("大家快来买", before="全网最低价") == []
    # Spans stay in the segment's own text.
    assert matcher.match("全网最低价", before="不是我说") == matcher.match("全网最低价")


PATTERN_HEAD = 'label: fake_scarcity\nversion: "1"\ndefault_article: "反不正当竞争法第八条第一款"\nterms:\n  - {term: 秒光, severity: 1}\npatterns:\n'


def test_patterns_read_numbers_and_prices_as_people_say_them(lexicon):
    matcher = Matcher(lexicon)

    def labels(text: str) -> set[str]:
        return {f.label for f in matcher.match(normalize_text(text))}

    # our own sentences: any count, spoken or in digits, with the 米 disguise for 元
    for text in ("最后的七单了家人们", "只剩12单库存", "还有三分钟就下播了", "最后三十秒"):
        assert "fake_scarcity" in labels(text), text
    for text in ("日常价三百九十九米今天一百五十九", "原价199今天到手99", "外面药店都要二百八十八块一瓶"):
        assert "price_deception" in labels(text), text
    for text in ("今天买二送一到手六盒", "最后一个问题我回答一下", "还有两个颜色可以选", "今天到手价九十九"):
        assert not labels(text) & {"fake_scarcity", "price_deception"}, text
    found, = [f for f in matcher.match("最后的七单了") if f.match_kind == "pattern"]
    assert (found.term, found.matched, found.span, found.source) == ("最后(的)?(一个|这)?{n}(单|端|件|份|盒|瓶|套|罐|个名额|个库存|波)",
                                                                     "最后的七单", (0, 5), "lexicon")


@pytest.mark.parametrize("pattern, reason", [
    ('"最后{x}单"', "unknown slot '{x}'"),
    ('"最后(一|两单"', "a '(' without its ')'"),
    ('"最后一|两单"', "'|' outside a group"),
    ('"?最后"', "a '?' with nothing before it"),
])
def test_a_broken_pattern_names_file_and_line(tmp_path, pattern, reason):
    path = write(tmp_path, "fake_scarcity.yaml", PATTERN_HEAD + f"  - pattern: {pattern}\n    severity: 2\n"
                 '    matches: ["最后两单"]\n')
    _, errors = check_lexicons(tmp_path)
    assert len(errors) == 1 and errors[0].startswith(f"{path}:7: pattern ") and reason in errors[0], errors


def test_a_pattern_is_checked_against_its_own_sentences(tmp_path):
    path = write(tmp_path, "fake_scarcity.yaml", PATTERN_HEAD + '  - pattern: "最后{n}单"\n    severity: 2\n'
                 '    matches: ["最后两单", "最后一个问题"]\n    passes: ["最后七单"]\n    exceptions: [最后两单了吗]\n')
    _, errors = check_lexicons(tmp_path)
    assert errors == [f"{path}:7: pattern '最后{{n}}单' does not flag '最后一个问题' (listed under matches)",
                      f"{path}:7: pattern '最后{{n}}单' flags '最后七单' (listed under passes)"]
    write(tmp_path, "fake_scarcity.yaml", PATTERN_HEAD + '  - pattern: "最后{n}单"\n    severity: 2\n')
    _, errors = check_lexicons(tmp_path)
    assert errors and "needs at least one sentence it matches" in errors[0]
