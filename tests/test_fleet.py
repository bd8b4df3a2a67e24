"""The fleet on a real cluster: tests/fleet/ run by a pytest of their own inside a private network
namespace, where only loopback exists, so that Ray (which binds the machine's own address) and
everything it talks to stay on 127.0.0.1 (MODELS.md). Root is enough for the namespace; without it
a user namespace maps us to root inside."""

import os
import subprocess
import sys

import pytest
from conftest import ROOT

pytestmark = pytest.mark.slow


def test_the_fleet_on_a_two_node_ray_cluster_in_a_private_network():
    private = ["unshare", "--net"] if os.geteuid() == 0 else ["unshare", "--user", "--map-root-user", "--net"]
    inner = 'ip link set lo up && exec "$0" -m pytest -q -p no:cacheprovider -x tests/fleet'
    done = subprocess.run([*private, "sh", "-c", inner, sys.executable], cwd=ROOT, capture_output=True, text=True,
                          timeout=900)
    assert done.returncode == 0, (done.stdout + done.stderr)[-12000:]
    assert " passed" in done.stdout and "skipped" not in done.stdout, done.stdout[-3000:]
