"""`cityledger testnet up|status|down`: a local multi-validator network in one command."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from cityledger.cli.context import wants_json
from cityledger.cli.output import console as output_console
from cityledger.cli.output import hint, print_json, short
from cityledger.sdk.errors import LedgerError
from cityledger.testnet import gateways
from cityledger.testnet.demo import DEMO_FILE, populate
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
    write_cli_config,
)

app = typer.Typer(no_args_is_help=True)
console = Console(stderr=True)

DirOption = Annotated[Path, typer.Option("--dir", help="Where the network lives.")]
DEFAULT_DIR = Path(".cityledger/testnet")


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code=1)


@app.command()
def up(
    ctx: typer.Context,
    validators: Annotated[int, typer.Option("--validators", help="Number of cities.")] = 4,
    directory: DirOption = DEFAULT_DIR,
    base_port: Annotated[
        int | None,
        typer.Option("--base-port", help="First of 3N ports (default: a free range)."),
    ] = None,
    observers: Annotated[
        int,
        typer.Option("--observers", help="Extra nodes of cities that may join by vote later."),
    ] = 0,
    passphrase: Annotated[
        str,
        typer.Option("--passphrase", envvar="CITYLEDGER_PASSPHRASE", help="Keystore passphrase."),
    ] = DEFAULT_PASSPHRASE,
    no_demo: Annotated[
        bool, typer.Option("--no-demo", help="Do not fill a new network with demo data.")
    ] = False,
) -> None:
    """Create (or resume) the network in DIR, start its nodes, wait until a block is final,
    fill a new network with the province's demo data, and start the data gateways of the
    cities that serve datasets."""
    fresh = not (directory / MANIFEST).exists()
    try:
        if not fresh:
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
        if fresh and not no_demo:
            _fill_with_demo_data(info, passphrase)
        config = write_cli_config(info, gateways.served(info))
        gateways.start(info, passphrase)
        with console.status("waiting for the data gateways"):
            gateways.wait_until_serving(info)
    except TestnetError as exc:
        raise _fail(str(exc)) from None
    use = f"export CITYLEDGER_CONFIG={config} CITYLEDGER_PASSPHRASE={passphrase}"
    if wants_json(ctx):
        print_json({**_status(info), "config": str(config), "use": use})
        return
    _print_status(info)
    console.print(f"network manifest: {info.manifest}", markup=False, highlight=False)
    hint("use it:", use)
    hint("stop it with:", f"cityledger testnet down --dir {directory}")


@app.command()
def status(ctx: typer.Context, directory: DirOption = DEFAULT_DIR) -> None:
    """Each node: running or not, its head block, consensus height and round; each data
    gateway: running or not, serving or not."""
    info = _existing(directory)
    if wants_json(ctx):
        print_json(_status(info))
        return
    _print_status(info)


@app.command()
def down(ctx: typer.Context, directory: DirOption = DEFAULT_DIR) -> None:
    """Stop every gateway and node of the network (its data stays; `up` resumes it)."""
    info = _existing(directory)
    gateways.stop(info)
    stop(info)
    if wants_json(ctx):
        print_json({"directory": str(directory), "stopped": [n.city for n in info.nodes]})
        return
    console.print(f"stopped {len(info.nodes)} nodes and their gateways in {directory}")


def _fill_with_demo_data(info: TestnetInfo, passphrase: str) -> None:
    if len([n for n in info.nodes if n.validating]) < 4:
        console.print("demo data needs at least 4 cities; skipped")
        return
    try:
        with console.status("demo data") as spinner:
            summary = populate(info, passphrase, lambda step: spinner.update(f"demo data: {step}"))
    except LedgerError as exc:
        raise TestnetError(f"demo data failed: {exc}") from None
    console.print(
        f"demo data: {len(summary.datasets)} datasets, {len(summary.grants)} grants, "
        f"incident {summary.incident}, vaccine pool {summary.pool} (see {DEMO_FILE})"
    )


def _existing(directory: Path) -> TestnetInfo:
    try:
        return TestnetInfo.read(directory)
    except TestnetError as exc:
        raise _fail(str(exc)) from None


def _consensus(rpc_url: str) -> str:
    try:
        state = rpc(rpc_url, "cityledger_consensusStatus")
    except (TestnetError, OSError, ValueError):
        return "?"
    if state["height"] is None:
        return "idle"
    return f"height {int(state['height'], 16)} round {int(state['round'], 16)}"


def _status(info: TestnetInfo) -> dict[str, Any]:
    """Each node and each data gateway, running or not and how far along."""
    nodes = []
    for node in info.nodes:
        running = is_running(node.pid)
        nodes.append(
            {
                "city": node.city,
                "validator": node.validator,
                "rpcUrl": node.rpc_url,
                "pid": node.pid if running else None,
                "running": running,
                "head": block_number(node) if running else None,
                "consensus": _consensus(node.rpc_url) if running else None,
            }
        )
    served = []
    for gateway in gateways.configured(info):
        running = is_running(gateway.pid)
        serving = running and gateways.serving(info, gateway)
        served.append(
            {
                "city": gateway.city,
                "gateway": gateway.address,
                "url": gateway.url,
                "pid": gateway.pid if running else None,
                "state": "serving" if serving else "not answering" if running else "stopped",
            }
        )
    return {
        "chainId": info.chain_id,
        "directory": str(info.directory),
        "nodes": nodes,
        "gateways": served,
    }


def _print_status(info: TestnetInfo) -> None:
    status = _status(info)
    out = output_console()
    table = Table(title=f"cityledger testnet (chain id {info.chain_id})")
    for column in ("city", "validator", "rpc", "pid", "head", "consensus"):
        table.add_column(column, no_wrap=column != "consensus")
    for node in status["nodes"]:
        table.add_row(
            node["city"],
            short(node["validator"]),
            node["rpcUrl"],
            str(node["pid"]) if node["running"] else "stopped",
            "?" if node["head"] is None else str(node["head"]),
            node["consensus"] or "-",
        )
    out.print(table)
    if not status["gateways"]:
        return
    table = Table(title="data gateways")
    for column in ("city", "gateway", "url", "pid", "state"):
        table.add_column(column, no_wrap=True)
    for gateway in status["gateways"]:
        table.add_row(
            gateway["city"],
            short(gateway["gateway"]),
            gateway["url"],
            "stopped" if gateway["pid"] is None else str(gateway["pid"]),
            gateway["state"],
        )
    out.print(table)
