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
    Web3Exception,
)
from web3.types import BlockIdentifier, TxParams, TxReceipt

from cityledger.contracts.artifacts import SYSTEM_CONTRACTS, load_artifact
from cityledger.sdk.errors import (
    LedgerTimeout,
    LedgerTransportError,
    MissingSigner,
    UnknownRevert,
    decode_revert,
)
from cityledger.sdk.signers import Signer

T = TypeVar("T")

DEFAULT_RECEIPT_TIMEOUT = 60.0
# An estimate is exact for the state it ran on; the margin covers state that changes before mining.
GAS_MARGIN_NUMERATOR, GAS_MARGIN_DENOMINATOR = 5, 4


def connect_web3(rpc_url: str, timeout: float = 30.0) -> Web3:
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
        raise LedgerTransportError(f"{what}: node unreachable: {exc}") from None
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
    ) -> None:
        self.w3 = w3
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
        error before anything is sent (the estimate runs the same code)."""
        signer = self.require_signer()
        name = fn.fn_name
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
            receipt = self.w3.eth.wait_for_transaction_receipt(
                tx_hash, timeout=self.receipt_timeout, poll_latency=0.05
            )
        if receipt["status"] != 1:
            self._raise_mined_revert(fn, signer, receipt)
        return receipt

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
