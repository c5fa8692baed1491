"""The deployment manifest: where the system contracts of one chain live, written by `deploy`
and read by `Ledger.connect`. A local network's `testnet.json` (written by `cityledger testnet
up`) is read as one too: it names the same contracts, deployed in its genesis."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_typing import ChecksumAddress
from eth_utils import to_checksum_address

from cityledger.contracts.artifacts import SYSTEM_CONTRACTS
from cityledger.contracts.deployment import GENESIS_DEPLOYER
from cityledger.sdk.errors import LedgerInputError
from cityledger.sdk.json_files import read_json_object

MANIFEST_KIND = "cityledger.deployment"


class ManifestError(LedgerInputError):
    """A manifest that cannot be read or does not name every system contract."""


@dataclass(frozen=True)
class Manifest:
    chain_id: int
    contracts: dict[str, ChecksumAddress]
    deployer: ChecksumAddress
    first_block: int  # history starts here: no system contract event is older

    @property
    def consortium(self) -> ChecksumAddress:
        return self.contracts["Consortium"]

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": MANIFEST_KIND,
            "chainId": self.chain_id,
            "deployer": self.deployer,
            "firstBlock": self.first_block,
            "contracts": dict(self.contracts),
        }

    def write(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.as_json(), indent=2) + "\n")
        return path

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Manifest:
        if "system_contracts" in data and "chain_id" in data and "kind" not in data:
            data = {  # a local network's testnet.json: contracts deployed in its genesis
                "kind": MANIFEST_KIND,
                "chainId": data["chain_id"],
                "deployer": GENESIS_DEPLOYER,
                "firstBlock": 0,
                "contracts": data["system_contracts"],
            }
        if data.get("kind") != MANIFEST_KIND:
            raise ManifestError("not a cityledger deployment manifest nor a network's testnet.json")
        try:
            contracts = {
                name: to_checksum_address(data["contracts"][name]) for name in SYSTEM_CONTRACTS
            }
            return cls(
                chain_id=int(data["chainId"]),
                contracts=contracts,
                deployer=to_checksum_address(data["deployer"]),
                first_block=int(data.get("firstBlock", 0)),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ManifestError(f"malformed deployment manifest: {exc!r}") from None

    @classmethod
    def read(cls, path: Path) -> Manifest:
        return cls.from_json(read_json_object(path, "deployment manifest", ManifestError))
