"""`cityledger node init|start`: the node's command line (a typer app the main CLI mounts)."""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path
from typing import Annotated

import typer

from cityledger.cli.context import wants_json
from cityledger.cli.output import print_json
from cityledger.node.config import (
    DEFAULT_CHAIN_ID,
    DEFAULT_RPC_HOST,
    DEFAULT_RPC_PORT,
    CacheLimits,
    DataDir,
    EngineSettings,
    NodeConfig,
    RoundTimeouts,
    RpcLimits,
)
from cityledger.node.genesis import Genesis
from cityledger.node.initialize import InitError, init_dev, init_from_file, write_dev_info
from cityledger.node.logs import configure_logging
from cityledger.node.service import Node, NodeFailure

app = typer.Typer(no_args_is_help=True)
log = logging.getLogger("cityledger.node")

DataDirOption = Annotated[
    Path, typer.Option("--data-dir", help="Directory holding the node's key, genesis and chain.")
]
ChainIdOption = Annotated[
    int | None, typer.Option("--chain-id", help=f"Chain id (dev default {DEFAULT_CHAIN_ID}).")
]
GenesisOption = Annotated[
    Path | None,
    typer.Option("--genesis", help="Genesis file of the network to join (from `testnet`)."),
]
DevOption = Annotated[
    bool, typer.Option("--dev", help="A one-city development chain; this node is its validator.")
]
LogLevelOption = Annotated[str, typer.Option("--log-level", help="debug, info, warning or error.")]


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code=1)


def _initialize(
    data_dir: DataDir, chain_id: int | None, genesis: Path | None, dev: bool
) -> Genesis:
    if genesis is not None:
        return init_from_file(data_dir, genesis, chain_id)
    if dev:
        return init_dev(data_dir, chain_id or DEFAULT_CHAIN_ID)
    raise InitError(
        "pass --genesis FILE (a network's genesis) or --dev (a one-city development chain)"
    )


@app.command()
def init(
    ctx: typer.Context,
    data_dir: DataDirOption,
    chain_id: ChainIdOption = None,
    genesis: GenesisOption = None,
    dev: DevOption = False,
    log_level: LogLevelOption = "info",
) -> None:
    """Create DIR with a validator key, the genesis (system contracts deployed) and block 0."""
    configure_logging(log_level)
    try:
        created = _initialize(DataDir(data_dir), chain_id, genesis, dev)
    except InitError as exc:
        raise _fail(str(exc)) from None
    if wants_json(ctx):
        print_json(
            {
                "dataDir": str(data_dir),
                "chainId": created.chain_id,
                "systemContracts": dict(created.system_contracts),
            }
        )
        return
    typer.echo(f"initialized {data_dir} (chain id {created.chain_id})")
    for name, address in created.system_contracts.items():
        typer.echo(f"  {name:<20} {address}")


@app.command()
def start(
    data_dir: DataDirOption,
    chain_id: ChainIdOption = None,
    genesis: GenesisOption = None,
    dev: DevOption = False,
    rpc_host: Annotated[str, typer.Option("--rpc-host")] = DEFAULT_RPC_HOST,
    rpc_port: Annotated[int, typer.Option("--rpc-port")] = DEFAULT_RPC_PORT,
    heartbeat: Annotated[
        float | None,
        typer.Option("--heartbeat", help="Seconds idle before an empty block (default: never)."),
    ] = None,
    round_timeout: Annotated[
        float,
        typer.Option("--round-timeout", help="Round 0's timeout in seconds; doubles per round."),
    ] = 1.0,
    max_round_timeout: Annotated[
        float,
        typer.Option("--max-round-timeout", help="Cap on a round's timeout, in seconds."),
    ] = 30.0,
    block_period: Annotated[
        float,
        typer.Option(
            "--block-period",
            help="Least seconds between blocks; 0: start one as soon as transactions wait.",
        ),
    ] = 0.05,
    rpc_gas_cap: Annotated[
        int,
        typer.Option("--rpc-gascap", help="Most gas an eth_call or eth_estimateGas may use."),
    ] = RpcLimits.call_gas_cap,
    rpc_evm_timeout: Annotated[
        float,
        typer.Option("--rpc-evmtimeout", help="Seconds an eth_call may run before it is ended."),
    ] = RpcLimits.call_timeout_seconds,
    rpc_max_logs: Annotated[
        int,
        typer.Option("--rpc-max-logs", help="Most logs one eth_getLogs may return."),
    ] = RpcLimits.max_logs,
    cache_mb: Annotated[
        int,
        typer.Option("--cache-mb", help="Memory for recently read blocks and receipts (MB)."),
    ] = 64,
    log_level: LogLevelOption = "info",
) -> None:
    """Run the node (initializing DIR first if --dev or --genesis is given and DIR is empty)."""
    # eth-hash picks pycryptodome before pysha3 unless told, on the process's first keccak;
    # every trie node and envelope is hashed, and the C backend costs a fraction per call.
    os.environ.setdefault("ETH_HASH_BACKEND", "pysha3")
    configure_logging(log_level)
    directory = DataDir(data_dir)
    config = NodeConfig(
        directory,
        rpc_host=rpc_host,
        rpc_port=rpc_port,
        rpc=RpcLimits(
            call_gas_cap=rpc_gas_cap,
            call_timeout_seconds=rpc_evm_timeout,
            max_logs=rpc_max_logs,
        ),
        caches=CacheLimits.of_megabytes(cache_mb),
        consensus=EngineSettings(
            timeouts=RoundTimeouts(base=round_timeout, cap=max_round_timeout),
            heartbeat_seconds=heartbeat,
            block_period_seconds=block_period,
        ),
    )
    try:
        if not directory.is_initialized and (dev or genesis is not None):
            _initialize(directory, chain_id, genesis, dev)
        node = Node(config)
    except InitError as exc:
        raise _fail(str(exc)) from None
    if dev:
        write_dev_info(directory, node.genesis, config.rpc_url)
    try:
        asyncio.run(node.serve())
    except NodeFailure as exc:
        raise _fail(str(exc)) from None
