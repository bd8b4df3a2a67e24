"""`pinocchio serve`: the reviewers' console and the HTTP API."""

from __future__ import annotations

from typing import Annotated

import typer

from pinocchio.cli.common import DbOption, EvidenceOption, err, or_exit, settings


def serve(
    db: DbOption = None,
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port to listen on.")] = 8000,
    evidence: EvidenceOption = None,
    demo: Annotated[bool, typer.Option("--demo", help="Serve a demo database (built once from the demo recording) with demo accounts.")] = False,
) -> None:
    """Run the reviewers' console and the HTTP API (API keys: PINOCCHIO_API_KEYS, comma-separated)."""
    import uvicorn

    from pinocchio.web import create_app

    s = settings(db_url=db, evidence_dir=evidence)
    with or_exit():
        if demo:
            from pinocchio.web import demo as demo_db

            err.print("Preparing the demo database (the first time it scans the demo recording: about a minute)...")
            s = demo_db.prepare_demo(settings(evidence_dir=evidence), db)
            s = s.with_overrides(api_keys=s.api_keys or (demo_db.API_KEY,))
        application = create_app(s)
    if demo:
        accounts = ", ".join(f"{a.name} / {a.password} ({a.role})" for a in demo_db.ACCOUNTS)
        typer.echo(f"Demo console: http://{host}:{port}  log in as {accounts}")
        if s.api_keys == (demo_db.API_KEY,):
            typer.echo(f"Demo API key: {demo_db.API_KEY}")
    elif not s.api_keys:
        err.print("No PINOCCHIO_API_KEYS: the HTTP API refuses every call (the console works).")
    uvicorn.run(application, host=host, port=port, log_level="warning")
