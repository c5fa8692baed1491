"""The SDK's entry point: `Ledger.connect(rpc_url, signer)` and its sub-clients."""

from __future__ import annotations

from pathlib import Path

from eth_typing import ChecksumAddress
from eth_utils import to_checksum_address
from web3 import Web3

from cityledger.contracts.artifacts import SYSTEM_CONTRACTS, load_artifact
from cityledger.contracts.deployment import text32
from cityledger.sdk.access_client import AccessClient
from cityledger.sdk.allocation_client import AllocationClient
from cityledger.sdk.audit import AuditClient
from cityledger.sdk.chain import (
    DEFAULT_RECEIPT_TIMEOUT,
    Chain,
    connect_web3,
    translated_errors,
)
from cityledger.sdk.consortium_client import ConsortiumClient
from cityledger.sdk.deliveries_client import DeliveriesClient
from cityledger.sdk.errors import LedgerError
from cityledger.sdk.finality import FinalityProof, verify_certificate
from cityledger.sdk.grants_client import DatasetsClient, GrantsClient
from cityledger.sdk.history import History
from cityledger.sdk.leaks_client import LeaksClient
from cityledger.sdk.manifest import Manifest
from cityledger.sdk.pending import PendingTransactions
from cityledger.sdk.signers import Signer


class ContractsNotFound(LedgerError):
    """The system contracts could not be located on this chain."""


def discover_addresses(w3: Web3, consortium: str) -> dict[str, ChecksumAddress]:
    """The system contracts' addresses as the Consortium at `consortium` registers them."""
    address = to_checksum_address(consortium)
    contract = w3.eth.contract(address=address, abi=load_artifact("Consortium").abi)
    addresses = {"Consortium": address}
    with translated_errors("discover the system contracts"):
        for name in SYSTEM_CONTRACTS[1:]:
            found = to_checksum_address(contract.functions.systemContract(text32(name)).call())
            if int(found, 16) == 0:
                raise ContractsNotFound(f"Consortium {consortium} registers no {name}")
            addresses[name] = found
    return addresses


class Ledger:
    """A connection to a cityledger chain. Sub-clients: `consortium`, `datasets`, `grants`,
    `access`, `leaks`, `allocation`, `audit`, `deliveries` (data from gateways under a grant);
    `verify_finality` checks a block's certificate."""

    def __init__(self, chain: Chain, first_block: int = 0, tls_ca: Path | None = None) -> None:
        self.chain = chain
        self.history = History(chain, first_block)
        self.consortium = ConsortiumClient(chain)
        self.datasets = DatasetsClient(chain)
        self.grants = GrantsClient(chain, self.history)
        self.access = AccessClient(chain, self.history)
        self.leaks = LeaksClient(chain)
        self.allocation = AllocationClient(chain)
        self.audit = AuditClient(self.history, self.consortium)
        self.deliveries = DeliveriesClient(chain, self.grants, self.datasets, tls_ca)

    @classmethod
    def connect(
        cls,
        rpc_url: str,
        signer: Signer | None = None,
        *,
        manifest: Manifest | Path | None = None,
        consortium: str | None = None,
        receipt_timeout: float = DEFAULT_RECEIPT_TIMEOUT,
        tls_ca: Path | None = None,
        pending_file: Path | None = None,
    ) -> Ledger:
        """Connects to the node at `rpc_url`. Contract addresses come from `manifest` (a Manifest
        or its JSON file, a deployment's or a local network's `testnet.json`), or from the
        chain: the Consortium at `consortium` names the others. `tls_ca` is the CA file that
        data gateways' certificates are checked against (the system's trusted CAs when None).
        `pending_file` keeps transactions that were not final in time, so that sending the same
        one again is recognised (`cityledger.sdk.pending`)."""
        w3 = connect_web3(rpc_url)
        loaded = Manifest.read(manifest) if isinstance(manifest, Path) else manifest
        if loaded is not None:
            addresses, first_block = dict(loaded.contracts), loaded.first_block
        elif consortium is not None:
            addresses = discover_addresses(w3, consortium)
            first_block = 0
        else:
            raise ContractsNotFound("give a deployment manifest or the Consortium address")
        pending = PendingTransactions(pending_file) if pending_file is not None else None
        chain = Chain(w3, addresses, signer, receipt_timeout=receipt_timeout, pending=pending)
        return cls(chain, first_block, tls_ca)

    @property
    def address(self) -> ChecksumAddress | None:
        """The signer's address, if connected with one."""
        return None if self.chain.signer is None else self.chain.signer.address

    def verify_finality(self, block_number: int) -> FinalityProof:
        """Fetches block `block_number` and its certificate (cityledger_getFinalityCertificate)
        and checks the seals against the validators Consortium reported at the parent block."""
        block = self.chain.rpc(
            "eth_getBlockByNumber", lambda: self.chain.w3.eth.get_block(block_number)
        )
        certificate = self.chain.raw_request(
            "cityledger_getFinalityCertificate", [hex(block_number)]
        )
        if certificate is None:
            raise LedgerError(f"the node has no finality certificate for block {block_number}")
        validators = self.consortium.validators(max(block_number - 1, 0))
        return verify_certificate(bytes(block["hash"]), block_number, certificate, validators)
