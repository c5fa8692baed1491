"""The Ethereum JSON-RPC methods the node serves, by their standard names."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import rlp
from eth.abc import BlockAPI, BlockHeaderAPI
from eth.exceptions import Revert
from eth_abi import decode
from eth_abi.exceptions import DecodingError
from eth_typing import Address
from eth_utils import ValidationError, keccak, to_checksum_address

from cityledger.node import __version__
from cityledger.node.admission import TxRejected
from cityledger.node.config import RpcLimits
from cityledger.node.execution.calls import (
    CALL_SENDER,
    AccountOverride,
    BlockContext,
    CallSpec,
    CallTimeout,
    GasEstimateFailed,
    SimulatedBlock,
    SimulatedResult,
    deadline,
    simulate,
)
from cityledger.node.p2p.sync import SyncProgress
from cityledger.node.rpc.encoding import (
    data,
    format_block,
    format_log,
    format_receipt,
    format_transaction,
    parse_address,
    parse_bool,
    parse_data,
    parse_hash,
    parse_quantity,
    quantity,
)
from cityledger.node.rpc.errors import (
    EXECUTION_ERROR,
    LIMIT_EXCEEDED,
    REVERTED,
    TRANSACTION_REJECTED,
    RpcError,
    invalid_params,
)
from cityledger.node.rpc.filters import Filters
from cityledger.node.storage.log_index import LogFilter, TooManyLogs
from cityledger.node.storage.reader import ChainReader
from cityledger.node.txpool import TxPool

_ERROR_STRING_SELECTOR = keccak(text="Error(string)")[:4]
MAX_PROOF_SLOTS = 1_000
MAX_SIMULATED_BLOCKS = 16
MAX_SIMULATED_CALLS = 1_000
# A filter's end block when it follows the head (block numbers are 8 bytes in the node's keys).
MOVING_HEAD = 2**63 - 1


class EthMethods:
    def __init__(
        self,
        reader: ChainReader,
        pool: TxPool,
        on_transaction: Callable[[bytes], None],
        limits: RpcLimits,
        sync_progress: Callable[[], SyncProgress | None] = lambda: None,
    ) -> None:
        self._reader = reader
        self._pool = pool
        self._on_transaction = on_transaction
        self._sync_progress = sync_progress
        self.limits = limits
        self.filters = Filters(
            head=lambda: int(self._reader.head().block_number),
            block_hash=self._block_hash,
            logs=self.formatted_logs,
        )

    def _block_hash(self, number: int) -> bytes:
        header = self._reader.header_by_number(number)
        return header.hash if header is not None else b""

    def client_version(self, _: list[Any]) -> str:
        return f"cityledger/v{__version__}/py-evm"

    def net_version(self, _: list[Any]) -> str:
        return str(self._reader.chain_id)

    def chain_id(self, _: list[Any]) -> str:
        return quantity(self._reader.chain_id)

    def syncing(self, _: list[Any]) -> dict[str, str] | bool:
        """geth's answer: false, or how far a catch-up from peers has come."""
        progress = self._sync_progress()
        current = int(self._reader.head().block_number)
        if progress is None or current >= progress.highest_block:
            return False
        return {
            "startingBlock": quantity(progress.starting_block),
            "currentBlock": quantity(current),
            "highestBlock": quantity(progress.highest_block),
        }

    def block_number(self, _: list[Any]) -> str:
        return quantity(self._reader.head().block_number)

    # blocks

    def resolve_block(self, block_id: object) -> BlockHeaderAPI:
        """A block by tag, number or EIP-1898 object; every tag resolves to a final block."""
        if isinstance(block_id, dict):
            if "blockHash" in block_id:
                block = self._reader.block_by_hash(parse_hash(block_id["blockHash"], "blockHash"))
                if block is None:
                    raise RpcError(EXECUTION_ERROR, "block not found")
                return block.header
            if "blockNumber" in block_id:
                return self.resolve_block(block_id["blockNumber"])
            raise invalid_params("block object needs blockHash or blockNumber")
        if block_id in ("latest", "pending", "safe", "finalized"):
            return self._reader.head()
        if block_id == "earliest":
            block_id = "0x0"
        number = parse_quantity(block_id, "block")
        header = self._reader.header_by_number(number)
        if header is None:
            raise RpcError(
                EXECUTION_ERROR,
                f"block {number} does not exist yet (head is {self._reader.head().block_number})",
            )
        return header

    def _block_param(self, params: list[Any], position: int) -> BlockHeaderAPI:
        return self.resolve_block(params[position] if len(params) > position else "latest")

    def get_block_by_number(self, params: list[Any]) -> dict[str, Any] | None:
        full = parse_bool(params[1], "full transactions flag") if len(params) > 1 else False
        block_id = params[0]
        if isinstance(block_id, str) and block_id.startswith("0x"):
            block = self._reader.block_by_number(parse_quantity(block_id, "block number"))
        else:
            block = self._reader.block_by_hash(self.resolve_block(block_id).hash)
        return None if block is None else format_block(block, full)

    def get_block_by_hash(self, params: list[Any]) -> dict[str, Any] | None:
        full = parse_bool(params[1], "full transactions flag") if len(params) > 1 else False
        block = self._reader.block_by_hash(parse_hash(params[0], "block hash"))
        return None if block is None else format_block(block, full)

    def fee_history(self, params: list[Any]) -> dict[str, Any]:
        count = min(_quantity_or_int(params[0], "block count"), self.limits.max_fee_history_blocks)
        newest = self.resolve_block(params[1]).block_number
        percentiles = params[2] if len(params) > 2 else None
        if percentiles is not None and (
            not isinstance(percentiles, list)
            or not all(isinstance(p, int | float) and 0 <= p <= 100 for p in percentiles)
        ):
            raise invalid_params("reward percentiles must be a list of numbers from 0 to 100")
        oldest = max(0, newest - count + 1)
        blocks = [self._reader.header_by_number(n) for n in range(oldest, newest + 1)]
        result: dict[str, Any] = {
            "oldestBlock": quantity(oldest),
            "baseFeePerGas": [quantity(0)] * (len(blocks) + 1),
            "gasUsedRatio": [h.gas_used / h.gas_limit if h else 0.0 for h in blocks],
        }
        if percentiles is not None:
            result["reward"] = [[quantity(0)] * len(percentiles) for _ in blocks]
        return result

    # transactions

    def get_transaction_by_hash(self, params: list[Any]) -> dict[str, Any] | None:
        tx_hash = parse_hash(params[0], "transaction hash")
        found = self._reader.locate_transaction(tx_hash)
        if found is not None:
            return format_transaction(found.transaction, found.block, found.index)
        pending = self._pool.get(tx_hash)
        return None if pending is None else format_transaction(pending, None, None)

    def get_transaction_receipt(self, params: list[Any]) -> dict[str, Any] | None:
        found = self._reader.locate_transaction(parse_hash(params[0], "transaction hash"))
        if found is None:
            return None
        return format_receipt(found.block, self._reader.receipts(found.block), found.index)

    def send_raw_transaction(self, params: list[Any]) -> str:
        raw = parse_data(params[0], "signed transaction")
        try:
            tx = self._pool.decode(raw)
            self._pool.add(tx, self._reader.head_state())
        except TxRejected as exc:
            raise RpcError(TRANSACTION_REJECTED, str(exc)) from None
        self._on_transaction(raw)
        return data(tx.hash)

    # state

    def get_transaction_count(self, params: list[Any]) -> str:
        account = parse_address(params[0], "address")
        tag = params[1] if len(params) > 1 else "latest"
        nonce: int = self._reader.state_at(self.resolve_block(tag)).get_nonce(account)
        if tag == "pending":
            nonce = self._pool.pending_nonce(account, nonce)
        return quantity(nonce)

    def get_balance(self, params: list[Any]) -> str:
        account = parse_address(params[0], "address")
        return quantity(self._reader.state_at(self._block_param(params, 1)).get_balance(account))

    def get_code(self, params: list[Any]) -> str:
        account = parse_address(params[0], "address")
        return data(self._reader.state_at(self._block_param(params, 1)).get_code(account))

    def get_storage_at(self, params: list[Any]) -> str:
        account = parse_address(params[0], "address")
        slot = parse_quantity(params[1], "storage slot")
        value: int = self._reader.state_at(self._block_param(params, 2)).get_storage(account, slot)
        return data(value.to_bytes(32, "big"))

    def get_proof(self, params: list[Any]) -> dict[str, Any]:
        account = parse_address(params[0], "address")
        keys = params[1]
        if not isinstance(keys, list) or len(keys) > MAX_PROOF_SLOTS:
            raise invalid_params(f"storage keys must be a list of at most {MAX_PROOF_SLOTS}")
        slots = [_storage_key(key) for key in keys]
        proof = self._reader.account_proof(self._block_param(params, 2), account, slots)
        return {
            "address": to_checksum_address(account),
            "accountProof": [data(node) for node in proof.nodes],
            "balance": quantity(proof.balance),
            "codeHash": data(proof.code_hash),
            "nonce": quantity(proof.nonce),
            "storageHash": data(proof.storage_root),
            "storageProof": [
                {
                    "key": key,
                    "value": quantity(entry.value),
                    "proof": [data(node) for node in entry.nodes],
                }
                for key, entry in zip(keys, proof.storage, strict=True)
            ],
        }

    # execution

    def _call_params(self, call: object) -> tuple[Address | None, bytes, bytes, int | None, int]:
        if not isinstance(call, dict):
            raise invalid_params("call must be an object with at least `to` or `data`")
        sender = parse_address(call["from"], "from") if call.get("from") else None
        to = parse_address(call["to"], "to") if call.get("to") else b""
        payload = call.get("input", call.get("data"))
        body = parse_data(payload, "input") if payload is not None else b""
        gas = parse_quantity(call["gas"], "gas") if call.get("gas") is not None else None
        value = parse_quantity(call["value"], "value") if call.get("value") is not None else 0
        return sender, to, body, gas, value

    def call(self, params: list[Any]) -> str:
        sender, to, body, gas, value = self._call_params(params[0])
        header = self._block_param(params, 1)
        # Like geth: a call asking for more than the cap runs with the cap.
        cap = self.limits.call_gas_cap
        gas = min(gas, cap) if gas is not None else min(header.gas_limit, cap)
        with self._call_errors():
            computation = self._reader.call(
                header, sender=sender, to=to, data=body, gas=gas, value=value
            )
        if computation.is_error:
            raise _execution_error(computation.error, computation.output)
        return data(computation.output)

    def estimate_gas(self, params: list[Any]) -> str:
        sender, to, body, gas, value = self._call_params(params[0])
        header = self._block_param(params, 1)
        cap = min(gas or header.gas_limit, header.gas_limit, self.limits.call_gas_cap)
        with self._call_errors():
            try:
                estimate = self._reader.estimate_gas(
                    header, sender=sender, to=to, data=body, value=value, gas_cap=cap
                )
            except GasEstimateFailed as failed:
                raise _execution_error(
                    failed.computation.error, failed.computation.output
                ) from None
        return quantity(estimate)

    def simulate_v1(self, params: list[Any]) -> list[dict[str, Any]]:
        """eth_simulateV1 without validation (gas is free here): block and state overrides,
        calls in sequence, each block's results; see docs/node.md for what is supported."""
        request = params[0]
        if not isinstance(request, dict) or not isinstance(request.get("blockStateCalls"), list):
            raise invalid_params("eth_simulateV1 takes {blockStateCalls: [...]}")
        for unsupported in ("validation", "traceTransfers"):
            if request.get(unsupported):
                raise invalid_params(f"eth_simulateV1: {unsupported} is not supported here")
        header = self._block_param(params, 1)
        cap = min(header.gas_limit, self.limits.call_gas_cap)
        blocks = [_simulated_block(entry, cap) for entry in request["blockStateCalls"]]
        if len(blocks) > MAX_SIMULATED_BLOCKS:
            raise invalid_params(f"at most {MAX_SIMULATED_BLOCKS} blocks may be simulated")
        if sum(len(b.calls) for b in blocks) > MAX_SIMULATED_CALLS:
            raise invalid_params(f"at most {MAX_SIMULATED_CALLS} calls may be simulated")
        with self._call_errors():
            results = simulate(self._reader.call_state(header), blocks)
        answer = []
        parent: bytes = header.hash
        for result in results:
            block_hash = keccak(rlp.encode([parent, result.number, result.timestamp]))
            answer.append(_simulated_json(result, parent, block_hash))
            parent = block_hash
        return answer

    @contextmanager
    def _call_errors(self) -> Iterator[None]:
        timeout = self.limits.call_timeout_seconds
        try:
            with deadline(timeout):
                yield
        except CallTimeout:
            raise RpcError(
                EXECUTION_ERROR, f"execution aborted (timeout = {timeout:g} s)"
            ) from None
        except ValidationError as exc:
            raise RpcError(EXECUTION_ERROR, f"call is not executable: {exc}") from None

    # logs

    def _log_bound(self, block_id: object, head: int) -> int:
        """A filter bound; unlike a block lookup, a future block number is allowed."""
        if block_id is None or not (isinstance(block_id, str) and block_id.startswith("0x")):
            return self.resolve_block(block_id or "latest").block_number
        return parse_quantity(block_id, "block")

    def get_logs(self, params: list[Any]) -> list[dict[str, Any]]:
        query = params[0]
        if not isinstance(query, dict):
            raise invalid_params("filter must be an object")
        head = self._reader.head().block_number
        if "blockHash" in query:
            if "fromBlock" in query or "toBlock" in query:
                raise invalid_params("use either blockHash or fromBlock/toBlock, not both")
            block = self._reader.block_by_hash(parse_hash(query["blockHash"], "blockHash"))
            if block is None:
                raise RpcError(EXECUTION_ERROR, "block not found")
            start = end = int(block.number)
        else:
            start = self._log_bound(query.get("fromBlock"), head)
            end = self._log_bound(query.get("toBlock"), head)
        if start > end:
            raise invalid_params(f"fromBlock {start} is after toBlock {end}")
        log_filter = LogFilter(
            from_block=start,
            to_block=min(end, head),
            addresses=_addresses(query.get("address")),
            topics=_topics(query.get("topics")),
        )
        span = end - start + 1
        if not log_filter.is_selective and span > self.limits.max_logs_block_range:
            raise RpcError(
                LIMIT_EXCEEDED,
                f"block range {start}-{end} spans {span} blocks; without an address or topic "
                f"filter at most {self.limits.max_logs_block_range} blocks may be queried",
            )
        if start > head:
            return []
        return self.formatted_logs(log_filter)

    def formatted_logs(self, log_filter: LogFilter) -> list[dict[str, Any]]:
        """The logs `log_filter` matches, as JSON-RPC log objects (at most `max_logs`)."""
        try:
            logs = self._reader.query_logs(log_filter, self.limits.max_logs)
        except TooManyLogs as exc:
            raise RpcError(LIMIT_EXCEEDED, str(exc)) from None
        hashes: dict[int, str] = {}
        for entry in logs:
            if entry.block_number not in hashes:
                header = self._reader.header_by_number(entry.block_number)
                hashes[entry.block_number] = data(header.hash if header else b"")
        return [format_log(entry, hashes[entry.block_number]) for entry in logs]

    def subscription_filter(self, query: dict[str, Any]) -> LogFilter:
        """The address and topic criteria of a `logs` subscription (its blocks are the ones to
        come)."""
        return LogFilter(
            0, MOVING_HEAD, _addresses(query.get("address")), _topics(query.get("topics"))
        )

    # filters (geth's semantics; see cityledger.node.rpc.filters)

    def new_filter(self, params: list[Any]) -> str:
        query = params[0]
        if not isinstance(query, dict):
            raise invalid_params("filter must be an object")
        head = self._reader.head().block_number
        # A filter's "latest" end moves with the head: every poll reports the new blocks.
        to_block = query.get("toBlock")
        end = (
            MOVING_HEAD
            if to_block in (None, "latest", "pending", "safe", "finalized")
            else self._log_bound(to_block, head)
        )
        criteria = LogFilter(
            from_block=self._log_bound(query.get("fromBlock"), head),
            to_block=end,
            addresses=_addresses(query.get("address")),
            topics=_topics(query.get("topics")),
        )
        return self.filters.new_log_filter(criteria)

    def new_block_filter(self, _: list[Any]) -> str:
        return self.filters.new_block_filter()

    def new_pending_transaction_filter(self, _: list[Any]) -> str:
        return self.filters.new_pending_filter()

    def get_filter_changes(self, params: list[Any]) -> list[Any]:
        return self.filters.changes(_filter_id(params[0]))

    def get_filter_logs(self, params: list[Any]) -> list[dict[str, Any]]:
        return self.filters.all_logs(_filter_id(params[0]))

    def uninstall_filter(self, params: list[Any]) -> bool:
        return self.filters.uninstall(_filter_id(params[0]))

    # blocks and transactions by position, receipts of a block, raw encodings

    def _block(self, block_id: object) -> BlockAPI:
        """A block by tag, number, EIP-1898 object, or (as geth takes it here) its hash."""
        if isinstance(block_id, str) and len(block_id) == 66:
            found = self._reader.block_by_hash(parse_hash(block_id, "block hash"))
        else:
            found = self._reader.block_by_hash(self.resolve_block(block_id).hash)
        if found is None:
            raise RpcError(EXECUTION_ERROR, "block not found")
        return found

    def get_block_receipts(self, params: list[Any]) -> list[dict[str, Any]] | None:
        try:
            block = self._block(params[0])
        except RpcError:
            return None
        receipts = self._reader.receipts(block)
        return [format_receipt(block, receipts, i) for i in range(len(receipts))]

    def _at_index(self, block: BlockAPI | None, index: object) -> tuple[BlockAPI, int] | None:
        position = parse_quantity(index, "transaction index")
        if block is None or position >= len(block.transactions):
            return None
        return block, position

    def _by_number_and_index(self, params: list[Any]) -> tuple[BlockAPI, int] | None:
        try:
            block = self._block(params[0])
        except RpcError:
            return None
        return self._at_index(block, params[1])

    def _by_hash_and_index(self, params: list[Any]) -> tuple[BlockAPI, int] | None:
        block = self._reader.block_by_hash(parse_hash(params[0], "block hash"))
        return self._at_index(block, params[1])

    def get_transaction_by_block_number_and_index(self, params: list[Any]) -> dict[str, Any] | None:
        found = self._by_number_and_index(params)
        return (
            None if found is None else format_transaction(found[0].transactions[found[1]], *found)
        )

    def get_transaction_by_block_hash_and_index(self, params: list[Any]) -> dict[str, Any] | None:
        found = self._by_hash_and_index(params)
        return (
            None if found is None else format_transaction(found[0].transactions[found[1]], *found)
        )

    def get_raw_transaction_by_hash(self, params: list[Any]) -> str | None:
        tx_hash = parse_hash(params[0], "transaction hash")
        found = self._reader.locate_transaction(tx_hash)
        tx = found.transaction if found is not None else self._pool.get(tx_hash)
        return None if tx is None else data(tx.encode())

    def get_raw_transaction_by_block_number_and_index(self, params: list[Any]) -> str | None:
        found = self._by_number_and_index(params)
        return None if found is None else data(found[0].transactions[found[1]].encode())

    def get_raw_transaction_by_block_hash_and_index(self, params: list[Any]) -> str | None:
        found = self._by_hash_and_index(params)
        return None if found is None else data(found[0].transactions[found[1]].encode())

    def get_block_transaction_count_by_number(self, params: list[Any]) -> str | None:
        try:
            return quantity(len(self._block(params[0]).transactions))
        except RpcError:
            return None

    def get_block_transaction_count_by_hash(self, params: list[Any]) -> str | None:
        block = self._reader.block_by_hash(parse_hash(params[0], "block hash"))
        return None if block is None else quantity(len(block.transactions))


