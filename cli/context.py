"""What every command needs: the resolved settings, the signer named by --key, and a Ledger."""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import typer
from eth_utils import is_address

from cityledger.cli.settings import ENV_PASSPHRASE, Settings
from cityledger.sdk import Ledger, Signer
from cityledger.sdk.errors import LedgerError
from cityledger.sdk.signers import KeystoreError, keystore_address, load_keystore


class CliError(Exception):
    """A reason to stop, shown to the user as one line."""


def passphrase(prompt: str, *, confirm: bool = False) -> str:
    """The keystore passphrase: $CITYLEDGER_PASSPHRASE, else asked on the terminal."""
    if os.environ.get(ENV_PASSPHRASE) is not None:
        return os.environ[ENV_PASSPHRASE]
    if not sys.stdin.isatty():
        raise CliError(f"no passphrase: set {ENV_PASSPHRASE} or run from a terminal")
    return str(typer.prompt(prompt, hide_input=True, confirmation_prompt=confirm))


DATA_MODULES = ("cryptography", "numpy", "pyarrow", "openpyxl")  # cityledger[data]


def require_data_extra(command: str) -> None:
    """Commands that mark or trace data need cityledger[data]; without it they say so."""
    missing = [m for m in DATA_MODULES if importlib.util.find_spec(m) is None]
    if missing:
        raise CliError(
            f"`cityledger {command}` marks or reads data, whose dependencies are not installed "
            f"({', '.join(missing)} missing): pip install 'cityledger[data]'"
        )


@contextmanager
def fingerprint_errors() -> Iterator[None]:
    """The fingerprint library's refusals (cityledger[data]) as one-line errors."""
    from cityledger.fingerprint.errors import FingerprintError

    try:
        yield
    except FingerprintError as exc:
        raise CliError(str(exc)) from None


@dataclass
class CliState:
    settings: Settings

    def keystore_path(self, name: str) -> Path:
        if not name or "/" in name or name.startswith("."):
            raise CliError(f"invalid key name {name!r}")
        return self.settings.keys_dir / f"{name}.json"

    def address(self, name_or_address: str) -> str:
        """An 0x address as given, or the address of a stored key by its name (no passphrase:
        keystores declare their address)."""
        if name_or_address.startswith("0x"):
            if not is_address(name_or_address):
                raise CliError(f"{name_or_address!r} is not a valid 0x address")
            return name_or_address
        path = self.keystore_path(name_or_address)
        if not path.exists():
            raise CliError(
                f"{name_or_address!r} is not an 0x address, nor a key in {self.settings.keys_dir}"
            )
        try:
            return keystore_address(path)
        except KeystoreError as exc:
            raise CliError(str(exc)) from None

    def signer(self) -> Signer:
        name = self.settings.key
        if name is None:
            raise CliError("this command signs: name a key with --key NAME (or CITYLEDGER_KEY)")
        path = self.keystore_path(name)
        if not path.exists():
            raise CliError(f"no key named {name!r} in {self.settings.keys_dir} (see `key list`)")
        try:
            return load_keystore(path, passphrase(f"Passphrase for key {name}"))
        except KeystoreError as exc:
            raise CliError(str(exc)) from None

    def ledger(self, *, signed: bool = True) -> Ledger:
        signer = self.signer() if signed else None
        settings = self.settings
        if settings.manifest is None and settings.consortium is None:
            raise CliError(
                "where are the contracts? give --manifest FILE or --consortium ADDRESS "
                "(or CITYLEDGER_MANIFEST / CITYLEDGER_CONSORTIUM, or the config file)"
            )
        try:
            return Ledger.connect(
                settings.rpc,
                signer,
                manifest=settings.manifest,
                consortium=settings.consortium,
                tls_ca=settings.gateway_ca,
            )
        except LedgerError as exc:
            raise CliError(f"cannot connect to {settings.rpc}: {exc}") from None


def state(ctx: typer.Context) -> CliState:
    obj = ctx.find_root().obj
    if not isinstance(obj, CliState):
        raise CliError("internal: the CLI's settings were not initialised")
    return obj
