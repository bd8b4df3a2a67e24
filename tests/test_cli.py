"""The CLI end to end, in process, on the shipped lexicons (no audio here: see test_scan.py)."""

import json

import pytest
import typer
from conftest import ROOT
from typer.testing import CliRunner

from pinocchio.cli import app

runner = CliRunner()


def invoke(*args, input=None):
    return runner.invoke(app, list(args), input=input)


def all_commands(group=None, path=()):
    """Every command and group of the `pinocchio` tree, walked from typer's click group."""
    group = group or typer.main.get_command(app)
    for name, command in sorted(group.commands.items()):
        yield (*path, name), command
        if getattr(command, "commands", None):  # a group
            yield from all_commands(command, (*path, name))


COMMANDS = list(all_commands())
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_the_tree_is_found():
    names = {" ".join(p) for p, _ in COMMANDS}
    assert {"scan", "live", "check", "serve", "train", "eval", "webhooks failed", "cases confirm", "db rebuild"} <= names


@pytest.mark.parametrize("path, command", COMMANDS, ids=[" ".join(p) for p, _ in COMMANDS])
def test_every_command_has_help_and_is_in_the_readme(path, command):
    assert (command.help or "").strip(), f"pinocchio {' '.join(path)} has no help text"
    result = invoke(*path, "--help")
    assert result.exit_code == 0 and "Usage" in result.output
    assert f"pinocchio {' '.join(path)}" in README, f"the README does not show pinocchio {' '.join(path)}"


def test_check_jsonl_one_object_per_line():
    lines = "这个茶能治糖尿病\n\n第一次来直播间的宝宝点个关注\n加我薇信私下转账更便宜\n"
    result = invoke("check", "-", "--format", "jsonl", input=lines)
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.output.splitlines()]
    assert [r["text"] for r in rows] == ["这个茶能治糖尿病", "第一次来直播间的宝宝点个关注", "加我薇信私下转账更便宜"]
    assert "medical_claim" in rows[0]["labels"] and rows[0]["action"] == "review"
    assert rows[1]["labels"] == [] and rows[1]["action"] == "pass"
    assert "off_platform_trade" in rows[2]["labels"]
    for row in rows:
        for f in row["findings"]:
            assert {"source", "label", "term", "severity", "article", "span"} <= set(f)
            assert row["text"][f["span"][0]:f["span"][1]] == f["matched"]


def test_check_reads_a_file_and_prints_a_table(tmp_path):
    path = tmp_path / "claims.txt"
    path.write_text("全网最低价\n七天无理由退货\n", encoding="utf-8")
    result = invoke("check", str(path))
    assert result.exit_code == 0
    assert "2 lines, 1 flagged" in result.output and "absolute_claim" in result.output


def test_lexicon_check_ok():
    result = invoke("lexicon", "check")
    assert result.exit_code == 0 and result.output.strip().splitlines()[-1].startswith("ok: ")


def test_broken_lexicon_stops_before_any_work(tmp_path):
    bad = tmp_path / "lex"
    bad.mkdir()
    (bad / "superstition.yaml").write_text(
        'label: superstition\nversion: "1"\ndefault_article: "x"\nterms:\n  - {term: 开光, severity: 9}\n', encoding="utf-8")
    result = invoke("lexicon", "check", "--lexicons", str(bad))
    assert result.exit_code == 1 and "superstition.yaml:5: severity must be 1, 2 or 3" in result.output
    db = tmp_path / "x.db"
    result = invoke("scan", "--lexicons", str(bad), "--db", str(db), "does-not-matter.wav")
    assert result.exit_code == 2 and "superstition.yaml:5:" in result.output
    assert not db.exists()  # stopped before any work: not even the database was created


def test_models_commands(tmp_path, monkeypatch):
    monkeypatch.setenv("PINOCCHIO_CACHE_DIR", str(tmp_path))
    assert invoke("models", "list").output.startswith("base\tinstallable")
    result = invoke("models", "path")
    assert result.exit_code == 0 and result.output.strip() == str(tmp_path / "models" / "whisper-base")
    assert invoke("models", "list").output.startswith("base\tassembled")
    result = invoke("models", "path", "nope")
    assert result.exit_code == 2 and "unknown model 'nope'" in result.output


def test_seeds_check_names_broken_lines(tmp_path):
    from pinocchio.training.corpus import DEFAULT_CORPUS

    good = DEFAULT_CORPUS.read_text(encoding="utf-8").splitlines()[:3]
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("\n".join(good + ['{"id": "x-0001", "text": "hi"'] + good[:1]) + "\n", encoding="utf-8")
    result = invoke("seeds", "check", str(corpus))
    assert result.exit_code == 1
    assert "corpus.jsonl:4: invalid JSON" in result.output and "corpus.jsonl:5: duplicate id" in result.output
    assert invoke("seeds", "check").exit_code == 0


def test_check_with_the_lexicon_alone():
    result = invoke("check", "-", "--format", "jsonl", "--classifier", "none", input="吃了这个 血糖就下来了 真的\n")
    assert result.exit_code == 0
    assert all(f["source"] == "lexicon" for f in json.loads(result.stdout)["findings"])


def test_a_bad_classifier_directory_is_one_line(tmp_path):
    result = invoke("check", "-", "--classifier", str(tmp_path), input="全网最低价\n")
    assert result.exit_code == 2 and "not a claim-classifier directory" in result.output


@pytest.mark.parametrize("device, message", [
    ("cuda", "device 'cuda': no CUDA device is visible here (use --device cpu)"),
    ("tpu", "device 'tpu' is not one of: cpu, cuda, auto"),
])
def test_the_whisper_device_is_a_setting_and_a_missing_one_is_one_line(tmp_path, device, message):
    """No CUDA on this machine: asking for it fails in one line, naming the way out."""
    import ctranslate2

    if device == "cuda" and ctranslate2.get_cuda_device_count():
        pytest.skip("this machine has a CUDA device")
    clip = ROOT / "fixtures" / "speech" / "funasr_paraformer_example_0.wav"
    result = runner.invoke(app, ["scan", "--db", str(tmp_path / "d.db"), "--device", device, str(clip)])
    assert result.exit_code != 0
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert errors == [f"error: {clip}: {message}"] or errors == [f"error: {message}"], result.stderr
