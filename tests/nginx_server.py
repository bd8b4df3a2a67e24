"""A private nginx with the RTMP module, for tests against a real streaming server: RTMP in, RTMP
and HLS out, on loopback ports under a temporary prefix (MODELS.md has the measured recipe)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

RTMP_MODULE = Path("/usr/lib/nginx/modules/ngx_rtmp_module.so")
INSTALL_HINT = "apt-get install nginx libnginx-mod-rtmp (scripts/setup.sh --test does it)"

CONFIG = """\
load_module {module};
{user}daemon off; master_process on; worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/logs/error.log info;
events {{ worker_connections 256; }}
rtmp {{
    access_log {prefix}/logs/rtmp-access.log;  # else the module writes to /var/log/nginx
    server {{ listen 127.0.0.1:{rtmp_port}; chunk_size 4096;
        # idle_streams off: players of a stream nobody publishes are turned away, and dropped
        # (EOF at once) when its publisher dies, instead of hanging on. A 30 s playlist
        # (nginx-rtmp's default): an HLS player kept 10 s behind by whisper on a busy machine skipped
        # fragments that had left a 10 s one, and a fleet worker taking over a feed rejoins as far
        # back as the dead worker was behind and had not decoded, 12-30 s in the fleet test. nginx
        # deletes the playlist 30-60 s after the publisher stops; then players drop.
        application live {{ live on; idle_streams off; record off;
            hls on; hls_path {prefix}/hls; hls_fragment 2s; hls_playlist_length 30s; }} }} }}
http {{
    access_log {prefix}/logs/access.log;
    client_body_temp_path {prefix}/tmp/body; proxy_temp_path {prefix}/tmp/proxy;
    fastcgi_temp_path {prefix}/tmp/fastcgi; uwsgi_temp_path {prefix}/tmp/uwsgi; scgi_temp_path {prefix}/tmp/scgi;
    types {{ application/vnd.apple.mpegurl m3u8; video/mp2t ts; }}
    server {{ listen 127.0.0.1:{http_port};
        location /hls {{ alias {prefix}/hls; add_header Cache-Control no-cache; }} }} }}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def nginx_binary() -> str | None:
    # Debian puts it in /usr/sbin, which is not on every user's PATH.
    return shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin")


def missing() -> str | None:
    """Why nginx with the RTMP module cannot run here, or None."""
    if not nginx_binary():
        return f"nginx is not installed: {INSTALL_HINT}"
    if not RTMP_MODULE.exists():
        return f"the nginx RTMP module is not installed ({RTMP_MODULE}): {INSTALL_HINT}"
    return None


def _accepts(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


@dataclass
class NginxServer:
    prefix: Path
    rtmp_port: int
    http_port: int
    process: subprocess.Popen
    publishers: list[subprocess.Popen] = field(default_factory=list)

    def rtmp_url(self, name: str) -> str:
        return f"rtmp://127.0.0.1:{self.rtmp_port}/live/{name}"

    def hls_url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.http_port}/hls/{name}.m3u8"

    def publish(self, path: Path, name: str, start_s: float = 0.0, seconds: float | None = None,
                progress: bool = False) -> subprocess.Popen:
        """Publish a recording (or a stretch of it) in real time, as a streamer's encoder would.
        With `progress`, ffmpeg writes its `key=value` progress (media time sent) to stdout."""
        stretch = ["-ss", str(start_s)] + (["-t", str(seconds)] if seconds is not None else [])
        report = ["-progress", "pipe:1"] if progress else []
        self.publishers.append(subprocess.Popen(
            ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", *report, "-re", *stretch,
             "-i", str(path), "-vn", "-c:a", "aac", "-f", "flv", self.rtmp_url(name)],
            stdout=subprocess.PIPE if progress else None, text=progress))
        return self.publishers[-1]

    def logs(self, tail_chars: int = 2000) -> str:
        """The end of what nginx said, for a failure message."""
        text = ""
        for name in ("stderr.log", "error.log"):
            path = self.prefix / "logs" / name
            text += path.read_text(errors="replace") if path.exists() else ""
        return text[-tail_chars:].strip()

    def stop(self) -> None:
        for publisher in self.publishers:  # left running by a test that failed half-way
            publisher.kill()
            publisher.wait()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGQUIT)  # graceful: workers finish and exit
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_nginx(prefix: Path, timeout_s: float = 10.0) -> NginxServer:
    """Start nginx in the foreground and return once both ports accept connections. Raises
    RuntimeError with the reason (and nginx's own words) when it cannot."""
    if reason := missing():
        raise RuntimeError(reason)
    for sub in ("logs", "tmp", "hls"):
        (prefix / sub).mkdir(parents=True, exist_ok=True)
    rtmp_port, http_port = free_port(), free_port()
    # As root, nginx would switch its workers to `nobody`, who cannot write the HLS fragments here.
    user = "user root;\n" if os.geteuid() == 0 else ""
    (prefix / "nginx.conf").write_text(CONFIG.format(module=RTMP_MODULE, user=user, prefix=prefix,
                                                     rtmp_port=rtmp_port, http_port=http_port))
    with open(prefix / "logs" / "stderr.log", "wb") as stderr:  # what it says before it reads its config
        process = subprocess.Popen([nginx_binary(), "-p", str(prefix), "-e", str(prefix / "logs" / "error.log"),
                                    "-c", str(prefix / "nginx.conf")], stdout=subprocess.DEVNULL, stderr=stderr)
    server = NginxServer(prefix, rtmp_port, http_port, process)
    deadline = time.monotonic() + timeout_s
    while not (_accepts(rtmp_port) and _accepts(http_port)):
        if process.poll() is not None:
            raise RuntimeError(f"nginx exited ({process.returncode}): {server.logs()}")
        if time.monotonic() > deadline:
            server.stop()
            raise RuntimeError(f"nginx did not accept connections within {timeout_s:.0f} s: {server.logs()}")
        time.sleep(0.1)
    return server
