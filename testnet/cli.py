"""`cityledger testnet up|status|down`: a local multi-validator network in one command."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from cityledger.testnet.network import (
    DEFAULT_PASSPHRASE,
    MANIFEST,
    TestnetError,
    TestnetInfo,
    block_number,
    create,
    is_running,
    rpc,
    start,
    stop,
    wait_for_block,
)

app = typer.Typer(help="A local network of city validators on this machine.", no_args_is_help=True)
console = Console(stderr=True)

DirOption = Annotated[Path, typer.Option("--dir", help="Where the network lives.")]
DEFAULT_DIR = Path(".cityledger/testnet")


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code=1)


@app.command()
def up(
    validators: Annotated[int, typer.Option("--validators", help="Number of cities.")] = 4,
    directory: DirOption = DEFAULT_DIR,
    base_port: Annotated[
        int | None, typer.Option("--base-port", help="First of 2N ports (default: a free range).")
    ] = None,
    observers: Annotated[
        int,
        typer.Option("--observers", help="Extra nodes of cities that may join by vote later."),
    ] = 0,
    passphrase: Annotated[
        str,
        typer.Option("--passphrase", envvar="CITYLEDGER_PASSPHRASE", help="Keystore passphrase."),
    ] = DEFAULT_PASSPHRASE,
) -> None:
    """Create (or resume) the network in DIR, start its nodes, wait until a block is final."""
    try:
        if (directory / MANIFEST).exists():
            info = TestnetInfo.read(directory)
            console.print(f"resuming the network in {directory}")
        else:
            with console.status(f"creating keys and genesis for {validators} cities"):
                info = create(
                    directory, validators, base_port, passphrase=passphrase, observers=observers
                )
        start(info)
        with Progress(
            TextColumn("waiting for the first final block"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total} nodes"),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        ) as progress:
            task = progress.add_task("final", total=len(info.nodes))
            wait_for_block(
                info, 1, progress=lambda ready, _: progress.update(task, completed=ready)
            )
    except TestnetError as exc:
        raise _fail(str(exc)) from None
    _print_status(info)
    console.print(f"network manifest: {info.manifest}")
    console.print(f"stop it with: cityledger testnet down --dir {directory}")


@app.command()
def status(directory: DirOption = DEFAULT_DIR) -> None:
    """Each node: running or not, its head block, consensus height and round."""
    try:
        info = TestnetInfo.read(directory)
    except TestnetError as exc:
        raise _fail(str(exc)) from None
    _print_status(info)


@app.command()
def down(directory: DirOption = DEFAULT_DIR) -> None:
    """Stop every node of the network (its data stays; `up` resumes it)."""
    try:
        info = TestnetInfo.read(directory)
    except TestnetError as exc:
        raise _fail(str(exc)) from None
    stop(info)
    console.print(f"stopped {len(info.nodes)} nodes in {directory}")


def _print_status(info: TestnetInfo) -> None:
    table = Table(title=f"cityledger testnet (chain id {info.chain_id})")
    for column in ("city", "validator", "rpc", "pid", "head", "consensus"):
        table.add_column(column)
    for node in info.nodes:
        running = is_running(node.pid)
        head = block_number(node) if running else None
        consensus = "-"
        if running:
            try:
                state = rpc(node.rpc_url, "cityledger_consensusStatus")
                if state["height"] is not None:
                    consensus = f"height {int(state['height'], 16)} round {int(state['round'], 16)}"
            except (TestnetError, OSError, ValueError):
                consensus = "?"
        table.add_row(
            node.city,
            node.validator,
            node.rpc_url,
            str(node.pid) if running else "stopped",
            "?" if head is None else str(head),
            consensus,
        )
    Console().print(table)
