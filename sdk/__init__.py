"""cityledger.sdk: a typed client for cityledger over standard Ethereum JSON-RPC.

from cityledger.sdk import Ledger, Signer
ledger = Ledger.connect("http://127.0.0.1:8545", Signer.from_key(KEY), manifest=Path("m.json"))

The names below are imported when first used: web3 and the contracts' ABIs take most of a
second to load, which a program importing one light module (`merkle`, `models`) need not pay.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cityledger.sdk.deployer import deploy
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

_EXPORTS = {
    "ContractRevert": "errors",
    "GrantOffer": "offers",
    "Ledger": "ledger",
    "LedgerError": "errors",
    "LedgerRevert": "errors",
    "LedgerTimeout": "errors",
    "LedgerTransportError": "errors",
    "Manifest": "manifest",
    "OfferFile": "offers",
    "Signer": "signers",
    "deploy": "deployer",
}

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


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'cityledger.sdk' has no attribute {name!r}")
    return getattr(import_module(f"cityledger.sdk.{module}"), name)
