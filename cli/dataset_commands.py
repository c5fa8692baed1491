"""`cityledger dataset ...`: the dataset registry (ids, owners, schema hashes)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cityledger.cli.context import CliError, state
from cityledger.cli.output import done, jsonable, show, show_rows
from cityledger.sdk.models import Sensitivity

app = typer.Typer(
    help="Datasets: register and set-gateway (their owner), list, show.", no_args_is_help=True
)

COLUMNS = ["id", "owner", "sensitivity", "field_count", "registered_at"]


@app.command("register")
def register(
    ctx: typer.Context,
    name: str,
    fields: int = typer.Option(..., "--fields", help="Number of fields (columns) of the dataset."),
    schema: str | None = typer.Option(None, "--schema", help="Schema text (hashed, not stored)."),
    schema_file: Annotated[
        Path | None, typer.Option("--schema-file", help="File with the schema.")
    ] = None,
    sensitivity: str = typer.Option(
        "confidential", "--sensitivity", help="public, internal, confidential or restricted."
    ),
) -> None:
    """Register dataset NAME (id = keccak256(NAME)) owned by the signing agency."""
    cli = state(ctx)
    if (schema is None) == (schema_file is None):
        raise CliError("give exactly one of --schema or --schema-file")
    text = schema if schema is not None else Path(str(schema_file)).read_text()
    level = sensitivity.upper()
    if level not in Sensitivity.__members__:
        raise CliError(f"unknown sensitivity {sensitivity!r}")
    dataset = cli.ledger().datasets.register(
        name, schema=text, field_count=fields, sensitivity=Sensitivity[level]
    )
    done(f"registered dataset {name}: {dataset.id}", dataset, cli.settings.json)


@app.command("set-gateway")
def set_gateway(
    ctx: typer.Context,
    dataset: str,
    gateway: str = typer.Option(
        ..., "--gateway", help="The gateway agency: 0x address or key name (0x0 withdraws)."
    ),
    url: str = typer.Option("", "--url", help="The gateway's https:// URL (empty to withdraw)."),
) -> None:
    """Designate the gateway that serves DATASET and alone records its deliveries (the
    dataset's owner signs; the gateway is a GATEWAY agency of the owner's city)."""
    cli = state(ctx)
    address = "0x" + "00" * 20 if gateway in ("0x0", "0x") else cli.address(gateway)
    designation = cli.ledger().datasets.set_gateway(dataset, address, url)
    message = (
        f"dataset {dataset} is served by {designation.gateway} at {designation.url}"
        if designation.designated
        else f"dataset {dataset} has no gateway"
    )
    done(message, designation, cli.settings.json)


@app.command("list")
def list_datasets(
    ctx: typer.Context,
    offset: int = typer.Option(0, "--offset"),
    limit: int = typer.Option(100, "--limit"),
) -> None:
    """Registered datasets, a page at a time."""
    cli = state(ctx)
    datasets = cli.ledger(signed=False).datasets.list(offset=offset, limit=limit)
    show_rows(datasets, COLUMNS, cli.settings.json, title="datasets")


@app.command("show")
def show_dataset(ctx: typer.Context, dataset: str) -> None:
    """One dataset, by name or 0x id."""
    cli = state(ctx)
    ledger = cli.ledger(signed=False)
    found = ledger.datasets.get(dataset)
    designation = ledger.datasets.gateway(found.id)
    shown = {**jsonable(found), "gateway": designation.gateway, "gateway_url": designation.url}
    show(shown, cli.settings.json, title="dataset")
