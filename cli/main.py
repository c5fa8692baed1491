"""The `cityledger` command: a thin layer over the SDK, and over the node for `node`/`testnet`."""

from __future__ import annotations

import typer
from cityledger.cli import contracts_commands

app = typer.Typer(
    name="cityledger",
    help="Cross-city data-access grants, leak-traceable audit trails and regional allocation.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(contracts_commands.app, name="contracts")


def main() -> None:
    app()
