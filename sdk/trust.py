"""The trust root a light client starts from: a block known to be on the chain, and the
validator set that seals the block after it.

A node cannot be asked for it: a node that lies would name a chain of its own making, sealed by
keys it holds, and everything after would check. So it comes from elsewhere: the genesis file
every member city holds (`testnet up` writes DIR/trust.json from the genesis it created;
`cityledger audit trust-root` computes one from a genesis file), or a checkpoint that an
earlier verification wrote (`cityledger audit checkpoint`) and that the auditor kept.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_typing import ChecksumAddress
from eth_utils import to_bytes, to_checksum_address

from cityledger.sdk.errors import LedgerInputError
from cityledger.sdk.json_files import read_json_object

TRUST_ROOT_KIND = "cityledger.trust-root"
MAX_VALIDATORS = 1_000


class TrustRootError(LedgerInputError):
    """A trust root file that cannot be read or is not one."""


@dataclass(frozen=True)
class TrustRoot:
    chain_id: int
    block_number: int
    block_hash: bytes
    # Consortium.getValidators() in the block's state: the set that seals the next block.
    validators: tuple[ChecksumAddress, ...]
    consortium: ChecksumAddress

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": TRUST_ROOT_KIND,
            "chainId": self.chain_id,
            "blockNumber": self.block_number,
            "blockHash": "0x" + self.block_hash.hex(),
            "consortium": self.consortium,
            "validators": list(self.validators),
        }

    def write(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.as_json(), indent=2) + "\n")
        return path

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TrustRoot:
        if data.get("kind") != TRUST_ROOT_KIND:
            raise TrustRootError("not a cityledger trust root (kind cityledger.trust-root)")
        try:
            block_hash = to_bytes(hexstr=str(data["blockHash"]))
            validators = tuple(to_checksum_address(v) for v in data["validators"])
            root = cls(
                chain_id=int(data["chainId"]),
                block_number=int(data["blockNumber"]),
                block_hash=block_hash,
                validators=validators,
                consortium=to_checksum_address(data["consortium"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise TrustRootError(f"malformed trust root: {exc!r}") from None
        if len(block_hash) != 32 or root.block_number < 0:
            raise TrustRootError("a trust root names a block by its number and 32-byte hash")
        if not 0 < len(validators) <= MAX_VALIDATORS or len(set(validators)) != len(validators):
            raise TrustRootError("a trust root names between 1 and 1,000 distinct validators")
        return root

    @classmethod
    def read(cls, path: Path) -> TrustRoot:
        return cls.from_json(read_json_object(path, "trust root", TrustRootError))
