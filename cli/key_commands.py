"""`cityledger key ...`: encrypted keystores (V3, scrypt) in $CITYLEDGER_HOME/keys."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from cityledger.cli.context import CliError, passphrase, state
from cityledger.cli.output import done, page_title, show, show_rows
from cityledger.sdk import Signer
from cityledger.sdk.signers import DEFAULT_SCRYPT_N, keystore_address, save_keystore

app = typer.Typer(no_args_is_help=True)

SCRYPT_HELP = "scrypt cost n (a power of two); lower it only for throwaway test keys."


def _save(ctx: typer.Context, name: str, signer: Signer, scrypt_n: int) -> None:
    cli = state(ctx)
    path = cli.keystore_path(name)
    if path.exists():
        raise CliError(f"a key named {name!r} already exists at {path}")
    secret = passphrase(f"Passphrase for new key {name}", confirm=True)
    save_keystore(signer, path, secret, scrypt_n)
    result = {"name": name, "address": signer.address, "path": str(path)}
    done(f"key {name}: {signer.address} ({path})", result, cli.settings.json)


@app.command("new")
def new_key(
    ctx: typer.Context,
    name: str,
    scrypt_n: int = typer.Option(DEFAULT_SCRYPT_N, "--scrypt-n", help=SCRYPT_HELP),
) -> None:
    """Generate a new key and store it encrypted under NAME."""
    _save(ctx, name, Signer.generate(), scrypt_n)


@app.command("import")
def import_key(
    ctx: typer.Context,
    name: str,
    private_key_file: Annotated[
        Path | None,
        typer.Option("--private-key-file", help="File holding the hex private key (or stdin)."),
    ] = None,
    scrypt_n: int = typer.Option(DEFAULT_SCRYPT_N, "--scrypt-n", help=SCRYPT_HELP),
) -> None:
    """Encrypt an existing hex private key under NAME."""
    raw = private_key_file.read_text() if private_key_file else sys.stdin.readline()
    try:
        signer = Signer.from_key(raw.strip())
    except (ValueError, TypeError):
        raise CliError("that is not a 32-byte hex private key") from None
    _save(ctx, name, signer, scrypt_n)


@app.command("list")
def list_keys(
    ctx: typer.Context,
    offset: int = typer.Option(0, "--offset", min=0),
    limit: int = typer.Option(100, "--limit", min=1),
) -> None:
    """The stored keys and their addresses (no passphrase needed), a page at a time."""
    cli = state(ctx)
    keys_dir = cli.settings.keys_dir
    rows = [
        {"name": p.stem, "address": keystore_address(p), "path": str(p)}
        for p in sorted(keys_dir.glob("*.json"))[offset : offset + limit]
    ]
    title = page_title(f"keys in {keys_dir}", offset, rows)
    show_rows(rows, ["name", "address", "path"], cli.settings.json, title=title)


@app.command("show")
def show_key(ctx: typer.Context, name: str) -> None:
    """The address of key NAME (no passphrase needed)."""
    cli = state(ctx)
    path = cli.keystore_path(name)
    if not path.exists():
        raise cli.no_key(name)
    show({"name": name, "address": keystore_address(path), "path": str(path)}, cli.settings.json)
