"""One settings object: flag > environment > default, bad values named, and the README's table of
settings kept in step with the code."""

from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path

import pytest
from conftest import ROOT

from pinocchio.core.errors import ConfigError
from pinocchio.core.settings import Settings, package_data, settings_table

README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_the_readme_table_is_the_settings_table():
    block = re.search(r"<!-- settings -->\n(.*?)\n<!-- /settings -->", README, re.S)
    assert block, "README.md needs the settings table between <!-- settings --> and <!-- /settings -->"
    assert block.group(1).strip() == settings_table(), "run: python -m pinocchio.core.settings"


def test_every_setting_has_its_own_variable_and_a_description():
    names = [f.metadata["env"] for f in fields(Settings)]
    assert len(names) == len(set(names)) and all(n.startswith("PINOCCHIO_") for n in names)
    assert all(f.metadata["help"].strip() for f in fields(Settings))


def test_defaults_need_no_environment_and_point_into_the_package():
    s = Settings()
    assert s.lexicon_dir == package_data("lexicons") and (s.lexicon_dir / "medical_claim.yaml").is_file()
    assert (s.prompts_dir / "reminders").is_dir() and s.ladder_path.is_file()
    assert (s.db_url, s.device, s.model, s.classifier) == ("sqlite:///pinocchio.db", "cpu", "base", "")


def test_the_environment_over_defaults_and_flags_over_the_environment(tmp_path):
    env = {"PINOCCHIO_DB": "sqlite:///x.db", "PINOCCHIO_DEVICE": "cuda", "PINOCCHIO_CPU_THREADS": "3",
           "PINOCCHIO_ASR_PROMPT": "1", "PINOCCHIO_API_KEYS": " a, b ,", "PINOCCHIO_HTTPS": "0",
           "PINOCCHIO_LADDER": str(tmp_path / "l.yaml"), "XDG_CACHE_HOME": str(tmp_path),
           "PINOCCHIO_LIVE_PAUSE_S": "0.5"}
    s = Settings.from_env(env)
    assert (s.db_url, s.device, s.cpu_threads, s.asr_prompt, s.api_keys, s.https) == \
        ("sqlite:///x.db", "cuda", 3, True, ("a", "b"), False)
    assert s.ladder_path == tmp_path / "l.yaml" and s.cache_dir == tmp_path / "pinocchio"
    assert s.live_pause_s == 0.5
    flagged = s.with_overrides(db_url="sqlite:///y.db", device=None)
    assert (flagged.db_url, flagged.device) == ("sqlite:///y.db", "cuda")
    assert Settings.from_env({}).db_url == Settings().db_url


def test_a_bad_value_names_its_variable():
    with pytest.raises(ConfigError, match=r"^PINOCCHIO_CPU_THREADS='many': not a valid value$"):
        Settings.from_env({"PINOCCHIO_CPU_THREADS": "many"})


def test_evidence_goes_beside_the_sqlite_file_unless_set(tmp_path):
    assert Settings(db_url=f"sqlite:///{tmp_path}/a.db").evidence_path() == tmp_path / "evidence"
    assert Settings(db_url="x.db", evidence_dir=Path("/clips")).evidence_path() == Path("/clips")
