"""Reading what a mined transaction emitted: the decoded events of one system contract."""

from __future__ import annotations

from typing import Any

from web3.logs import DISCARD
from web3.types import TxReceipt

from cityledger.sdk.chain import Chain


def emitted(chain: Chain, receipt: TxReceipt, contract: str, event: str) -> list[dict[str, Any]]:
    """The arguments of every `event` of `contract` in the receipt, in log order."""
    handle = chain.contract(contract).events[event]()
    return [dict(log["args"]) for log in handle.process_receipt(receipt, errors=DISCARD)]


def emitted_once(chain: Chain, receipt: TxReceipt, contract: str, event: str) -> dict[str, Any]:
    found = emitted(chain, receipt, contract, event)
    if len(found) != 1:
        raise RuntimeError(f"expected one {contract}.{event} event, found {len(found)}")
    return found[0]


def tx_hash(receipt: TxReceipt) -> str:
    return "0x" + bytes(receipt["transactionHash"]).hex()
