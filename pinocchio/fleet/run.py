"""`pinocchio fleet run`: the driver. It joins a Ray cluster (or starts one on this machine),
starts the controller on its own node and one worker on every node, keeps a worker on each node
that joins and tells the controller as nodes come and go. The driver owns the actors: when it is
stopped (SIGTERM) the workers drain, committing what they had heard, and the fleet ends with it.
Ray restarts a killed controller or worker in place; the controller moves the feeds meanwhile."""

from __future__ import annotations

import logging
import signal
import threading
from dataclasses import dataclass, field

from pinocchio.core.errors import ConfigError
from pinocchio.core.settings import Settings
from pinocchio.fleet.controller import ControllerActor, ControllerOptions
from pinocchio.fleet.worker import FleetWorker, WorkerOptions
from pinocchio.listen.streaming import StreamOptions

log = logging.getLogger(__name__)

NAMESPACE = "pinocchio"
DRAIN_S = 120.0  # how long the workers get to commit what they heard


@dataclass(frozen=True)
class FleetPlan:
    settings: Settings
    stream_options: StreamOptions = StreamOptions()
    controller: ControllerOptions = ControllerOptions()
    worker: WorkerOptions = WorkerOptions()
    ray_address: str | None = None  # None: start Ray on this machine
    ray_init: dict = field(default_factory=dict)  # more for ray.init (tests keep it small)


def ray_module():
    try:
        import ray
    except ModuleNotFoundError:
        raise ConfigError("the fleet runs on Ray, which is not installed: pip install 'pinocchio[fleet]'") from None
    return ray


def connect(address: str | None, **more) -> None:
    ray = ray_module()
    try:
        ray.init(address=address, namespace=NAMESPACE, log_to_driver=True, **more)
    except (ConnectionError, ValueError, RuntimeError) as exc:
        raise ConfigError(f"--ray {address}: {str(exc).splitlines()[0]}") from None


def run_fleet(plan: FleetPlan, stop: threading.Event) -> None:
    """Run the fleet until `stop` is set (or SIGTERM / Ctrl-C comes), then drain it."""
    ray = ray_module()
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    connect(plan.ray_address, **plan.ray_init)
    # After ray.init, which puts its own SIGTERM handler (a stack dump and exit) in place: a signal
    # drains the fleet instead.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    here = ray.get_runtime_context().get_node_id()
    # num_cpus=0: the actors are placed by node, not by Ray's CPU count; a killed one is started
    # again on its node (max_restarts=-1), and its threads answer status calls while feeds run.
    try:
        controller = ray.remote(ControllerActor).options(
            name="controller", max_restarts=-1, max_concurrency=4, num_cpus=0,
            scheduling_strategy=NodeAffinitySchedulingStrategy(here, soft=False)).remote(
                plan.settings.db_url, plan.controller)
    except ValueError as exc:  # the name is taken: another driver runs a fleet on this cluster
        ray.shutdown()
        raise ConfigError(f"a fleet already runs on this Ray cluster ({str(exc).splitlines()[0]})") from None
    workers: dict[str, tuple] = {}
    try:
        while True:
            nodes = {n["NodeID"]: n["NodeManagerAddress"] for n in ray.nodes() if n["Alive"]}
            for node, address in nodes.items():
                name = f"worker@{node[:8]}"
                if name not in workers:
                    log.info("node %s (%s) joined: starting %s", node[:8], address, name)
                    handle = ray.remote(FleetWorker).options(
                        name=name, max_restarts=-1, max_concurrency=8, num_cpus=0,
                        scheduling_strategy=NodeAffinitySchedulingStrategy(node, soft=False)).remote(
                            name, plan.settings, plan.stream_options, plan.worker)
                    workers[name] = (handle, node, address)
            for name, (_, node, _) in list(workers.items()):
                if node not in nodes:
                    log.warning("node %s left the cluster: %s is gone", node[:8], name)
                    del workers[name]
            controller.set_workers.remote(workers)
            if stop.wait(plan.controller.poll_s):
                break
        log.info("draining: every worker commits what it heard")
        ray.get(controller.drain.remote(DRAIN_S), timeout=DRAIN_S + 30)
    finally:
        ray.shutdown()
