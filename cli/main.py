"""The `cityledger` command: a thin layer over the SDK, and over the node for `node`/`testnet`.

Each group is imported when the command line names it (lazy_group.py): `--help`, `--version`
and `key list` never load web3, py-evm or pyarrow.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from typer._click.exceptions import NoArgsIsHelpError  # typer vendors its own click

from cityledger.cli.global_options import hoisted
from cityledger.cli.lazy_group import LazyGroup, Subcommand

_CLI = "cityledger.cli."
SUBCOMMANDS = (
    # Agencies, auditors and cities (over the SDK).
    Subcommand("key", "Encrypted signing keys: create, import, list, show.", _CLI + "key_commands"),
    Subcommand(
        "city",
        "Member cities: propose admission or removal, vote, list, proposals.",
        _CLI + "city_commands",
    ),
    Subcommand(
        "agency", "Agencies of a city: register (city admin), list.", _CLI + "agency_commands"
    ),
    Subcommand(
        "dataset",
        "Datasets: register and set-gateway (their owner), list, show.",
        _CLI + "dataset_commands",
    ),
    Subcommand(
        "grant",
        "Grants: offer (offline), accept, submit, revoke, suspend, reinstate, show, list.",
        _CLI + "grant_commands",
    ),
    Subcommand(
        "access", "Access records and log anchors: record, list, anchor.", _CLI + "access_commands"
    ),
    Subcommand(
        "audit",
        "Audit trails: who had a dataset, trace what happened, prove it trusting no node, "
        "verify anchored logs and findings.",
        _CLI + "audit_commands",
        also=(
            ("verify-finding", _CLI + "finding_commands:verify_finding"),
            ("who-had", _CLI + "who_had:who_had"),
        ),
    ),
    Subcommand(
        "leak",
        "Leak accountability: register-delivery, report, list, status, trace, reveal, "
        "attribute, suspend, show.",
        _CLI + "leak_commands",
    ),
    Subcommand(
        "data",
        "Data under grants: fetch a marked copy, mark one to hand over, a dataset's secret.",
        _CLI + "data_commands",
    ),
    Subcommand(
        "alloc", "Resource allocation: pools, requests, rounds, history.", _CLI + "alloc_commands"
    ),
    Subcommand(
        "tx", "Transactions: whether one is final, and what it recorded.", _CLI + "tx_commands"
    ),
    # Contract artifacts.
    Subcommand(
        "contracts",
        "The five system contracts: list, build (needs npm solc), check.",
        _CLI + "contracts_commands",
    ),
    # Running the network.
    Subcommand(
        "node", "Run a cityledger chain node.", "cityledger.node.cli", extra="node", runs="a node"
    ),
    Subcommand(
        "testnet",
        "A local network of city validators on this machine: up, status, down.",
        "cityledger.testnet.cli",
        extra="node,gateway",
        runs="nodes and data gateways",
    ),
    # Serving data under grants.
    Subcommand(
        "gateway",
        "The data gateway a grantor agency runs.",
        "cityledger.gateway.cli",
        extra="gateway",
        runs="a data gateway",
    ),
)


class Commands(LazyGroup):
    subcommands = SUBCOMMANDS


app = typer.Typer(
    name="cityledger",
    cls=Commands,
    help="Cross-city data-access grants, leak-traceable audit trails and regional allocation. "
    "Global options go before or after the command.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


def _print_version(asked: bool) -> None:
    if asked:
        from importlib.metadata import version

        typer.echo(f"cityledger {version('cityledger')}")
        raise typer.Exit()


@app.callback()
def global_options(
    ctx: typer.Context,
    rpc: str | None = typer.Option(None, "--rpc", help="JSON-RPC URL ($CITYLEDGER_RPC)."),
    key: str | None = typer.Option(None, "--key", help="Signing key name ($CITYLEDGER_KEY)."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable JSON on stdout only."),
    manifest: Annotated[
        Path | None, typer.Option("--manifest", help="Deployment manifest ($CITYLEDGER_MANIFEST).")
    ] = None,
    consortium: str | None = typer.Option(
        None, "--consortium", help="Consortium address, if no manifest ($CITYLEDGER_CONSORTIUM)."
    ),
    wait: float | None = typer.Option(
        None, "--wait", help="Seconds a write waits to be final (default 60; $CITYLEDGER_WAIT)."
    ),
    version: bool = typer.Option(
        False,
        "--version",
        callback=_print_version,
        is_eager=True,
        help="Print the version and exit.",
    ),
) -> None:
    """Settings come from these options (before or after the command), then environment
    variables, then the config file (~/.config/cityledger/config.toml or $CITYLEDGER_CONFIG;
    keys: rpc, key, manifest, consortium, wait, home, gateway_ca, trust)."""
    from cityledger.cli.context import CliState
    from cityledger.cli.settings import resolve

    ctx.obj = CliState(
        resolve(
            rpc=rpc,
            key=key,
            as_json=as_json,
            manifest=manifest,
            consortium=consortium,
            wait=wait,
        )
    )


def main() -> None:
    try:
        command = typer.main.get_command(app)
        assert isinstance(command, Commands)
        code = command.main(
            args=hoisted(sys.argv[1:], command), prog_name="cityledger", standalone_mode=False
        )
    except NoArgsIsHelpError as exc:  # a bare group name: its help, as click would show it
        typer.echo(exc.format_message())
        sys.exit(0)
    except typer.Abort:
        typer.echo("error: aborted", err=True)
        sys.exit(130)
    except typer.TyperException as exc:  # usage errors: bad or missing options
        from cityledger.cli.failures import usage_error

        typer.echo(f"error: {usage_error(exc)}", err=True)
        sys.exit(exc.exit_code)
    except Exception as exc:
        from cityledger.cli.failures import expected_failure

        message = expected_failure(exc)
        if message is None:
            raise
        typer.echo(f"error: {message}", err=True)
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)
