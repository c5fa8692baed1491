"""`cityledger dataset ...`: the dataset registry (ids, owners, schema hashes)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cityledger.cli.context import CliError, state
from cityledger.cli.output import done, page_title, show, show_rows
from cityledger.cli.views import DATASET_COLUMNS, DATASET_FIELDS, dataset_view
from cityledger.sdk.models import Sensitivity
from cityledger.sdk.schema import DatasetSchema, SchemaError

app = typer.Typer(no_args_is_help=True)


@app.command("register")
def register(
    ctx: typer.Context,
    name: str,
    fields: int | None = typer.Option(
        None, "--fields", help="Number of fields (columns); a schema file's own count if omitted."
    ),
    schema: str | None = typer.Option(None, "--schema", help="Schema text (hashed, not stored)."),
    schema_file: Annotated[
        Path | None, typer.Option("--schema-file", help="File with the schema.")
    ] = None,
    sensitivity: str = typer.Option(
        "confidential", "--sensitivity", help="public, internal, confidential or restricted."
    ),
) -> None:
    """Register dataset NAME (id = keccak256(NAME)) owned by the signing agency. A cityledger
    schema file (JSON with "columns") registers by its canonical JSON's hash, the one a gateway
    serving the dataset checks; any other schema text by the hash of the text as given."""
    cli = state(ctx)
    if (schema is None) == (schema_file is None):
        raise CliError("give exactly one of --schema or --schema-file")
    level = sensitivity.upper()
    if level not in Sensitivity.__members__:
        choices = ", ".join(s.name.lower() for s in Sensitivity)
        raise CliError(f"unknown sensitivity {sensitivity!r} (choose from {choices})")
    text, count = _schema(
        schema if schema is not None else Path(str(schema_file)).read_text(), fields
    )
    dataset = cli.ledger().datasets.register(
        name, schema=text, field_count=count, sensitivity=Sensitivity[level]
    )
    view = dataset_view(cli.names(), dataset)
    done(
        f"registered dataset {name} of {view['owner_name']}: {dataset.id}", view, cli.settings.json
    )


def _schema(text: str, fields: int | None) -> tuple[str, int]:
    """The text to hash and the field count."""
    try:
        parsed = DatasetSchema.loads(text)
    except SchemaError as exc:
        if '"columns"' in text:
            raise CliError(f"not a usable dataset schema: {exc}") from None
        if fields is None:
            raise CliError(
                "give --fields: the schema text does not say how many there are"
            ) from None
        return text, fields
    if fields is not None and fields != len(parsed.columns):
        raise CliError(f"--fields {fields}, but the schema has {len(parsed.columns)} columns")
    return parsed.canonical_json(), len(parsed.columns)


@app.command("set-gateway")
def set_gateway(
    ctx: typer.Context,
    dataset: str,
    gateway: str = typer.Option(
        ...,
        "--gateway",
        help="The gateway agency: registered name, key name or 0x address (0x0 withdraws).",
    ),
    url: str = typer.Option("", "--url", help="The gateway's https:// URL (empty to withdraw)."),
) -> None:
    """Designate the gateway that serves DATASET and alone records its deliveries (the
    dataset's owner signs; the gateway is a GATEWAY agency of the owner's city)."""
    cli = state(ctx)
    names = cli.names()
    ident = names.dataset(dataset)
    address = "0x" + "00" * 20 if gateway in ("0x0", "0x") else names.agency(gateway)
    designation = cli.ledger().datasets.set_gateway(ident, address, url)
    message = (
        f"dataset {dataset} is served by {names.agency_name(designation.gateway)} "
        f"({designation.gateway}) at {designation.url}"
        if designation.designated
        else f"dataset {dataset} has no gateway"
    )
    done(message, designation, cli.settings.json)


@app.command("list")
def list_datasets(
    ctx: typer.Context,
    offset: int = typer.Option(0, "--offset", min=0),
    limit: int = typer.Option(100, "--limit", min=1),
) -> None:
    """Registered datasets, a page at a time."""
    cli = state(ctx)
    names = cli.names()
    rows = [dataset_view(names, d) for d in names.ledger.datasets.list(offset=offset, limit=limit)]
    show_rows(rows, DATASET_COLUMNS, cli.settings.json, title=page_title("datasets", offset, rows))


@app.command("show")
def show_dataset(ctx: typer.Context, dataset: str) -> None:
    """One dataset, by name or 0x id: its owner, city, schema hash and gateway."""
    cli = state(ctx)
    names = cli.names()
    found = names.ledger.datasets.get(names.dataset(dataset))
    designation = names.ledger.datasets.gateway(found.id)
    shown = {
        **dataset_view(names, found),
        "gateway": designation.gateway,
        "gateway_name": names.agency_name(designation.gateway) if designation.designated else None,
        "gateway_url": designation.url,
    }
    show(shown, cli.settings.json, title="dataset", fields=DATASET_FIELDS)
