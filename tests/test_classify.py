"""The classifier: training on a tiny corpus, saving and reloading, thresholds from the model
directory, and the shipped model through `check`."""

import json
import shutil

import numpy as np
import pytest
from typer.testing import CliRunner

from pinocchio.cli import app
from pinocchio.core.errors import ModelError
from pinocchio.core.labels import LABELS
from pinocchio.core.records import Segment
from pinocchio.listen.classify import (
    SETTINGS_FILE,
    SHIPPED_MODEL,
    ClaimClassifier,
    read_card,
)
from pinocchio.listen.ngrams import NGRAM_FILE, NgramModel
from pinocchio.training.corpus import DEFAULT_CORPUS, load_corpus
from pinocchio.training.train import TrainOptions, train

runner = CliRunner()


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    """A tiny model on a slice of the real corpus: a few seconds, enough to see learning happen."""
    root = tmp_path_factory.mktemp("tiny")
    rows = load_corpus(DEFAULT_CORPUS)
    picked = [r for split in ("train", "dev", "test") for r in [x for x in rows if x.split == split][:120]]
    corpus = root / "corpus.jsonl"
    corpus.write_text("".join(json.dumps({"id": r.id, "text": r.text, "labels": list(r.labels), "product": r.product,
                                          "split": r.split, "origin": r.origin}, ensure_ascii=False) + "\n"
                              for r in picked), encoding="utf-8")
    options = TrainOptions(corpus=corpus, out=root / "model", epochs=4, hidden_size=32, layers=1, heads=2,
                           intermediate_size=64, vocab_common_chars=200, batch_size=16, learning_rate=3e-3,
                           decisions=decided_store(root / "decided.db"))
    return train(options), options


def decided_store(path) -> str:
    """Three cases a reviewer decided: two confirmed, one dismissed (what `--decisions` learns from)."""
    from moderation_world import recording, reviewers, verdict
    from sqlmodel import Session

    from pinocchio.moderation.cases import claim_case, confirm_case, dismiss_case
    from pinocchio.store import open_store

    url = f"sqlite:///{path}"
    with Session(open_store(url)) as session:
        reviewers(session)
        _, rows = recording(session, verdicts=[verdict(t, t + 2, "review", "medical_claim") for t in (0, 10, 20)])
        session.commit()
        for row, labels in zip(rows, (["medical_claim"], ["medical_claim", "absolute_claim"], [])):
            claim_case(session, reviewer="alice", segment_id=row.id)
            if labels:
                confirm_case(session, reviewer="alice", segment_id=row.id, labels=labels)
            else:
                dismiss_case(session, reviewer="alice", segment_id=row.id)
        session.commit()
    return url


def test_decided_cases_join_the_training_lines_and_the_card_says_how_many(tiny_model):
    from pinocchio.training.decisions import load_decisions

    result, options = tiny_model
    decided = load_decisions(options.decisions)
    assert (len(decided.rows), decided.confirmed, decided.dismissed) == (3, 2, 1)
    assert {r.labels for r in decided.rows} == {("medical_claim",), ("absolute_claim", "medical_claim"), ()}
    card = json.loads((options.out / "pinocchio.json").read_text(encoding="utf-8"))
    assert card["version"].endswith(f"-d{decided.digest}")
    assert card["decisions"] == {"from": options.decisions, "lines": 3, "confirmed": 2, "dismissed": 1,
                                 "digest": decided.digest, "repeats": 5}
    assert "3 sentences reviewers decided" in (options.out / "README.md").read_text(encoding="utf-8")
    assert ClaimClassifier(options.out).name == f"classifier:{card['version']}"


def test_each_finding_names_the_model_and_version_that_raised_it(pipeline):
    verdict = pipeline.check_text("这个茶能治糖尿病")
    sources = {(f.source.value, f.model) for f in verdict.findings}
    assert ("lexicon", pipeline.detector.matcher.lexicon.version) in sources
    assert any(source == "classifier" and model == pipeline.classifier.name for source, model in sources)


