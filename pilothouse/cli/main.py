"""Entry point: ``pilothouse <command>``."""

from __future__ import annotations

import typer

from pilothouse import __version__
from pilothouse.cli import guard, keys, prompts, traces
from pilothouse.cli.demo import demo
from pilothouse.cli.drill import drill
from pilothouse.cli.eval import app as eval_app
from pilothouse.cli.init import init
from pilothouse.cli.models import models
from pilothouse.cli.review import app as review_app
from pilothouse.cli.serve import serve
from pilothouse.cli.spend import spend

app = typer.Typer(
    name="pilothouse",
    help="Pilothouse: gateway, traces and keys for LLM features in production.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.command()(init)
app.command()(serve)
app.command()(demo)
app.command()(models)
app.command()(drill)
app.command()(spend)
app.add_typer(keys.app, name="keys")
app.add_typer(traces.app, name="traces")
app.add_typer(eval_app, name="eval")
app.add_typer(review_app, name="review")
app.add_typer(prompts.app, name="prompts")
app.add_typer(guard.app, name="guard")


@app.command()
def version() -> None:
    """Print the version."""
    typer.echo(__version__)


def main() -> None:
    app()
