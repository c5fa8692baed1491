"""cityledger.sdk: a typed client for cityledger over standard Ethereum JSON-RPC.

from cityledger.sdk import Ledger, Signer
ledger = Ledger.connect("http://127.0.0.1:8545", Signer.from_key(KEY), manifest=Path("m.json"))
"""

from cityledger.sdk.deploy import deploy
from cityledger.sdk.errors import (
    ContractRevert,
    LedgerError,
    LedgerRevert,
    LedgerTimeout,
    LedgerTransportError,
)
from cityledger.sdk.ledger import Ledger
from cityledger.sdk.manifest import Manifest
from cityledger.sdk.offers import GrantOffer, OfferFile
from cityledger.sdk.signers import Signer

__all__ = [
    "ContractRevert",
    "GrantOffer",
    "Ledger",
    "LedgerError",
    "LedgerRevert",
    "LedgerTimeout",
    "LedgerTransportError",
    "Manifest",
    "OfferFile",
    "Signer",
    "deploy",
]