def _simulated_block(entry: object, gas_cap: int) -> SimulatedBlock:
    if not isinstance(entry, dict):
        raise invalid_params(
            "each of blockStateCalls is an object {blockOverrides, stateOverrides, calls}"
        )
    context = entry.get("blockOverrides") or {}
    overrides = entry.get("stateOverrides") or {}
    calls = entry.get("calls") or []
    if (
        not isinstance(context, dict)
        or not isinstance(overrides, dict)
        or not isinstance(calls, list)
    ):
        raise invalid_params("blockOverrides and stateOverrides are objects, calls a list")

    def optional(name: str) -> int | None:
        return parse_quantity(context[name], name) if context.get(name) is not None else None

    accounts = {}
    for account, fields in overrides.items():
        if not isinstance(fields, dict) or "movePrecompileToAddress" in fields:
            raise invalid_params(
                f"state override of {account}: balance, nonce, code, state or stateDiff"
            )
        accounts[bytes(parse_address(account, "state override address"))] = AccountOverride(
            balance=parse_quantity(fields["balance"], "balance") if "balance" in fields else None,
            nonce=parse_quantity(fields["nonce"], "nonce") if "nonce" in fields else None,
            code=parse_data(fields["code"], "code") if "code" in fields else None,
            state=_slots(fields["state"]) if "state" in fields else None,
            state_diff=_slots(fields["stateDiff"]) if "stateDiff" in fields else None,
        )
    specs = []
    for call in calls:
        if not isinstance(call, dict):
            raise invalid_params("each call is a transaction object")
        payload = call.get("input", call.get("data"))
        gas = parse_quantity(call["gas"], "gas") if call.get("gas") is not None else gas_cap
        specs.append(
            CallSpec(
                sender=parse_address(call["from"], "from") if call.get("from") else CALL_SENDER,
                to=parse_address(call["to"], "to") if call.get("to") else b"",
                data=parse_data(payload, "input") if payload is not None else b"",
                value=parse_quantity(call["value"], "value") if call.get("value") else 0,
                gas=min(gas, gas_cap),
            )
        )
    fee_recipient = context.get("feeRecipient")
    return SimulatedBlock(
        BlockContext(
            number=optional("number"),
            timestamp=optional("time"),
            gas_limit=optional("gasLimit"),
            coinbase=parse_address(fee_recipient, "feeRecipient") if fee_recipient else None,
        ),
        accounts,
        tuple(specs),
    )


