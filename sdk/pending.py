"""Transactions sent but not seen final, remembered across runs, so that sending the same one
again is recognised instead of doubled.

When quorum is lost a transaction waits in the pools; whoever sent it may give up waiting and
run the same command again. A second transaction would then either be refused by the contract
once the first is final (a grant accepted twice) or, worse, do the thing twice. The registry
keeps, per (chain, signer, contract, call data), the hash of the transaction that was still
waiting: a repeat first looks that one up. It is a small JSON file of the caller's choosing
(the CLI keeps it in its home directory); entries are forgotten once final or dropped.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from eth_utils import keccak

from cityledger.sdk.json_files import read_json_object

MAX_ENTRIES = 1_000


class PendingTransactions:
    def __init__(self, path: Path) -> None:
        self.path = path

    @staticmethod
    def key(chain_id: int, sender: str, to: str, data: bytes) -> str:
        return "0x" + keccak(f"{chain_id}:{sender.lower()}:{to.lower()}:".encode() + data).hex()

    def _read(self) -> dict[str, str]:
        if not self.path.exists():
            return {}
        try:
            raw = read_json_object(self.path, "pending transactions", ValueError)
        except ValueError:
            return {}  # an unreadable registry only loses the recognition of repeats
        return {str(k): str(v) for k, v in raw.items()}

    def _write(self, entries: dict[str, str]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        kept = dict(list(entries.items())[-MAX_ENTRIES:])
        handle, name = tempfile.mkstemp(dir=self.path.parent, prefix=".pending-")
        with os.fdopen(handle, "w") as out:
            json.dump(kept, out, indent=1)
        os.replace(name, self.path)

    def get(self, key: str) -> str | None:
        return self._read().get(key)

    def remember(self, key: str, tx_hash: str) -> None:
        entries = self._read()
        entries[key] = tx_hash
        self._write(entries)

    def forget(self, key: str) -> None:
        entries = self._read()
        if entries.pop(key, None) is not None:
            self._write(entries)
