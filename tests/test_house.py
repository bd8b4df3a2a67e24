"""The shape of the house: which room may import which, one writer of the moderation log, nothing
process-wide at import, the environment read in one place, every room saying what lives there."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT

PACKAGE = ROOT / "pinocchio"
ROOMS = ("core", "listen", "live", "moderation", "store", "facts", "training", "fleet", "cli", "web")
# What each room may import of Pinocchio (itself always). The arrows of docs/architecture.md.
ALLOWED = {
    "core": set(),
    "store": {"core"},
    "listen": {"core", "store"},
    "facts": {"core", "store"},
    "live": {"core", "store", "listen", "facts"},
    "moderation": {"core", "store"},
    "training": {"core", "store", "listen"},
    "fleet": {"core", "store", "listen", "live", "moderation", "facts"},
    "web": {"core", "store", "moderation", "listen", "facts", "live"},  # live: the reminders' webhook sender
    "cli": set(ROOMS),
}


def modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py"))


def room_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "pinocchio" and parts[1] in ROOMS else None


def imported(path: Path) -> list[tuple[int, str]]:
    """Every pinocchio module a file imports, at the top or inside a function."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("pinocchio"):
            found += [(node.lineno, node.module)] + [(node.lineno, f"{node.module}.{a.name}") for a in node.names
                                                      if node.module == "pinocchio"]
        elif isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.startswith("pinocchio")]
    return found


def test_imports_run_one_way():
    wrong = []
    for path in modules():
        room = path.relative_to(PACKAGE).parts[0]
        if room not in ROOMS:
            continue
        for line, module in imported(path):
            target = room_of(module)
            if target and target != room and target not in ALLOWED[room]:
                wrong.append(f"{path.relative_to(ROOT)}:{line}: {room} imports {module}")
    assert not wrong, "\n".join(wrong)


def test_the_listening_side_imports_nothing_of_the_moderation_side():
    listening = [p for p in modules() if p.relative_to(PACKAGE).parts[0] in ("listen", "live")]
    assert len(listening) > 10
    for path in listening:
        for line, module in imported(path):
            assert room_of(module) not in ("moderation", "web", "cli", "training"), f"{path}:{line}: {module}"


def calls(path: Path, name: str) -> list[int]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [n.lineno for n in ast.walk(tree) if isinstance(n, ast.Call)
            and (getattr(n.func, "id", None) == name or getattr(n.func, "attr", None) == name)]


def inserts_into(path: Path, name: str) -> list[int]:
    """Where a module builds a `name` row or an INSERT into its table."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [n.lineno for n in ast.walk(tree) if isinstance(n, ast.Call)
            and (getattr(n.func, "id", None) == name
                 or (getattr(n.func, "id", None) == "insert"
                     and any(name in (getattr(a, "id", None), getattr(getattr(a, "value", None), "id", None))
                             for a in n.args)))]


def test_one_writer_appends_to_the_log():
    """A ModerationEvent row is made in one place (store/chain.append_rows), and append_rows is
    called from one function (moderation/ledger.record_all)."""
    makers = {str(p.relative_to(PACKAGE)): inserts_into(p, "ModerationEvent") for p in modules()}
    assert {k for k, v in makers.items() if v} == {"store/chain.py"}
    appenders = {str(p.relative_to(PACKAGE)): calls(p, "append_rows") for p in modules()}
    assert {k for k, v in appenders.items() if v} == {"moderation/ledger.py"}
    assert len(appenders["moderation/ledger.py"]) == 1


def test_the_environment_is_read_in_one_place():
    readers = []
    for path in modules():
        text = path.read_text(encoding="utf-8")
        for needle in ("os.environ", "os.getenv", "environ.get("):
            if needle in text:
                readers.append(str(path.relative_to(PACKAGE)))
    assert set(readers) == {"core/settings.py"}


def test_importing_every_module_changes_nothing_process_wide():
    # Alembic runs the migrations' env.py itself, inside a migration; importing it is not a use.
    names = [".".join(p.relative_to(ROOT).with_suffix("").parts) for p in modules()
             if p.name != "__main__.py" and p != PACKAGE / "store" / "migrations" / "env.py"]
    probe = ("import json, os, sys, logging, importlib\n"
             "before = dict(os.environ)\n"
             f"for name in {names!r}:\n"
             "    importlib.import_module(name.removesuffix('.__init__'))\n"
             "changed = sorted(k for k in set(before) | set(os.environ) if before.get(k) != os.environ.get(k))\n"
             "print(json.dumps({'env': changed, 'handlers': len(logging.getLogger().handlers)}))\n")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, check=True)
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {"env": [], "handlers": 0}


@pytest.mark.parametrize("room", ROOMS)
def test_every_room_says_what_lives_there_and_what_it_may_import(room):
    doc = ast.get_docstring(ast.parse((PACKAGE / room / "__init__.py").read_text(encoding="utf-8")))
    assert doc and len(doc.splitlines()) >= 2
    assert "import" in doc.lower()


def test_no_module_is_a_sprawl():
    long = [f"{p.relative_to(ROOT)}: {n} lines" for p in modules()
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > 600]
    assert not long, long
