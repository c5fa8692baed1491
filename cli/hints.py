"""What to do next, in the CLI's terms: the SDK's errors say what is wrong in the ledger's
words, and the CLI adds which of its commands or options fixes it."""

from __future__ import annotations

from cityledger.sdk.errors import (
    ContractRevert,
    GatewayUnreachable,
    LedgerTimeout,
    LedgerTransportError,
    MissingSigner,
)

# By the contract's custom error name.
_REVERT_HINTS = {
    "NotGrantee": "check --key: it must name the grantee agency's key",
    "NotGrantor": "check --key: it must name the grantor agency's key",
    "UnknownGrant": "`cityledger grant list --grantor AGENCY` shows the grants on chain",
    "UnknownDataset": "the owner registers it with `cityledger dataset register`",
    "MissingRole": "a city admin sets roles with `cityledger agency register`",
    "OfferExpired": "sign a new offer with a later --valid-until",
    "NoOpenRound": "the coordinator opens one with `cityledger alloc round open`",
    "NotCityAdmin": "check --key: it must name the city admin's key",
    "CommitmentAlreadyRegistered": "this very copy was registered before (the same data, grant "
    "and secret give the same bytes): hand over the file marked then",
}


def hint_for(error: BaseException) -> str | None:
    if isinstance(error, MissingSigner):
        return "give a key with --key NAME or $CITYLEDGER_KEY (`cityledger key list`)"
    if isinstance(error, LedgerTimeout) and error.tx_hash is not None:
        return (
            f"see whether it is final with `cityledger tx show {error.tx_hash}`, or run the same "
            "command again: it waits for this transaction and does not send it twice"
        )
    if isinstance(error, LedgerTransportError) and not isinstance(error, GatewayUnreachable):
        return "the node is named by --rpc, $CITYLEDGER_RPC or the config file's rpc"
    if isinstance(error, ContractRevert):
        return _REVERT_HINTS.get(error.error_name)
    return None
