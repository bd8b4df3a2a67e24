"""Streams files: each feed with its streamer and room; every mistake named by file and line."""

import pytest
from typer.testing import CliRunner

from pinocchio.cli import app
from pinocchio.core.errors import ConfigError
from pinocchio.live.feeds import Feed, feed_for, load_streams

GOOD = """\
version: 1
streams:
  - name: tea-room
    url: rtmp://127.0.0.1:1935/live/room42
    streamer: s-1001
    room: "42"
  - url: http://127.0.0.1:8080/hls/jade.m3u8
    streamer: s-2002
"""


def write(tmp_path, text):
    path = tmp_path / "streams.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_feeds_carry_streamer_and_room_and_default_their_name(tmp_path):
    assert load_streams(write(tmp_path, GOOD)) == [
        Feed("tea-room", "rtmp://127.0.0.1:1935/live/room42", "s-1001", "42"),
        Feed("jade", "http://127.0.0.1:8080/hls/jade.m3u8", "s-2002", None),
    ]


@pytest.mark.parametrize("text, message", [
    (GOOD.replace("version: 1\n", ""), ":1: version is missing"),
    (GOOD.replace("    streamer: s-2002\n", "    streamr: s-2002\n"), ":8: unknown key 'streamr' (valid: name, room, streamer, url)"),
    (GOOD.replace("http://127.0.0.1:8080/hls/jade.m3u8", "/tmp/jade.mp4"), ":7: '/tmp/jade.mp4' is not a live URL"),
    (GOOD.replace("  - url: http", "  - name: tea-room\n    url: http"), ":7: the name 'tea-room' is already used at line 3"),
    (GOOD.replace('room: "42"', "room: [4, 2]"), ":6: expected a non-empty text value"),
    ("version: 1\nstreams: []\n", ":2: streams must be a non-empty list"),
    ("version: 1\nstreams:\n  - url: rtmp://a/b\n   room: x\n", ":4: YAML syntax error"),
])
def test_a_broken_streams_file_names_the_line(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_streams(path)
    assert str(err.value).startswith(f"{path}{message}"), str(err.value)


def test_feed_names_come_from_the_url():
    assert feed_for("rtmp://h/live/room42").name == "room42"
    assert feed_for("http://h/hls/jade.m3u8").name == "jade"
    assert feed_for("http://h:8080/x/tea.flv").name == "tea"


def test_live_refuses_a_bad_streams_file_before_loading_anything(tmp_path):
    path = write(tmp_path, GOOD.replace("version: 1\n", ""))
    result = CliRunner().invoke(app, ["live", "--streams", str(path), "--db", str(tmp_path / "x.db")])
    assert result.exit_code == 2
    assert f"{path}:1: version is missing" in result.stderr


def test_live_without_feeds_says_so(tmp_path):
    result = CliRunner().invoke(app, ["live", "--db", str(tmp_path / "x.db")])
    assert result.exit_code == 2 and "no feeds" in result.stderr


@pytest.mark.parametrize("option", [["--pause", "0.01"], ["--max-utterance", "1"], ["--max-utterance", "60"],
                                    ["--commit", "eager"]])
def test_live_refuses_cut_settings_out_of_range(tmp_path, option):
    result = CliRunner().invoke(app, ["live", "rtmp://127.0.0.1/live/x", "--db", str(tmp_path / "x.db"), *option])
    assert result.exit_code == 2 and option[0] in result.stderr