def test_training_lowers_the_loss_and_saves_a_loadable_model(tiny_model):
    result, options = tiny_model
    assert result.losses[-1] < result.losses[0]
    card = read_card(options.out)
    assert card.labels == LABELS and set(card.rules) == set(LABELS)
    assert all(0 < r.threshold < 1 for r in card.rules.values())
    assert (options.out / "README.md").read_text(encoding="utf-8").startswith("# Pinocchio claim classifier")


def test_reloaded_model_gives_the_same_scores(tiny_model):
    _, options = tiny_model
    texts = ["这个茶能治糖尿病", "家人们晚上好", "加我微信私下转账"]
    first = ClaimClassifier(options.out).probabilities(texts)
    second = ClaimClassifier(options.out).probabilities(texts)
    assert first.shape == (3, len(LABELS))
    assert np.allclose(first, second)
    # batching and padding do not change a text's scores
    alone = ClaimClassifier(options.out, batch_size=1).probabilities(texts)
    assert np.allclose(first, alone, atol=1e-5)


@pytest.mark.parametrize("model", ["tiny", "shipped"])
def test_onnx_and_torch_give_the_same_scores(tiny_model, model):
    path = tiny_model[1].out if model == "tiny" else SHIPPED_MODEL
    texts = ["加v", "这个茶能治糖尿病", "家人们晚上好 今天给大家带来一款面霜 五十克一瓶 原价九百九十九", "3天见效"] * 3
    onnx, torch_ = ClaimClassifier(path, batch_size=5), ClaimClassifier(path, batch_size=5, backend="torch")
    assert onnx.backend == "onnx"
    assert np.allclose(onnx.probabilities(texts), torch_.probabilities(texts), atol=1e-5)


def test_thresholds_come_from_the_model_directory(tiny_model, tmp_path):
    _, options = tiny_model
    model = tmp_path / "model"
    shutil.copytree(options.out, model)
    settings = json.loads((model / SETTINGS_FILE).read_text(encoding="utf-8"))
    for label in LABELS:
        settings["labels"][label]["threshold"] = 1.01  # nothing can reach it
    settings["labels"]["superstition"]["threshold"] = 0.0  # everything reaches it
    (model / SETTINGS_FILE).write_text(json.dumps(settings), encoding="utf-8")
    found = ClaimClassifier(model).findings([Segment(0, 1, "家人们晚上好", ())])[0]
    assert [(f.label, f.source, f.article) for f in found] == [("superstition", "classifier", "广告法第九条第（八）项")]


def test_the_ngram_half_saves_as_plain_arrays_and_scores_the_same_when_read_back(tmp_path):
    texts = ["加我微信私下转账", "这个茶能治糖尿病", "家人们晚上好", "一号链接五十克", "加微信领红包", "能治高血压"] * 3
    targets = np.array([[t.startswith("加"), "治" in t, False] for t in texts])  # the last: a label with no line
    model = NgramModel.fit(texts, targets)
    model.save(tmp_path)
    with np.load(tmp_path / NGRAM_FILE, allow_pickle=False) as data:  # arrays only: nothing to unpickle
        assert set(data.files) == {"vocabulary", "idf", "coef", "intercept"}
    again = NgramModel.load(tmp_path)
    probe = ["加我微信", "能治糖尿病", "今天天气好"]
    assert np.allclose(model.probabilities(probe), again.probabilities(probe))
    scores = again.probabilities(probe)
    assert scores[0, 0] > scores[2, 0] and scores[1, 1] > scores[2, 1] and scores[:, 2].max() < 0.01


def test_a_card_that_weighs_in_a_missing_ngram_model_fails_at_once(tiny_model, tmp_path):
    _, options = tiny_model
    model = tmp_path / "model"
    shutil.copytree(options.out, model)
    assert read_card(model).ngram_weight == TrainOptions().ngram_weight
    (model / NGRAM_FILE).unlink()
    with pytest.raises(ModelError, match="ngrams.npz is missing"):
        read_card(model)


