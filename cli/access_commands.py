"""`cityledger access ...`: record one access under a grant, list the recorded ones, or anchor an
off-chain log."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cityledger.cli import parsing
from cityledger.cli.context import CliError, state
from cityledger.cli.output import done, page_title, show_rows
from cityledger.cli.views import ACCESS_COLUMNS, access_view

app = typer.Typer(no_args_is_help=True)


@app.command("record")
def record(
    ctx: typer.Context,
    grant_id: str = typer.Argument(..., help="The grant: its id or the shortened id."),
    query: str = typer.Option(..., "--query", help="The query text (only its hash is recorded)."),
    records: int = typer.Option(..., "--records", help="Number of records returned."),
    fields: str = typer.Option(..., "--fields", help="Fields read: indices (0,1) or a mask (0x3)."),
) -> None:
    """Record one access by the signing grantee under GRANT_ID."""
    cli = state(ctx)
    names = cli.names()
    access = cli.ledger().access.record(
        names.grant(grant_id), query=query, records=records, fields=parsing.field_mask(fields)
    )
    view = access_view(names, access)
    message = (
        f"access #{access.access_number} by {view['accessor_name']} under grant "
        f"{access.grant_id} ({view['dataset']}, {access.record_count} records) recorded in "
        f"block {access.block_number} (tx {access.tx_hash})"
    )
    done(message, view, cli.settings.json)


@app.command("list")
def list_records(
    ctx: typer.Context,
    grant: str | None = typer.Option(None, "--grant", help="One grant's accesses."),
    agency: str | None = typer.Option(
        None, "--agency", help="One grantee's: registered name, key name or 0x address."
    ),
    dataset: str | None = typer.Option(None, "--dataset", help="One dataset's: name or id."),
    offset: int = typer.Option(0, "--offset", min=0),
    limit: int = typer.Option(100, "--limit", min=1),
) -> None:
    """Recorded accesses and gateway deliveries, of one grant, grantee or dataset or all of
    them, in chain order, a page at a time: who, under which grant, how many records, when."""
    cli = state(ctx)
    if sum(x is not None for x in (grant, agency, dataset)) > 1:
        raise CliError("give at most one of --grant, --agency, --dataset")
    names = cli.names()
    found = names.ledger.access.records(
        grant=names.grant(grant) if grant else None,
        accessor=names.agency(agency) if agency else None,
        dataset=names.dataset(dataset) if dataset else None,
        offset=offset,
        limit=limit,
    )
    rows = [access_view(names, r) for r in found]
    show_rows(rows, ACCESS_COLUMNS, cli.settings.json, title=page_title("accesses", offset, rows))


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
