"""`cityledger data ...`: data under a grant, from the dataset's gateway, or marked by its owner
to hand over by other means; and the dataset secret that keys the marks."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cityledger.cli.context import CliError, passphrase, require_data_extra, state
from cityledger.cli.output import done
from cityledger.cli.owner_options import SchemaOption, SecretOption
from cityledger.sdk.deliveries_client import format_of
from cityledger.sdk.delivery import FORMATS, Condition, DeliveryError, Format

app = typer.Typer(no_args_is_help=True)


def _format(text: str | None) -> Format | None:
    if text is None:
        return None
    for known in FORMATS:
        if text.lower() == known:
            return known  # type: ignore[return-value]
    raise typer.BadParameter(f"{text!r}: choose csv, parquet or jsonl")


@app.command("fetch")
def fetch(
    ctx: typer.Context,
    grant_id: str,
    out: Annotated[Path, typer.Option("--out", help="Where to write the copy.")],
    fields: Annotated[
        str | None,
        typer.Option(
            "--fields", help="Column names, comma-separated (default: every granted one)."
        ),
    ] = None,
    where: Annotated[
        list[str] | None,
        typer.Option(
            "--where",
            help="COLUMN OP VALUE (OP: = != < <= > >= in; 'in' takes a comma list); "
            "repeat for AND.",
        ),
    ] = None,
    format: Annotated[
        str | None,
        typer.Option("--format", help="csv, parquet or jsonl (default: from --out's suffix)."),
    ] = None,
    sealed: Annotated[
        bool, typer.Option("--sealed", help="Have the copy encrypted to the grantee's key.")
    ] = False,
) -> None:
    """Fetch a copy of GRANT_ID's dataset, marked for the grant, from the dataset's gateway (the
    signing key is the grantee). The gateway records the delivery on chain before it sends; the
    file is written once it matches the gateway's signed receipt and the record."""
    cli = state(ctx)
    try:
        conditions = [Condition.parse(text) for text in where or []]
    except DeliveryError as exc:
        raise typer.BadParameter(str(exc), param_hint="--where") from None
    grant = cli.names().grant(grant_id)
    delivery = cli.ledger().deliveries.fetch(
        grant, out, fields=_names(fields), where=conditions, format=_format(format), sealed=sealed
    )
    receipt = delivery.receipt
    message = (
        f"{receipt.rows} rows to {out}: delivery #{receipt.access_number} under grant "
        f"{receipt.grant_id}, marked for the grant, recorded in block "
        f"{receipt.recorded_at_block} by the gateway {receipt.gateway} "
        f"(content sha256 {receipt.content_hash})"
    )
    done(message, {"path": str(out), **receipt.model_dump(by_alias=True)}, cli.settings.json)


def _names(fields: str | None) -> list[str]:
    return [n.strip() for n in fields.split(",") if n.strip()] if fields else []


@app.command("mark")
def mark(
    ctx: typer.Context,
    grant_id: str,
    source: Annotated[Path, typer.Option("--source", help="The CSV or Parquet file to mark.")],
    out: Annotated[Path, typer.Option("--out", help="Where to write the marked copy.")],
    fields: Annotated[
        str | None,
        typer.Option(
            "--fields", help="Column names, comma-separated (default: every granted one)."
        ),
    ] = None,
    format: Annotated[
        str | None,
        typer.Option("--format", help="csv, parquet or jsonl (default: from --out's suffix)."),
    ] = None,
    schema: SchemaOption = None,
    secret: SecretOption = None,
) -> None:
    """Mark a copy of FILE for GRANT_ID, to hand over by other means than the gateway (the
    signing key is the grant's grantor). The copy's commitment is registered on chain and its
    preimage kept beside the dataset's secret before the copy is written to --out."""
    require_data_extra("data mark")
    from cityledger.cli.handover import hand_over
    from cityledger.cli.owner_files import owner_dataset

    cli = state(ctx)
    ledger = cli.ledger()
    grant = ledger.grants.get(cli.names().grant(grant_id))
    if grant.grantor != ledger.address:
        raise CliError(
            f"grant {grant.id} was offered by {grant.grantor}, not by the signing key "
            f"{ledger.address}: only its grantor marks copies for it"
        )
    owner = owner_dataset(cli, ledger, grant.dataset_id, schema=schema, secret=secret)
    granted = [c.name for i, c in enumerate(owner.schema.columns) if grant.field_scope >> i & 1]
    columns = _names(fields) or granted
    unknown = [name for name in columns if name not in owner.schema.names]
    if unknown:
        raise CliError(f"dataset {owner.name} has no column {', '.join(unknown)}")
    outside = [name for name in columns if name not in granted]
    if outside:
        raise CliError(f"{', '.join(outside)}: outside the scope of grant {grant.id}")
    handed = hand_over(
        ledger, owner, grant.id, source, out, columns, _format(format) or format_of(out)
    )
    message = (
        f"{handed.rows} rows to {out}, marked for grant {grant.id}: delivery "
        f"#{handed.delivery.index} registered with commitment {handed.commitment.digest()} "
        f"(preimage kept in {owner.kept.path})"
    )
    value = {
        "path": str(out),
        "rows": handed.rows,
        "delivery": handed.delivery,
        "commitment": handed.commitment.digest(),
        "preimage": handed.commitment.to_json_object(),
    }
    done(message, value, cli.settings.json)


@app.command("new-secret")
def new_secret(
    ctx: typer.Context,
    dataset: str,
    out: Annotated[Path, typer.Option("--out", help="Where to write the encrypted secret.")],
) -> None:
    """Create DATASET's secret, which keys the marks of every copy of it (its owner keeps it,
    encrypted with the passphrase, beside its keystore; the dataset's gateway reads it).
    A lost secret cannot trace copies marked with it: back it up."""
    from cityledger.fingerprint.keys import DatasetKeys  # cityledger[data]

    cli = state(ctx)
    secret = passphrase(f"Passphrase for the secret of {dataset}", confirm=True)
    DatasetKeys.generate(dataset).save(out, secret)
    done(
        f"wrote the secret of {dataset} to {out}",
        {"dataset": dataset, "path": str(out)},
        cli.settings.json,
    )
