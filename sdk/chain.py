"""The one place that talks to the node: JSON-RPC through web3, system contract handles, calls and
signed transactions, with every failure turned into LedgerRevert, LedgerTransportError or
LedgerTimeout."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, TypeVar, cast

import requests
from eth_typing import ChecksumAddress
from eth_utils import to_bytes
from web3 import HTTPProvider, Web3
from web3.contract import Contract
from web3.contract.contract import ContractFunction
from web3.exceptions import (
    ContractCustomError,
    ContractLogicError,
    TimeExhausted,
    TransactionNotFound,
    Web3Exception,
)
from web3.types import BlockIdentifier, TxParams, TxReceipt

from cityledger.contracts.artifacts import SYSTEM_CONTRACTS, load_artifact
from cityledger.sdk.errors import (
    LedgerInputError,
    LedgerTimeout,
    LedgerTransportError,
    MissingSigner,
    UnknownRevert,
    connection_failure,
    decode_revert,
)
from cityledger.sdk.pending import PendingTransactions
from cityledger.sdk.signers import Signer

T = TypeVar("T")

DEFAULT_RECEIPT_TIMEOUT = 60.0
# An estimate is exact for the state it ran on; the margin covers state that changes before mining.
GAS_MARGIN_NUMERATOR, GAS_MARGIN_DENOMINATOR = 5, 4


def connect_web3(rpc_url: str, timeout: float = 30.0) -> Web3:
    if not rpc_url.startswith(("http://", "https://")):
        raise LedgerInputError(f"{rpc_url!r} is not a node's http:// or https:// URL")
    return Web3(HTTPProvider(rpc_url, request_kwargs={"timeout": timeout}))


def _revert_data(exc: ContractCustomError) -> bytes:
    data: Any = exc.data
    if isinstance(data, bytes):
        return data
    return to_bytes(hexstr=str(data)) if data else b""


@contextmanager
def translated_errors(what: str, called: str | None = None) -> Iterator[None]:
    """Maps web3/requests failures raised inside to the SDK's exceptions; `called` names the
    system contract the call went to."""
    try:
        yield
    except ContractCustomError as exc:
        raise decode_revert(_revert_data(exc), called) from None
    except ContractLogicError as exc:
        raise UnknownRevert(f"{what}: the contract reverted: {exc.message or exc}") from None
    except TimeExhausted as exc:
        raise LedgerTimeout(f"{what}: {exc}") from None
    except requests.exceptions.RequestException as exc:
        raise LedgerTransportError(f"{connection_failure(exc)} ({what})") from None
    except (Web3Exception, ValueError) as exc:
        raise LedgerTransportError(f"{what}: JSON-RPC error: {exc}") from None


def _by_name(param: Mapping[str, Any], value: Any) -> Any:
    kind = str(param["type"])
    if kind.endswith("[]") and kind.startswith("tuple"):
        return [_by_name({**param, "type": kind[:-2]}, item) for item in value]
    if kind == "tuple":
        return {
            str(c["name"]): _by_name(c, v) for c, v in zip(param["components"], value, strict=True)
        }
    return value


class Chain:
    """A JSON-RPC connection, the system contracts on it, and the account that signs (if any)."""

    def __init__(
        self,
        w3: Web3,
        addresses: dict[str, ChecksumAddress],
        signer: Signer | None,
        *,
        receipt_timeout: float = DEFAULT_RECEIPT_TIMEOUT,
        pending: PendingTransactions | None = None,
    ) -> None:
        self.w3 = w3
        self.pending = pending
        self.signer = signer
        self.addresses = addresses
        self.receipt_timeout = receipt_timeout
        self.contracts: dict[str, Contract] = {
            name: w3.eth.contract(address=addresses[name], abi=load_artifact(name).abi)
            for name in SYSTEM_CONTRACTS
        }
        self._chain_id: int | None = None
        # The pending nonce is read and used in one step, so that threads sending from the same
        # signer (a gateway recording concurrent deliveries) never take the same nonce.
        self._send_lock = threading.Lock()

    def _name_of(self, fn: ContractFunction) -> str | None:
        return next((n for n, a in self.addresses.items() if a == fn.address), None)

    def contract(self, name: str) -> Contract:
        return self.contracts[name]

    @property
    def chain_id(self) -> int:
        if self._chain_id is None:
            self._chain_id = self.rpc("eth_chainId", lambda: int(self.w3.eth.chain_id))
        return self._chain_id

    def rpc(self, what: str, action: Callable[[], T]) -> T:
        with translated_errors(what):
            return action()

    def raw_request(self, method: str, params: list[Any]) -> Any:
        """A JSON-RPC method web3 does not wrap (for example cityledger_*)."""
        with translated_errors(method):
            response = self.w3.provider.make_request(cast(Any, method), params)
        if "error" in response:
            error = response["error"]
            message = error.get("message") if isinstance(error, dict) else error
            raise LedgerTransportError(f"{method}: JSON-RPC error: {message}")
        return response.get("result")

    def call(self, fn: ContractFunction, block: BlockIdentifier = "latest") -> Any:
        with translated_errors(f"call {fn.fn_name}", self._name_of(fn)):
            return fn.call(block_identifier=block)

    def call_named(self, fn: ContractFunction, block: BlockIdentifier = "latest") -> Any:
        """`call`, with every struct in the result a dict by the ABI's field names (a lone
        unnamed output unwrapped), so a reader names fields instead of counting positions."""
        outputs = fn.abi.get("outputs", [])
        value = self.call(fn, block)
        if len(outputs) == 1:
            return _by_name(outputs[0], value)
        return {str(o["name"]): _by_name(o, v) for o, v in zip(outputs, value, strict=True)}

    def block_timestamp(self, block: BlockIdentifier = "latest") -> int:
        return self.rpc(
            "eth_getBlockByNumber", lambda: int(self.w3.eth.get_block(block)["timestamp"])
        )

    def require_signer(self) -> Signer:
        if self.signer is None:
            raise MissingSigner("this operation sends a transaction: connect with a signer")
        return self.signer

    def transact(self, fn: ContractFunction) -> TxReceipt:
        """Estimates, signs, sends and waits for a call; a refusal raises the contract's typed
        error before anything is sent (the estimate runs the same code). With a registry of
        pending transactions, the same call sent again while the first still waits is
        recognised: its receipt is returned once final, and it is never sent twice."""
        signer = self.require_signer()
        name = fn.fn_name
        key = None
        if self.pending is not None:
            key = PendingTransactions.key(
                self.chain_id,
                signer.address,
                fn.address,
                bytes.fromhex(fn._encode_transaction_data()[2:]),
            )
            earlier = self.pending.get(key)
            if earlier is not None:
                receipt = self._earlier(earlier, key, name)
                if receipt is not None:
                    if receipt["status"] != 1:
                        self._raise_mined_revert(fn, signer, receipt)
                    return receipt
        with translated_errors(f"send {name}", self._name_of(fn)):
            base: TxParams = {"from": signer.address}
            gas = fn.estimate_gas(base)
            base_fee = int(self.w3.eth.get_block("latest").get("baseFeePerGas", 0))
            with self._send_lock:
                nonce = self.w3.eth.get_transaction_count(signer.address, "pending")
                tx = fn.build_transaction(
                    {
                        "from": signer.address,
                        "nonce": nonce,
                        "gas": gas * GAS_MARGIN_NUMERATOR // GAS_MARGIN_DENOMINATOR + 21_000,
                        "chainId": self.chain_id,
                        "maxFeePerGas": cast(Any, 2 * base_fee),
                        "maxPriorityFeePerGas": cast(Any, 0),
                    }
                )
                tx_hash = self.w3.eth.send_raw_transaction(signer.sign_transaction(dict(tx)))
        try:
            with translated_errors(f"send {name}", self._name_of(fn)):
                receipt = self.w3.eth.wait_for_transaction_receipt(
                    tx_hash, timeout=self.receipt_timeout, poll_latency=0.05
                )
        except LedgerTimeout:
            if key is not None and self.pending is not None:
                self.pending.remember(key, "0x" + bytes(tx_hash).hex())
            raise self.not_final(name, "0x" + bytes(tx_hash).hex()) from None
        if receipt["status"] != 1:
            self._raise_mined_revert(fn, signer, receipt)
        return receipt

    def _earlier(self, tx_hash: str, key: str, name: str) -> TxReceipt | None:
        """The receipt of the same call sent before, if final; raises while it still waits;
        None (and forgotten) if the node no longer knows it."""
        assert self.pending is not None
        with translated_errors(f"send {name}"):
            try:
                receipt: TxReceipt | None = self.w3.eth.get_transaction_receipt(cast(Any, tx_hash))
            except TransactionNotFound:
                receipt = None
            if receipt is not None:
                self.pending.forget(key)
                return receipt
            try:
                self.w3.eth.get_transaction(cast(Any, tx_hash))
            except TransactionNotFound:
                self.pending.forget(key)
                return None
        raise LedgerTimeout(
            f"{name}: the same transaction, sent before as {tx_hash}, still waits to be final "
            "and is not sent twice; it is included once the network finalizes blocks again",
            tx_hash=tx_hash,
        )

    def not_final(self, name: str, tx_hash: str) -> LedgerTimeout:
        """Why a sent transaction is not final yet, in the terms the node can tell."""
        return LedgerTimeout(
            f"{name}: transaction {tx_hash} is not final after {self.receipt_timeout:g} s: "
            f"{self.finality_trouble()}; it stays queued and may still be included, so look up "
            "its receipt before sending it again",
            tx_hash=tx_hash,
        )

    def finality_trouble(self) -> str:
        """Why transactions wait, as far as the node can tell: how many validators it hears
        from, against the quorum a block needs."""
        cause = "the network did not finalize it in time"
        try:
            status = self.raw_request("cityledger_consensusStatus", [])
            validators, heard = status["validators"], status["validatorsHeard"]
            quorum = int(status["quorum"], 16)
            if len(heard) < quorum:
                cause = (
                    f"only {len(heard)} of {len(validators)} validators answer this node and "
                    f"{quorum} are needed for a block to be final: quorum is lost until "
                    f"{quorum - len(heard)} more return"
                )
            else:
                cause = (
                    f"all needed validators answer ({len(heard)} of {len(validators)}), but slowly"
                )
        except (LedgerTransportError, KeyError, TypeError, ValueError):
            pass  # a node without cityledger's consensus status (anvil, geth, Besu)
        return cause

    def _raise_mined_revert(self, fn: ContractFunction, signer: Signer, receipt: TxReceipt) -> None:
        """A transaction that passed its estimate but reverted when mined: replay it as a call
        at its block to learn why."""
        block = receipt["blockNumber"]
        with translated_errors(f"send {fn.fn_name}", self._name_of(fn)):
            fn.call({"from": signer.address}, block_identifier=block)
        raise UnknownRevert(
            f"{fn.fn_name} reverted in block {block} "
            f"(tx 0x{bytes(receipt['transactionHash']).hex()})"
        )