def _slots(value: object) -> dict[int, int]:
    if not isinstance(value, dict):
        raise invalid_params("state and stateDiff map 32-byte slots to 32-byte values")
    return {
        int.from_bytes(parse_hash(slot, "slot"), "big"): int.from_bytes(
            parse_hash(word, "slot value"), "big"
        )
        for slot, word in value.items()
    }


def _simulated_json(result: SimulatedResult, parent: bytes, block_hash: bytes) -> dict[str, Any]:
    calls = []
    log_index = 0
    for position, call in enumerate(result.calls):
        computation = call.computation
        entry: dict[str, Any] = {
            "returnData": data(computation.output),
            "gasUsed": quantity(call.gas_used),
            "status": quantity(0 if computation.is_error else 1),
            "logs": [],
        }
        if computation.is_error:
            error = _execution_error(computation.error, computation.output)
            entry["error"] = error.to_json()
        else:
            for address_, topics, payload in computation.get_log_entries():
                entry["logs"].append(
                    {
                        "address": to_checksum_address(address_),
                        "topics": [data(t.to_bytes(32, "big")) for t in topics],
                        "data": data(payload),
                        "blockNumber": quantity(result.number),
                        "blockHash": data(block_hash),
                        "transactionIndex": quantity(position),
                        "logIndex": quantity(log_index),
                        "removed": False,
                    }
                )
                log_index += 1
        calls.append(entry)
    return {
        "number": quantity(result.number),
        "hash": data(block_hash),
        "parentHash": data(parent),
        "timestamp": quantity(result.timestamp),
        "gasLimit": quantity(result.gas_limit),
        "gasUsed": quantity(sum(c.gas_used for c in result.calls)),
        "miner": to_checksum_address(result.coinbase),
        "baseFeePerGas": quantity(0),
        "calls": calls,
    }


