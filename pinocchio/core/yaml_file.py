"""YAML files that people edit by hand (lexicons, streams, the ladder), read safely and with their
line numbers kept, so that every mistake can be reported as file:line: reason."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when PyYAML has it: 5x faster start-up


class YamlFileError(Exception):
    """A file that is not readable YAML; the message is 'file:line: reason'."""


@dataclass(frozen=True)
class YamlFile:
    path: Path
    data: Any  # the document as plain Python values
    root: yaml.Node | None  # the same document as nodes, which know their lines


def read_yaml(path: Path, error: type[Exception] = YamlFileError) -> YamlFile:
    """The file as data and as nodes; a file that cannot be read is `error` ('file:line: reason'),
    so each caller raises its own kind (a broken lexicon is a LexiconError)."""
    try:
        return _read(path)
    except YamlFileError as exc:
        if error is YamlFileError:
            raise
        raise error(str(exc)) from None


def _read(path: Path) -> YamlFile:
    try:
        text = path.read_text(encoding="utf-8")
        return YamlFile(path, yaml.load(text, Loader=_Loader), yaml.compose(text, Loader=_Loader))
    except OSError as exc:
        raise YamlFileError(f"{path}: cannot read it ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise YamlFileError(f"{path}:1: not UTF-8 text") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        raise YamlFileError(f"{path}:{mark.line + 1 if mark else 1}: YAML syntax error: "
                            f"{getattr(exc, 'problem', None) or exc}") from None


def line_of(node: yaml.Node) -> int:
    return node.start_mark.line + 1


def key_nodes(node: yaml.Node) -> dict[str, tuple[int, yaml.Node]]:
    """A mapping node's keys with each key's line and its value's node ({} for anything else)."""
    if not isinstance(node, yaml.MappingNode):
        return {}
    return {key.value: (line_of(key), value) for key, value in node.value}
