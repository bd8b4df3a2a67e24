"""A private PostgreSQL cluster for tests and benchmarks: initdb into a temporary folder, listening on
127.0.0.1 only and a socket in that folder, trust auth for its one user (MODELS.md has the recipe).
PostgreSQL refuses to run as root, so as root the cluster is run as `nobody`."""

from __future__ import annotations

import glob
import itertools
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from nginx_server import free_port

INSTALL_HINT = "apt-get install postgresql (scripts/setup.sh --test does it)"
USER = "pino"


def binaries() -> Path | None:
    """Debian's versioned folder (/usr/lib/postgresql/N/bin), newest first, else initdb on PATH."""
    for folder in sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name), reverse=True):
        if (Path(folder) / "initdb").exists():
            return Path(folder)
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def missing() -> str | None:
    return None if binaries() else f"PostgreSQL is not installed: {INSTALL_HINT}"


def _as_owner(args: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return args
    return ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", *args]


@dataclass
class PostgresServer:
    folder: Path
    port: int
    bin: Path
    _names: itertools.count = field(default_factory=lambda: itertools.count(1))

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://{USER}@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        """A fresh, empty database on this cluster; its URL."""
        name = f"t{next(self._names)}"
        self.psql(f"CREATE DATABASE {name}")
        return self.url(name)

    def psql(self, sql: str) -> str:
        done = subprocess.run([str(self.bin / "psql") if (self.bin / "psql").exists() else "psql", "-X", "-q", "-At",
                               "-h", "127.0.0.1", "-p", str(self.port), "-U", USER, "-d", "postgres", "-c", sql],
                              capture_output=True, text=True)
        if done.returncode:
            raise RuntimeError(f"psql {sql!r}: {done.stderr.strip()}")
        return done.stdout

    def log(self, tail_chars: int = 2000) -> str:
        path = self.folder / "log"
        return path.read_text(errors="replace")[-tail_chars:] if path.exists() else ""

    def stop(self) -> None:
        subprocess.run(_as_owner([str(self.bin / "pg_ctl"), "-D", str(self.folder / "data"), "-m", "fast", "-w",
                                  "stop"]), capture_output=True)


def start_postgres(folder: Path, durable: bool = False) -> PostgresServer:
    """Start a cluster in `folder` and return once it accepts connections. Not `durable` (tests):
    no fsync, which only matters when the machine loses power. Raises RuntimeError with the
    reason and PostgreSQL's own words when it cannot start."""
    bin = binaries()
    if bin is None:
        raise RuntimeError(missing())
    folder.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        shutil.chown(folder, "nobody", "nogroup")
    port = free_port()
    init = subprocess.run(_as_owner([str(bin / "initdb"), "-D", str(folder / "data"), "-U", USER, "--auth=trust",
                                     "-E", "UTF8", "--locale=C.UTF-8"]), capture_output=True, text=True)
    if init.returncode:
        raise RuntimeError(f"initdb failed: {(init.stderr or init.stdout).strip()[-1000:]}")
    options = f"-k {folder} -p {port} -c listen_addresses=127.0.0.1 -c max_connections=300"
    if not durable:
        options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    start = subprocess.run(_as_owner([str(bin / "pg_ctl"), "-D", str(folder / "data"), "-l", str(folder / "log"),
                                      "-w", "-t", "30", "start", "-o", options]), capture_output=True, text=True)
    server = PostgresServer(folder, port, bin)
    if start.returncode:
        raise RuntimeError(f"PostgreSQL did not start: {start.stderr.strip()} {server.log()}")
    return server
