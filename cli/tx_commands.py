"""`cityledger tx show HASH`: whether a transaction is final, and what it recorded, by name.

The command a write that was not final in time points to: the transaction may be final by now,
still wait in the pools (quorum lost), or be unknown to the node.
"""

from __future__ import annotations

from typing import Any

import typer
from rich.table import Table

from cityledger.cli.context import CliError, state
from cityledger.cli.event_lines import Narrator
from cityledger.cli.output import console, print_json, short

app = typer.Typer(no_args_is_help=True)


@app.callback()
def tx() -> None:
    """Transactions: whether one is final, and what it recorded."""


@app.command("show")
def show(
    ctx: typer.Context,
    tx_hash: str = typer.Argument(..., help="The transaction's hash (0x and 64 hex digits)."),
) -> None:
    """Whether transaction TX_HASH is final (in which block, by whom, what it recorded) or
    still waits, and why."""
    from eth_utils import to_checksum_address

    from cityledger.sdk.models import hex32

    cli = state(ctx)
    try:
        wanted = hex32(tx_hash)
    except ValueError:
        raise CliError(f"'{tx_hash}' is not a transaction hash (0x and 64 hex digits)") from None
    ledger = cli.ledger(signed=False)
    chain = ledger.chain
    receipt: dict[str, Any] | None = chain.raw_request("eth_getTransactionReceipt", [wanted])
    if receipt is None:
        if chain.raw_request("eth_getTransactionByHash", [wanted]) is None:
            raise CliError(
                f"the node at {cli.settings.rpc} knows no transaction {wanted}: it was never "
                "sent there, or was dropped; run the command that sends it again"
            )
        why = chain.finality_trouble()
        if cli.settings.json:
            print_json({"txHash": wanted, "status": "waiting", "why": why})
            return
        console().print(
            f"transaction {wanted} waits to be final: {why}", markup=False, highlight=False
        )
        return
    narrator = Narrator(cli.names())
    addresses = {a.lower(): n for n, a in chain.addresses.items()}
    lines = [
        narrator.line(ledger.history.decode(log))
        for log in receipt["logs"]
        if str(log["address"]).lower() in addresses
    ]
    sender = to_checksum_address(receipt["from"])
    succeeded = int(receipt["status"], 16) == 1
    result = {
        "txHash": wanted,
        "status": "final" if succeeded else "reverted",
        "blockNumber": int(receipt["blockNumber"], 16),
        "from": {"address": sender, "name": narrator.agency(sender)},
        "to": addresses.get(str(receipt["to"]).lower(), receipt["to"]),
        "events": [line.as_json() for line in lines],
    }
    if cli.settings.json:
        print_json(result)
        return
    state_text = "final" if succeeded else "final but reverted: it changed nothing"
    console().print(
        f"transaction {wanted} is {state_text}: block {result['blockNumber']}, sent by "
        f"{result['from']['name']} to {result['to']}",
        markup=False,
        highlight=False,
    )
    if lines:
        table = Table(title="what it recorded")
        for column in ("who", "grant", "what"):
            table.add_column(column, no_wrap=column == "grant", overflow="fold")
        for line in lines:
            table.add_row(
                line.who_name or "",
                "" if line.grant is None else short(line.grant),
                line.what,
            )
        console().print(table)
