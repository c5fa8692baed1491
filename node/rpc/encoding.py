"""Ethereum JSON-RPC encodings: hex quantities and data in, blocks, transactions, receipts and
logs out (camelCase keys, as web3.py and other clients expect)."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

import rlp
from eth._utils.address import generate_contract_address
from eth.abc import BlockAPI, ReceiptAPI, SignedTransactionAPI
from eth_typing import Address
from eth_utils import to_checksum_address

from cityledger.node.rpc.errors import invalid_params
from cityledger.node.storage.log_index import IndexedLog

_QUANTITY = re.compile(r"^0x(0|[1-9a-fA-F][0-9a-fA-F]*)$")
_DATA = re.compile(r"^0x([0-9a-fA-F]{2})*$")
MAX_QUANTITY = 2**256 - 1


def quantity(value: int) -> str:
    return hex(value)


def data(value: bytes) -> str:
    return "0x" + value.hex()


def address(value: bytes) -> str | None:
    return to_checksum_address(value) if value else None


def parse_quantity(value: object, name: str) -> int:
    if isinstance(value, str) and _QUANTITY.match(value):
        number = int(value, 16)
        if number <= MAX_QUANTITY:
            return number
    raise invalid_params(f"{name} must be a hex quantity such as 0x1a, got {_show(value)}")


def parse_data(value: object, name: str, size: int | None = None) -> bytes:
    if isinstance(value, str) and _DATA.match(value):
        raw = bytes.fromhex(value[2:])
        if size is None or len(raw) == size:
            return raw
    expected = "hex data (0x followed by pairs of hex digits)"
    if size is not None:
        expected = f"{size} bytes of hex data"
    raise invalid_params(f"{name} must be {expected}, got {_show(value)}")


def parse_address(value: object, name: str) -> Address:
    return Address(parse_data(value, name, 20))


def parse_hash(value: object, name: str) -> bytes:
    return parse_data(value, name, 32)


def parse_bool(value: object, name: str) -> bool:
    if isinstance(value, bool):
        return value
    raise invalid_params(f"{name} must be true or false, got {_show(value)}")


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def format_transaction(
    tx: SignedTransactionAPI, block: BlockAPI | None, index: int | None
) -> dict[str, Any]:
    result: dict[str, Any] = {
        "hash": data(tx.hash),
        "nonce": quantity(tx.nonce),
        "blockHash": data(block.hash) if block else None,
        "blockNumber": quantity(block.number) if block else None,
        "transactionIndex": quantity(index) if index is not None else None,
        "from": to_checksum_address(tx.sender),
        "to": address(tx.to),
        "value": quantity(tx.value),
        "gas": quantity(tx.gas),
        "gasPrice": quantity(_effective_gas_price(tx)),
        "input": data(tx.data),
        "type": quantity(tx.type_id or 0),
        "v": quantity(tx.y_parity if tx.type_id is not None else _legacy_v(tx)),
        "r": quantity(tx.r),
        "s": quantity(tx.s),
    }
    if tx.chain_id is not None:
        result["chainId"] = quantity(tx.chain_id)
    if tx.type_id is not None:
        result["yParity"] = quantity(tx.y_parity)
        result["accessList"] = [
            {
                "address": to_checksum_address(a),
                "storageKeys": [data(k.to_bytes(32, "big")) for k in keys],
            }
            for a, keys in tx.access_list
        ]
    if tx.type_id == 2:
        result["maxFeePerGas"] = quantity(tx.max_fee_per_gas)
        result["maxPriorityFeePerGas"] = quantity(tx.max_priority_fee_per_gas)
    return result


def _legacy_v(tx: SignedTransactionAPI) -> int:
    v: int = getattr(tx, "v")  # noqa: B009 - legacy transactions only; not on the API type
    return v


def _effective_gas_price(tx: SignedTransactionAPI) -> int:
    # The base fee is always 0 on this chain, so the price paid is the priority fee, capped.
    price: int = min(tx.max_fee_per_gas, tx.max_priority_fee_per_gas)
    return price


def format_block(block: BlockAPI, full_transactions: bool) -> dict[str, Any]:
    header = block.header
    transactions: list[Any] = [
        format_transaction(tx, block, i) if full_transactions else data(tx.hash)
        for i, tx in enumerate(block.transactions)
    ]
    return {
        "number": quantity(header.block_number),
        "hash": data(header.hash),
        "parentHash": data(header.parent_hash),
        "nonce": data(header.nonce),
        "mixHash": data(header.mix_hash),
        "sha3Uncles": data(header.uncles_hash),
        "logsBloom": data(header.bloom.to_bytes(256, "big")),
        "transactionsRoot": data(header.transaction_root),
        "stateRoot": data(header.state_root),
        "receiptsRoot": data(header.receipt_root),
        "miner": to_checksum_address(header.coinbase),
        "difficulty": quantity(header.difficulty),
        "totalDifficulty": quantity(0),
        "extraData": data(header.extra_data),
        "size": quantity(len(rlp.encode(block))),
        "gasLimit": quantity(header.gas_limit),
        "gasUsed": quantity(header.gas_used),
        "timestamp": quantity(header.timestamp),
        "baseFeePerGas": quantity(header.base_fee_per_gas or 0),
        "withdrawalsRoot": data(header.withdrawals_root or b""),
        "withdrawals": [],
        "blobGasUsed": quantity(header.blob_gas_used),
        "excessBlobGas": quantity(header.excess_blob_gas),
        "parentBeaconBlockRoot": data(header.parent_beacon_block_root or b""),
        "transactions": transactions,
        "uncles": [],
    }


@lru_cache(maxsize=4096)
def _checksummed(address: bytes) -> str:
    # EIP-55 costs a keccak an address; a log query names few contracts many times over.
    return to_checksum_address(address)


def format_log(log: IndexedLog, block_hash: bytes | str) -> dict[str, Any]:
    """`block_hash` as bytes, or already as 0x hex (callers formatting a block's many logs)."""
    return {
        "removed": False,
        "logIndex": quantity(log.log_index),
        "transactionIndex": quantity(log.transaction_index),
        "transactionHash": data(log.transaction_hash),
        "blockHash": block_hash if isinstance(block_hash, str) else data(block_hash),
        "blockNumber": quantity(log.block_number),
        "address": _checksummed(log.address),
        "data": data(log.data),
        "topics": [data(t) for t in log.topics],
    }


def format_receipt(block: BlockAPI, receipts: tuple[ReceiptAPI, ...], index: int) -> dict[str, Any]:
    tx = block.transactions[index]
    receipt = receipts[index]
    previous_gas = receipts[index - 1].gas_used if index > 0 else 0
    first_log = sum(len(r.logs) for r in receipts[:index])
    logs = [
        format_log(
            IndexedLog(
                block_number=block.number,
                log_index=first_log + i,
                transaction_index=index,
                transaction_hash=tx.hash,
                address=entry.address,
                topics=tuple(t.to_bytes(32, "big") for t in entry.topics),
                data=entry.data,
            ),
            block.hash,
        )
        for i, entry in enumerate(receipt.logs)
    ]
    contract = generate_contract_address(tx.sender, tx.nonce) if not tx.to else None
    return {
        "transactionHash": data(tx.hash),
        "transactionIndex": quantity(index),
        "blockHash": data(block.hash),
        "blockNumber": quantity(block.number),
        "from": to_checksum_address(tx.sender),
        "to": address(tx.to),
        "cumulativeGasUsed": quantity(receipt.gas_used),
        "gasUsed": quantity(receipt.gas_used - previous_gas),
        "effectiveGasPrice": quantity(_effective_gas_price(tx)),
        "contractAddress": to_checksum_address(contract) if contract else None,
        "logs": logs,
        "logsBloom": data(receipt.bloom.to_bytes(256, "big")),
        "status": quantity(1 if receipt.state_root == b"\x01" else 0),
        "type": quantity(tx.type_id or 0),
    }
