"""`pinocchio fleet`: follow feeds on many machines (Ray), change which while it runs, and see
where each one runs. `run` is the driver (fleet/run.py); add, remove and status only touch the
store, so they work from any machine that reaches the database."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape
from rich.table import Table

from pinocchio.cli.common import (
    ComputeTypeOption,
    DbOption,
    DeviceOption,
    FormatOption,
    ModelOption,
    OutputFormat,
    emit_json,
    fail,
    or_exit,
    out,
    settings,
)
from pinocchio.core.errors import ConfigError

fleet_app = typer.Typer(help="Follow feeds on many machines (Ray): run the fleet, add and remove feeds, see where they run.",
                        no_args_is_help=True)


@fleet_app.command("run")
def fleet_run(
    streams: Annotated[Optional[Path], typer.Option("--streams", help="YAML file of the feeds to follow (added to those the store holds).")] = None,
    db: DbOption = None,
    ray: Annotated[Optional[str], typer.Option("--ray", help="Address of a running Ray cluster (host:port); default: start Ray on this machine.")] = None,
    model: ModelOption = None,
    device: DeviceOption = None,
    compute_type: ComputeTypeOption = None,
    metrics_port: Annotated[int, typer.Option("--metrics-port", help="Port of each worker's Prometheus metrics on its node (0: any free one; `fleet status` names it).")] = 0,
    webhook: Annotated[Optional[str], typer.Option("--webhook", help="POST every reminder here as JSON signed with HMAC-SHA256 [secret: env PINOCCHIO_WEBHOOK_SECRET].")] = None,
    dead_after: Annotated[float, typer.Option("--dead-after", min=1.0, help="Seconds without an answer before a worker's feeds move to another.")] = 3.0,
) -> None:
    """Run the fleet: a controller and one worker per Ray node, following every wanted feed and
    moving a dead worker's feeds to the others. SIGTERM or Ctrl-C drains it: every worker commits
    what it heard first."""
    from sqlmodel import Session

    from pinocchio.fleet.controller import ControllerOptions
    from pinocchio.fleet.run import FleetPlan, ray_module, run_fleet
    from pinocchio.fleet.worker import WorkerOptions
    from pinocchio.listen.streaming import StreamOptions
    from pinocchio.live.feeds import load_streams
    from pinocchio.store import fleet as fleet_store
    from pinocchio.store import open_store

    s = settings(db_url=db, model=model, device=device, compute_type=compute_type)
    if webhook and not s.webhook_secret:
        fail("--webhook needs a secret: PINOCCHIO_WEBHOOK_SECRET")
        raise typer.Exit(2)
    with or_exit():
        ray_module()
        engine = open_store(s.db_url)
        with Session(engine) as session:
            if streams:
                fleet_store.add_feeds(session, load_streams(streams), replace=True)
            session.commit()
            if not fleet_store.wanted(session):
                raise ConfigError("no feeds to follow: give --streams FILE or `pinocchio fleet add` some")
        engine.dispose()
        plan = FleetPlan(settings=s, stream_options=StreamOptions.from_settings(s),
                         controller=ControllerOptions(dead_after_s=dead_after),
                         worker=WorkerOptions(metrics_port=metrics_port, webhook=webhook), ray_address=ray)
    with or_exit():
        run_fleet(plan, threading.Event())  # until SIGTERM or Ctrl-C, which drain it


@fleet_app.command("add")
def fleet_add(
    name: Annotated[Optional[str], typer.Argument(help="The feed's name (as output, metrics and reports call it).")] = None,
    url: Annotated[Optional[str], typer.Argument(help="Its live URL: rtmp://, http(s)://….flv, http(s)://….m3u8")] = None,
    streamer: Annotated[Optional[str], typer.Option("--streamer", help="The streamer's id on the platform.")] = None,
    room: Annotated[Optional[str], typer.Option("--room", help="The live room.")] = None,
    streams: Annotated[Optional[Path], typer.Option("--streams", help="Add every feed of this YAML streams file.")] = None,
    db: DbOption = None,
) -> None:
    """Have the fleet follow a feed (or a streams file's); a running fleet joins it within seconds."""
    from sqlmodel import Session

    from pinocchio.live.feeds import Feed, check_url, load_streams
    from pinocchio.store import fleet as fleet_store
    from pinocchio.store import open_store

    with or_exit():
        if streams:
            feeds = load_streams(streams)
        elif name and url:
            check_url(url, "URL")
            feeds = [Feed(name=name, url=url, streamer_id=streamer, room=room)]
        else:
            raise ConfigError("give NAME URL, or --streams FILE")
        with Session(open_store(settings(db_url=db).db_url)) as session:
            added = fleet_store.add_feeds(session, feeds)
            session.commit()
    typer.echo(f"added {len(added)} feed(s)" + (f": {', '.join(added)}" if added else " (all were there)"))


@fleet_app.command("remove")
def fleet_remove(name: Annotated[str, typer.Argument(help="The feed's name.")], db: DbOption = None) -> None:
    """Stop following a feed; its worker commits what it heard first."""
    from sqlmodel import Session

    from pinocchio.store import fleet as fleet_store
    from pinocchio.store import open_store

    with or_exit():
        with Session(open_store(settings(db_url=db).db_url)) as session:
            removed = fleet_store.remove_feed(session, name)
            session.commit()
    if not removed:
        fail(f"no feed named {name!r} is followed")
        raise typer.Exit(1)
    typer.echo(f"removed {name}")


@fleet_app.command("status")
def fleet_status(db: DbOption = None, format: FormatOption = OutputFormat.table) -> None:
    """The feeds, where each runs and how far behind live; the controller and workers as last seen."""
    from sqlmodel import Session

    from pinocchio.store import fleet as fleet_store
    from pinocchio.store import open_store

    with or_exit():
        with Session(open_store(settings(db_url=db).db_url)) as session:
            feeds, members = fleet_store.feeds(session), fleet_store.members(session)
    if format is OutputFormat.jsonl:
        for feed in feeds:
            emit_json({"type": "feed", **fleet_store.feed_json(feed)})
        for member in members:
            emit_json({"type": "member", **fleet_store.member_json(member)})
        return
    table = Table(title="feeds", title_justify="left")
    for column in ("name", "state", "worker", "lag s", "segments", "moves", "url", "error"):
        table.add_column(column)
    for f in feeds:
        table.add_row(escape(f.name), f.state, f.worker or "", "" if f.lag_s is None else f"{f.lag_s:.1f}",
                      str(f.segments), str(f.moves), escape(f.url), escape(f.error or ""))
    out.print(table)
    table = Table(title="members", title_justify="left")
    for column in ("name", "state", "address", "pid", "capacity", "feeds", "metrics", "seen"):
        table.add_column(column)
    for m in members:
        table.add_row(m.name, m.state, m.address, str(m.pid or ""), "" if m.capacity is None else str(m.capacity),
                      str(m.feeds), m.metrics_url or "", m.seen_at.strftime("%H:%M:%S"))
    out.print(table)
