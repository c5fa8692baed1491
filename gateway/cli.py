"""`cityledger gateway serve --config FILE`: the data gateway's command line (a typer app the main
CLI mounts)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer

from cityledger.cli.context import wants_json
from cityledger.gateway.config import ConfigError, load
from cityledger.gateway.service import GatewayStartError, build

app = typer.Typer(no_args_is_help=True)


@app.callback()
def gateway() -> None:
    """The data gateway a grantor agency runs in front of its datasets."""


@app.command()
def serve(
    ctx: typer.Context,
    config: Annotated[Path, typer.Option("--config", help="The gateway's TOML configuration.")],
    log_level: Annotated[
        str, typer.Option("--log-level", help="debug, info, warning or error.")
    ] = "info",
) -> None:
    """Serve marked copies of the configured datasets to grantees, over HTTPS, recording every
    delivery on chain before it leaves (see docs/gateway.md)."""
    if wants_json(ctx):  # one JSON object a line on stderr, as a node logs
        from cityledger.node.logs import configure_logging

        configure_logging(log_level)
    else:
        logging.basicConfig(
            level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
        )
    try:
        gateway = build(load(config))
    except (ConfigError, GatewayStartError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=1) from None
    gateway.run()
