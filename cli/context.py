"""What every command needs: the resolved settings, the signer named by --key, and a Ledger.

The SDK (web3, the contracts' ABIs) is imported when a command first asks for a ledger or a
signer, not when the command line is parsed.
"""

from __future__ import annotations

import difflib
import importlib.util
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from cityledger.cli.settings import ENV_PASSPHRASE, Settings

if TYPE_CHECKING:
    from cityledger.cli.names import Names
    from cityledger.sdk.ledger import Ledger
    from cityledger.sdk.signers import Signer

PENDING_FILE = "pending-transactions.json"  # in the CLI's home: writes not final yet


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
    _ledgers: dict[bool, Ledger] = field(default_factory=dict)
    _names: dict[str, Names] = field(default_factory=dict)  # by node URL

    def keystore_path(self, name: str) -> Path:
        if not name or "/" in name or name.startswith("."):
            raise CliError(f"invalid key name {name!r}")
        return self.settings.keys_dir / f"{name}.json"

    def key_names(self) -> list[str]:
        return sorted(p.stem for p in self.settings.keys_dir.glob("*.json"))

    def no_key(self, name: str) -> CliError:
        """There is no key `name`: say so, with the closest stored names."""
        close = difflib.get_close_matches(name, self.key_names(), n=3)
        tail = "; did you mean " + " or ".join(f"'{c}'" for c in close) + "?" if close else ""
        return CliError(
            f"no key named '{name}' in {self.settings.keys_dir}{tail} (see `cityledger key list`)"
        )

    def key_address(self, name: str) -> str | None:
        """The address of the stored key `name` (no passphrase: keystores declare it), or None
        if there is no such key."""
        from cityledger.sdk.signers import keystore_address

        if not name or "/" in name or name.startswith("."):
            return None
        path = self.settings.keys_dir / f"{name}.json"
        return keystore_address(path) if path.exists() else None

    def address(self, name_or_address: str) -> str:
        """An 0x address as given, or the address of a stored key by its name: for an account
        the chain does not know yet (an agency to register, a new city's admin)."""
        from eth_utils import is_address

        if name_or_address.startswith("0x"):
            if not is_address(name_or_address):
                raise CliError(f"{name_or_address!r} is not a valid 0x address (40 hex digits)")
            return name_or_address
        address = self.key_address(name_or_address)
        if address is None:
            raise CliError(
                f"{name_or_address!r} is not an 0x address, nor a key in {self.settings.keys_dir} "
                "(see `cityledger key list`)"
            )
        return address

    def signer(self) -> Signer:
        from cityledger.sdk.signers import load_keystore

        name = self.settings.key
        if name is None:
            raise CliError("this command signs: name a key with --key NAME (or CITYLEDGER_KEY)")
        path = self.keystore_path(name)
        if not path.exists():
            raise self.no_key(name)
        return load_keystore(path, passphrase(f"Passphrase for key {name}"))

    def ledger(self, *, signed: bool = True) -> Ledger:
        """A connection to the node, with the signer of --key when `signed`; writes not final
        in time are remembered in the CLI's home, so that running the same command again waits
        for them instead of sending them twice."""
        if signed not in self._ledgers:
            self._ledgers[signed] = self._connect(
                self.settings.rpc, self.signer() if signed else None
            )
        return self._ledgers[signed]

    def _connect(self, rpc: str, signer: Signer | None) -> Ledger:
        from cityledger.sdk.ledger import Ledger

        settings = self.settings
        if settings.manifest is None and settings.consortium is None:
            raise CliError(
                "where are the contracts? give --manifest FILE or --consortium ADDRESS "
                "(or CITYLEDGER_MANIFEST / CITYLEDGER_CONSORTIUM, or the config file)"
            )
        return Ledger.connect(
            rpc,
            signer,
            manifest=settings.manifest,
            consortium=settings.consortium,
            tls_ca=settings.gateway_ca,
            receipt_timeout=settings.wait,
            pending_file=settings.home / PENDING_FILE,
        )

    def names(self, rpc: str | None = None) -> Names:
        """The chain's names of datasets, cities, agencies and grants (read once a run), from
        the node of the settings or the one at `rpc`."""
        from cityledger.cli.names import Names

        url = rpc or self.settings.rpc
        if url not in self._names:
            if url == self.settings.rpc:
                ledger = next(iter(self._ledgers.values()), None) or self.ledger(signed=False)
            else:
                ledger = self._connect(url, None)
            self._names[url] = Names(self, ledger)
        return self._names[url]


def state(ctx: typer.Context) -> CliState:
    obj = ctx.find_root().obj
    if not isinstance(obj, CliState):
        raise CliError("internal: the CLI's settings were not initialised")
    return obj


def wants_json(ctx: typer.Context) -> bool:
    """--json was given; False where a group runs on its own (`python -m cityledger.node`),
    without the top command's options."""
    obj = ctx.find_root().obj
    return isinstance(obj, CliState) and obj.settings.json
