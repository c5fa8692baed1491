"""Who signs: an in-memory secp256k1 key, optionally loaded from or saved to an encrypted
Ethereum keystore (V3, scrypt)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from eth_typing import ChecksumAddress

from cityledger.sdk.errors import LedgerInputError
from cityledger.sdk.json_files import read_json_object

if TYPE_CHECKING:  # eth-account loads in a third of a second: only when a key is used
    from eth_account.messages import SignableMessage
    from eth_account.signers.local import LocalAccount

# eth-account's default scrypt cost (n = 2^18): about a second per unlock, on purpose.
DEFAULT_SCRYPT_N = 1 << 18


class KeystoreError(LedgerInputError):
    """A keystore that cannot be read, or a wrong passphrase."""


class Signer:
    """An in-memory private key that signs transactions and EIP-712 messages."""

    def __init__(self, account: LocalAccount) -> None:
        self._account = account

    @classmethod
    def from_key(cls, private_key: str | bytes) -> Signer:
        from eth_account import Account

        return cls(Account.from_key(private_key))

    @classmethod
    def generate(cls) -> Signer:
        from eth_account import Account

        return cls(Account.create())

    @property
    def address(self) -> ChecksumAddress:
        return self._account.address

    @property
    def private_key(self) -> bytes:
        return bytes(self._account.key)

    def sign_transaction(self, tx: dict[str, Any]) -> bytes:
        return bytes(self._account.sign_transaction(tx).raw_transaction)

    def sign_message(self, message: SignableMessage) -> bytes:
        """A 65-byte r || s || v signature (v in {27, 28}, low s) over an EIP-191/712 message."""
        return bytes(self._account.sign_message(message).signature)

    def __repr__(self) -> str:
        return f"Signer({self.address})"


def keystore_json(signer: Signer, passphrase: str, scrypt_n: int = DEFAULT_SCRYPT_N) -> str:
    """The V3 keystore JSON of a key, encrypted with scrypt."""
    from eth_account import Account

    data = Account.encrypt(signer.private_key, passphrase, kdf="scrypt", iterations=scrypt_n)
    return json.dumps(data, indent=2)


def save_keystore(
    signer: Signer, path: Path, passphrase: str, scrypt_n: int = DEFAULT_SCRYPT_N
) -> Path:
    """Writes an encrypted keystore readable by its owner only; refuses to overwrite one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(keystore_json(signer, passphrase, scrypt_n))
    return path


def keystore_address(path: Path) -> ChecksumAddress:
    """The address a keystore declares, without decrypting it."""
    data = _read_keystore(path)
    if "address" not in data:
        raise KeystoreError(f"keystore {path} does not declare its address")
    from eth_utils import to_checksum_address

    return to_checksum_address("0x" + str(data["address"]).removeprefix("0x"))


def _read_keystore(path: Path) -> dict[str, Any]:
    data = read_json_object(path, "keystore", KeystoreError)
    if "crypto" not in data and "Crypto" not in data:
        raise KeystoreError(f"{path} is not a V3 keystore")
    return data


def load_keystore(path: Path, passphrase: str) -> Signer:
    from eth_account import Account

    data = _read_keystore(path)
    try:
        key = Account.decrypt(data, passphrase)
    except ValueError:
        raise KeystoreError(f"wrong passphrase for keystore {path}") from None
    return Signer.from_key(bytes(key))
