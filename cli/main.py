"""The `cityledger` command: a thin layer over the SDK, and over the node for `node`/`testnet`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from typer._click.exceptions import NoArgsIsHelpError  # typer vendors its own click

from cityledger.cli import (
    access_commands,
    agency_commands,
    alloc_commands,
    audit_commands,
    city_commands,
    contracts_commands,
    data_commands,
    dataset_commands,
    finding_commands,
    grant_commands,
    key_commands,
    leak_commands,
)
from cityledger.cli.context import CliError, CliState
from cityledger.cli.hints import hint_for
from cityledger.cli.settings import SettingsError, resolve
from cityledger.sdk.errors import LedgerError
from cityledger.sdk.manifest import ManifestError
from cityledger.sdk.offers import OfferError
from cityledger.sdk.signers import KeystoreError

app = typer.Typer(
    name="cityledger",
    help="Cross-city data-access grants, leak-traceable audit trails and regional allocation.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


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
) -> None:
    """Settings come from these options, then environment variables, then the config file
    (~/.config/cityledger/config.toml or $CITYLEDGER_CONFIG; keys: rpc, key, manifest,
    consortium, home, gateway_ca)."""
    ctx.obj = CliState(
        resolve(rpc=rpc, key=key, as_json=as_json, manifest=manifest, consortium=consortium)
    )


# Agencies, auditors and cities (over the SDK).
app.add_typer(key_commands.app, name="key")
app.add_typer(city_commands.app, name="city")
app.add_typer(agency_commands.app, name="agency")
app.add_typer(dataset_commands.app, name="dataset")
app.add_typer(grant_commands.app, name="grant")
app.add_typer(access_commands.app, name="access")
app.add_typer(audit_commands.app, name="audit")
audit_commands.app.command("verify-finding")(finding_commands.verify_finding)
app.add_typer(leak_commands.app, name="leak")
app.add_typer(data_commands.app, name="data")
app.add_typer(alloc_commands.app, name="alloc")
# Contract artifacts.
app.add_typer(contracts_commands.app, name="contracts")


def _stand_in(name: str, runs: str, extra: str, missing: str) -> None:
    """Registers `name` as a command that explains itself, where only the SDK's dependencies
    are installed: whatever follows it, it says what to install."""

    @app.command(
        name,
        help=f"(needs cityledger[{extra}]: {missing} is not installed)",
        context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
        add_help_option=False,
    )
    def unavailable() -> None:
        raise CliError(
            f"`cityledger {name}` runs {runs}, whose dependencies are not installed "
            f"({missing} is missing): pip install 'cityledger[{extra}]'"
        )


# Running the network.
try:
    from cityledger.node import cli as node_cli

    app.add_typer(node_cli.app, name="node")
except ModuleNotFoundError as exc:  # an SDK-only install: py-evm, plyvel or uvicorn absent
    _stand_in("node", "a node", "node", str(exc.name))
try:  # a local network runs nodes and data gateways
    from cityledger.testnet import cli as testnet_cli

    app.add_typer(testnet_cli.app, name="testnet")
except ModuleNotFoundError as exc:
    _stand_in("testnet", "nodes and data gateways", "node,gateway", str(exc.name))

# Serving data under grants.
try:
    from cityledger.gateway import cli as gateway_cli

    app.add_typer(gateway_cli.app, name="gateway")
except ModuleNotFoundError as exc:  # without the gateway extra: fastapi, duckdb, pyarrow absent
    _stand_in("gateway", "a data gateway", "gateway", str(exc.name))

# Failures that mean "this did not happen, here is why": one line on stderr, exit 1.
EXPECTED_FAILURES = (
    CliError,
    LedgerError,
    OfferError,
    KeystoreError,
    ManifestError,
    SettingsError,
    OSError,
    ValueError,  # malformed input the SDK checks locally (ids, addresses, hex)
)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def main() -> None:
    try:
        code = app(standalone_mode=False)
    except NoArgsIsHelpError as exc:  # a bare group name: its help, as click would show it
        typer.echo(exc.format_message())
        sys.exit(0)
    except typer.Abort:
        typer.echo("error: aborted", err=True)
        sys.exit(130)
    except typer.TyperException as exc:  # usage errors: bad or missing options
        typer.echo(f"error: {_one_line(exc.format_message())}", err=True)
        sys.exit(exc.exit_code)
    except EXPECTED_FAILURES as exc:
        hint = hint_for(exc)  # on the same line: a refusal is one line, for people and scripts
        message = _one_line(str(exc)) + (f"; {hint}" if hint else "")
        typer.echo(f"error: {message}", err=True)
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)
