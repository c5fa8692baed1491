"""`cityledger access ...`: record one access under a grant, or anchor an off-chain log."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cityledger.cli import parsing
from cityledger.cli.context import CliError, state
from cityledger.cli.output import done

app = typer.Typer(help="Access records and log anchors.", no_args_is_help=True)


@app.command("record")
def record(
    ctx: typer.Context,
    grant_id: str,
    query: str = typer.Option(..., "--query", help="The query text (only its hash is recorded)."),
    records: int = typer.Option(..., "--records", help="Number of records returned."),
    fields: str = typer.Option(..., "--fields", help="Fields read: indices (0,1) or a mask (0x3)."),
) -> None:
    """Record one access by the signing grantee under GRANT_ID."""
    cli = state(ctx)
    access = cli.ledger().access.record(
        grant_id, query=query, records=records, fields=parsing.field_mask(fields)
    )
    message = f"access #{access.access_number} under {access.grant_id} recorded ({access.tx_hash})"
    done(message, access, cli.settings.json)


@app.command("anchor")
def anchor(
    ctx: typer.Context,
    log: Annotated[Path, typer.Option("--log", help="The agency's access log, one entry a line.")],
) -> None:
    """Anchor the head of the signer's off-chain access log (an RFC 9162 Merkle tree of its
    lines), with the consistency proof from the previous anchor."""
    cli = state(ctx)
    try:
        entries = [line.encode() for line in log.read_text().splitlines()]
    except FileNotFoundError:
        raise CliError(f"no log file {log}") from None
    if not entries:
        raise CliError(f"log {log} is empty")
    head = cli.ledger().access.anchor_log(entries)
    done(f"anchored {head.tree_size} entries, root {head.root}", head, cli.settings.json)
