"""`cityledger data ...`: data under a grant, from the dataset's gateway."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cityledger.cli.context import passphrase, state
from cityledger.cli.output import done
from cityledger.sdk.delivery import FORMATS, Condition, DeliveryError, Format

app = typer.Typer(help="Data under grants: fetch a marked copy.", no_args_is_help=True)


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
    names = [n.strip() for n in fields.split(",") if n.strip()] if fields else []
    delivery = cli.ledger().deliveries.fetch(
        grant_id, out, fields=names, where=conditions, format=_format(format), sealed=sealed
    )
    receipt = delivery.receipt
    message = (
        f"{receipt.rows} rows to {out}: delivery #{receipt.access_number} under grant "
        f"{receipt.grant_id}, marked for the grant, recorded in block "
        f"{receipt.recorded_at_block} by the gateway {receipt.gateway} "
        f"(content sha256 {receipt.content_hash})"
    )
    done(message, {"path": str(out), **receipt.model_dump(by_alias=True)}, cli.settings.json)


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