def test_a_damaged_ngram_file_is_named_in_the_error(tiny_model, tmp_path):
    _, options = tiny_model
    model = tmp_path / "model"
    shutil.copytree(options.out, model)
    (model / NGRAM_FILE).write_bytes(b"not an npz file")
    with pytest.raises(ModelError, match=r"ngrams\.npz: cannot read the n-gram half"):
        ClaimClassifier(model).probabilities(["家人们晚上好"])


def test_scores_are_the_weighted_mean_of_the_encoder_and_the_ngram_model(tiny_model, tmp_path):
    _, options = tiny_model
    texts = ["这个茶能治糖尿病", "家人们晚上好", "加我微信私下转账"]
    model = tmp_path / "model"
    shutil.copytree(options.out, model)
    both = ClaimClassifier(model).probabilities(texts)
    settings = json.loads((model / SETTINGS_FILE).read_text(encoding="utf-8"))
    settings["ensemble"]["ngram_weight"] = 0.0
    (model / SETTINGS_FILE).write_text(json.dumps(settings), encoding="utf-8")
    encoder = ClaimClassifier(model).probabilities(texts)
    ngrams = NgramModel.load(model).probabilities(texts)
    weight = TrainOptions().ngram_weight
    assert np.allclose(both, (1 - weight) * encoder + weight * ngrams, atol=1e-5)


def test_a_directory_that_is_no_classifier_fails_at_once(tmp_path):
    with pytest.raises(ModelError, match="not a claim-classifier directory"):
        ClaimClassifier(tmp_path)


# ---------------------------------------------------------------- the shipped model


def check(*lines, model=None):
    args = ["check", "-", "--format", "jsonl"] + (["--classifier", str(model)] if model else [])
    result = runner.invoke(app, args, input="\n".join(lines) + "\n")
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_shipped_model_is_small_and_documented():
    size = sum(p.stat().st_size for p in SHIPPED_MODEL.iterdir())
    assert size <= 20 * 1024 * 1024
    assert "macro-F1" in (SHIPPED_MODEL / "README.md").read_text(encoding="utf-8")


def test_shipped_model_catches_claims_without_keywords():
    rows = check("吃了这个 血糖就下来了", "我们家这个跟医院开的一样 效果一模一样", "今天不买明天就没了 后台就剩二十单")
    assert "medical_claim" in rows[0]["labels"]
    assert any(f["source"] == "classifier" for r in rows for f in r["findings"])
    assert "fake_scarcity" in rows[2]["labels"]


def test_shipped_model_passes_hard_negatives():
    rows = check("第一次来直播间的宝宝点点关注", "支持七天无理由退货 放心拍", "这个不是药品 不能治病 有病请去医院",
                 "净含量五百克 一共三十包", "今天直播间到手价九十九 就是九十九", "最近很多人问这个怎么用")
    assert [r["labels"] for r in rows] == [[]] * len(rows)


def test_a_negation_cut_off_before_the_claim_still_counts():
    classifier = ClaimClassifier(SHIPPED_MODEL)
    segments = [Segment(0, 1, "能治糖尿病", ()), Segment(0, 1, "能治糖尿病", (), before="注意这个不是药品不"),
                Segment(0, 1, "是全网最好的", (), before="我们家的东西"),
                Segment(0, 1, "能治糖尿病", (), before="这个不是药品但是")]
    labels = [[f.label for f in found] for found in classifier.findings(segments)]
    assert labels == [["medical_claim"], [], ["absolute_claim"], ["medical_claim"]]


def test_shipped_model_reads_disguised_spellings():
    rows = check("想要的宝宝加我v信 私下给你便宜", "喝了以后将血压效果特别好")
    assert "off_platform_trade" in rows[0]["labels"]
    assert "medical_claim" in rows[1]["labels"]


def test_eval_prints_per_label_figures():
    result = runner.invoke(app, ["eval", "--split", "dev"])
    assert result.exit_code == 0, result.output
    assert "macro-F1" in result.stdout and "falsely flagged" in result.stdout
    for label in LABELS:
        assert label in result.stdout
