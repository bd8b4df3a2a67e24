"""The package as a user gets it: a wheel built from the checkout (no setuptools warnings),
installed into a fresh environment outside it, flags a claim with `pinocchio check` and scans the
demo with the data it carries (lexicons, prompts, ladder, label table, classifier)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile

import pytest
from conftest import DEMO, ROOT, false_flags, missed_claims

pytestmark = pytest.mark.slow

SHIPPED = ("pinocchio/data/labels.yaml", "pinocchio/data/ladder.yaml", "pinocchio/data/lexicons/medical_claim.yaml",
           "pinocchio/data/prompts/reminders/medical_claim.txt", "pinocchio/data/claim_classifier/model.onnx",
           "pinocchio/web/templates/case.html", "pinocchio/web/static/console.css")


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without anything that points back into the checkout."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PINOCCHIO_", "PYTHON", "VIRTUAL_ENV")) and k != "PATH"}
    return {**env, "PATH": "/usr/local/bin:/usr/bin:/bin", **extra}


def run(args, cwd, env, timeout=900) -> subprocess.CompletedProcess:
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{' '.join(map(str, args))}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("wheel")
    built = run([sys.executable, "-m", "build", "--wheel", "--outdir", str(tmp / "dist"), str(ROOT)], cwd=tmp,
                env=clean_env())
    noise = [line for line in (built.stdout + built.stderr).splitlines() if "warning" in line.lower()]
    assert not noise, noise
    wheel, = (tmp / "dist").glob("pinocchio-*.whl")
    env_dir = tmp / "env"
    run([sys.executable, "-m", "venv", str(env_dir)], cwd=tmp, env=clean_env())
    pip = [str(env_dir / "bin" / "python"), "-m", "pip", "install", "-q"]
    run(pip + ["torch==2.13.0"], cwd=tmp, env=clean_env())  # the CPU build kept on these machines
    run(pip + [str(wheel)], cwd=tmp, env=clean_env())
    return tmp, wheel, env_dir / "bin" / "pinocchio"


def test_the_wheel_carries_the_data(installed):
    _, wheel, _ = installed
    names = set(zipfile.ZipFile(wheel).namelist())
    assert set(SHIPPED) <= names
    assert not any(n.startswith(("tests/", "seeds/", "fixtures/", "benchmarks/")) for n in names)


def test_the_installed_command_flags_a_claim_from_outside_the_checkout(installed):
    tmp, _, pinocchio = installed
    done = subprocess.run([str(pinocchio), "check", "-", "--format", "jsonl"], cwd=tmp, env=clean_env(),
                          capture_output=True, text=True, input="这个茶能治糖尿病\n家人们晚上好\n", timeout=300)
    assert done.returncode == 0, done.stderr
    claim, hello = [json.loads(line) for line in done.stdout.splitlines()]
    assert claim["labels"] and "medical_claim" in claim["labels"] and claim["findings"][0]["article"]
    assert hello["labels"] == [] and hello["action"] == "pass"
    imported = subprocess.run([str(pinocchio.parent / "python"), "-c", "import pinocchio; print(pinocchio.__file__)"],
                              cwd=tmp, env=clean_env(), capture_output=True, text=True, check=True)
    assert "site-packages" in imported.stdout and str(ROOT) not in imported.stdout


def test_the_installed_command_scans_the_demo(installed):
    tmp, _, pinocchio = installed
    done = run([str(pinocchio), "scan", str(DEMO), "--db", str(tmp / "demo.db"), "--format", "jsonl"], cwd=tmp,
               env=clean_env())
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    assert rows and not missed_claims(rows) and not false_flags(rows)
    assert (tmp / "evidence").is_dir() and any((tmp / "evidence").glob("*.opus"))