def _storage_key(value: object) -> int:
    """A storage slot as geth takes it: 32 bytes of hex, or a shorter hex quantity."""
    if isinstance(value, str) and len(value) == 66:
        return int.from_bytes(parse_hash(value, "storage key"), "big")
    return parse_quantity(value, "storage key")


def _filter_id(value: object) -> str:
    if not isinstance(value, str) or not value.startswith("0x") or len(value) > 66:
        raise invalid_params("filter id must be the hex string eth_newFilter returned")
    return value


def _quantity_or_int(value: object, name: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    return parse_quantity(value, name)


def _addresses(value: object) -> frozenset[bytes]:
    if value is None:
        return frozenset()
    if isinstance(value, list):
        return frozenset(parse_address(v, "address") for v in value)
    return frozenset([parse_address(value, "address")])


def _topics(value: object) -> tuple[frozenset[bytes] | None, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or len(value) > 4:
        raise invalid_params("topics must be a list of at most 4 entries")
    topics: list[frozenset[bytes] | None] = []
    for entry in value:
        if entry is None:
            topics.append(None)
        elif isinstance(entry, list):
            topics.append(frozenset(parse_hash(t, "topic") for t in entry) or None)
        else:
            topics.append(frozenset([parse_hash(entry, "topic")]))
    return tuple(topics)


def _execution_error(error: Exception, output: bytes) -> RpcError:
    if isinstance(error, Revert):
        reason = _revert_reason(output)
        message = f"execution reverted: {reason}" if reason else "execution reverted"
        return RpcError(REVERTED, message, data(output) if output else None)
    reason = str(error) or type(error).__name__
    return RpcError(EXECUTION_ERROR, f"execution failed: {reason}")


def _revert_reason(output: bytes) -> str | None:
    """The message of a Solidity `Error(string)` revert, if that is what `output` is."""
    if output[:4] != _ERROR_STRING_SELECTOR:
        return None
    try:
        (reason,) = decode(["string"], output[4:])
    except (DecodingError, ValueError):
        return None
    return str(reason)
