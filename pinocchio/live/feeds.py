"""What the live worker follows: feeds named on the command line or in a streams file that says
whose room each one is.

A streams file (YAML):

    version: 1
    streams:
      - name: room42                          # how output, metrics and reports call it
        url: rtmp://live.example.com/live/room42
        streamer: s-1001                      # the streamer's id on the platform
        room: "42"                            # the live room
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

import yaml

from pinocchio.core.errors import ConfigError
from pinocchio.core.records import Feed
from pinocchio.core.urls import live_url_problem
from pinocchio.core.yaml_file import key_nodes, line_of, read_yaml

ENTRY_KEYS = {"name", "url", "streamer", "room"}


def feed_for(url: str) -> Feed:
    """A feed named after the last part of its URL (rtmp://host/live/room42 -> room42)."""
    path = urlparse(url).path.rstrip("/")
    name = path.rsplit("/", 1)[-1] or urlparse(url).netloc
    return Feed(name=name.removesuffix(".flv").removesuffix(".m3u8"), url=url)


def check_url(url: str, where: str) -> None:
    if problem := live_url_problem(url):
        raise ConfigError(f"{where}: {problem}")


def feeds_for(urls: list[str], streams: Path | None) -> list[Feed]:
    """The feeds of a streams file and of URLs given on the command line; none is an error."""
    feeds = load_streams(streams) if streams else []
    for url in urls:
        check_url(url, "URL")
        feeds.append(feed_for(url))
    if not feeds:
        raise ConfigError("no feeds: give URLs or --streams FILE")
    return feeds


def load_streams(path: Path) -> list[Feed]:
    """The feeds of a streams file; the first problem is raised as file:line: reason."""
    root = read_yaml(path, ConfigError).root
    top = _mapping(root, path, 1, "a mapping with version and streams")
    if "version" not in top:
        raise ConfigError(f"{path}:1: version is missing")
    streams = top.get("streams")
    if streams is None or not isinstance(streams[1], yaml.SequenceNode) or not streams[1].value:
        raise ConfigError(f"{path}:{streams[0] if streams else 1}: streams must be a non-empty list")
    feeds: list[Feed] = []
    names: dict[str, int] = {}
    for node in streams[1].value:
        line = line_of(node)
        where = f"{path}:{line}"
        entry = _mapping(node, path, line, "an entry with name, url, streamer, room")
        unknown = set(entry) - ENTRY_KEYS
        if unknown:
            key = sorted(unknown)[0]
            raise ConfigError(f"{path}:{entry[key][0]}: unknown key '{key}' (valid: {', '.join(sorted(ENTRY_KEYS))})")
        values = {key: _scalar(value_node, path) for key, (_, value_node) in entry.items()}
        if "url" not in values:
            raise ConfigError(f"{where}: url is missing")
        check_url(values["url"], f"{path}:{entry['url'][0]}")
        feed = feed_for(values["url"])
        name = values.get("name", feed.name)
        if name in names:
            raise ConfigError(f"{where}: the name '{name}' is already used at line {names[name]}")
        names[name] = line
        feeds.append(Feed(name=name, url=values["url"], streamer_id=values.get("streamer"), room=values.get("room")))
    return feeds


def _mapping(node: yaml.Node, path: Path, line: int, expected: str) -> dict[str, tuple[int, yaml.Node]]:
    if not isinstance(node, yaml.MappingNode):
        raise ConfigError(f"{path}:{line}: expected {expected}")
    return key_nodes(node)


def _scalar(node: yaml.Node, path: Path) -> str:
    if not isinstance(node, yaml.ScalarNode) or not str(node.value).strip():
        raise ConfigError(f"{path}:{line_of(node)}: expected a non-empty text value")
    return str(node.value).strip()
