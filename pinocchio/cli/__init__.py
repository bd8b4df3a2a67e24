"""The `pinocchio` command: one module per command group, each parsing, calling the library and
printing; the shared options and error handling are in `common`. The top of the house: it may
import every room, and no moderation or detection logic lives here."""

from __future__ import annotations

import logging
import sys
from typing import Annotated

import typer

from pinocchio.cli import data, desk, fleet, listen, moderation, records, serve, shops, training

app = typer.Typer(help="Catch false advertising in what Chinese live-commerce streamers say.",
                  no_args_is_help=True, add_completion=False)


@app.callback()
def main(verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log what the pipeline does.")] = False) -> None:
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)


app.command()(listen.scan)
app.command()(listen.live)
app.command()(listen.check)
app.command()(serve.serve)
app.command()(training.train)
app.command("eval")(training.evaluate)
app.command()(training.calibrate)
app.command()(desk.stats)
for name, group in (("webhooks", listen.webhooks_app), ("seeds", training.seeds_app), ("models", data.models_app),
                    ("lexicon", data.lexicon_app), ("db", data.db_app), ("fleet", fleet.fleet_app), ("shops", shops.shops_app), ("evidence", records.evidence_app), ("qa", desk.qa_app),
                    *moderation.GROUPS):
    app.add_typer(group, name=name)

if __name__ == "__main__":
    app()
