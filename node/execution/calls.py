"""Messages executed against a state and rolled back: eth_call and eth_estimateGas for clients,
and contract views read inside the node (permissioning, genesis checks).

A client's call is someone else's code run on this node's CPU: it runs with a gas cap and a
wall-clock deadline (geth's --rpc.gascap and --rpc.evmtimeout), checked at every gas charge, so
an endless loop ends with `CallTimeout` rather than occupying a worker for minutes.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, cast

from eth.abc import (
    ComputationAPI,
    SignedTransactionAPI,
    StateAPI,
    UnsignedTransactionAPI,
)
from eth.vm.execution_context import ExecutionContext
from eth.vm.gas_meter import GasMeter
from eth.vm.spoof import SpoofTransaction
from eth_abi import decode, encode
from eth_typing import ABI, ABIFunction, Address, BlockNumber
from eth_utils import (
    function_abi_to_4byte_selector,
)

from cityledger.node.execution.vm import CityComputation, CityState, CityVM

CALL_SENDER = Address(b"\0" * 20)


class CallTimeout(Exception):
    """A client's call ran past its deadline. Not a VMError: py-evm must not turn it into a
    failed computation, it has to unwind the whole call."""


class _Deadline(threading.local):
    # Per thread: calls run in several RPC workers at once, block execution in another thread.
    at = math.inf


_deadline = _Deadline()


@contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Calls on `CallVM` states in this thread raise CallTimeout after `seconds`."""
    _deadline.at = time.monotonic() + seconds
    try:
        yield
    finally:
        _deadline.at = math.inf


class _DeadlineGasMeter(GasMeter):
    def consume_gas(self, amount: int, reason: str) -> None:
        # Every opcode charges gas; a clock read costs a few percent of the cheapest one.
        if time.monotonic() > _deadline.at:
            raise CallTimeout("the call ran past its time limit")
        super().consume_gas(amount, reason)


class _CallComputation(CityComputation):
    def _configure_gas_meter(self) -> GasMeter:
        return _DeadlineGasMeter(self.msg.gas)


class _CallState(CityState):
    computation_class = _CallComputation


class CallVM(CityVM):
    """CityVM whose state runs clients' calls under the thread's deadline."""

    _state_class = _CallState


def run_call(
    state: StateAPI,
    *,
    to: bytes,
    data: bytes,
    gas: int,
    sender: Address = CALL_SENDER,
    value: int = 0,
) -> ComputationAPI:
    """Executes a message against `state` and rolls every change back (eth_call semantics).

    `to` empty means contract creation. The sender needs no key and no funds (gas price 0).
    """
    unsigned = CityVM.create_unsigned_transaction(
        nonce=state.get_nonce(sender),
        gas_price=0,
        gas=gas,
        to=Address(to),
        value=value,
        data=data,
    )
    snapshot = state.snapshot()
    try:
        if state.get_balance(sender) < value:
            state.set_balance(sender, value)
        computation: ComputationAPI = state.apply_transaction(spoofed(unsigned, sender))
    finally:
        state.revert(snapshot)
    return computation


def estimate_gas(
    state: StateAPI, *, to: bytes, data: bytes, sender: Address, value: int, gas_cap: int
) -> int:
    """The least gas (to within 1) with which the message runs without error, searched between
    the intrinsic cost and `gas_cap`; raises `GasEstimateFailed` if it fails even at the cap."""

    def fails(gas: int) -> bool:
        return run_call(state, to=to, data=data, gas=gas, sender=sender, value=value).is_error

    at_cap = run_call(state, to=to, data=data, gas=gas_cap, sender=sender, value=value)
    if at_cap.is_error:
        raise GasEstimateFailed(at_cap)
    low = CityVM.create_unsigned_transaction(
        nonce=0, gas_price=0, gas=gas_cap, to=Address(to), value=value, data=data
    ).intrinsic_gas
    if not fails(low):
        return low
    high = gas_cap
    while high - low > 1:
        middle = (low + high) // 2
        if fails(middle):
            low = middle
        else:
            high = middle
    return high


@dataclass(frozen=True)
class AccountOverride:
    """eth_simulateV1's state override of one account; None leaves a field as it is. `state`
    replaces the whole storage, `state_diff` sets the slots it names."""

    balance: int | None = None
    nonce: int | None = None
    code: bytes | None = None
    state: dict[int, int] | None = None
    state_diff: dict[int, int] | None = None


@dataclass(frozen=True)
class BlockContext:
    """What a simulated block overrides of its execution context (None: as the next block)."""

    number: int | None = None
    timestamp: int | None = None
    gas_limit: int | None = None
    coinbase: bytes | None = None


@dataclass(frozen=True)
class CallSpec:
    sender: Address
    to: bytes
    data: bytes
    value: int
    gas: int


@dataclass(frozen=True)
class SimulatedBlock:
    context: BlockContext
    overrides: dict[bytes, AccountOverride]
    calls: tuple[CallSpec, ...]


@dataclass(frozen=True)
class SimulatedCall:
    computation: ComputationAPI
    gas_used: int


@dataclass(frozen=True)
class SimulatedResult:
    number: int
    timestamp: int
    gas_limit: int
    coinbase: bytes
    calls: tuple[SimulatedCall, ...]


def simulate(state: StateAPI, blocks: Sequence[SimulatedBlock]) -> list[SimulatedResult]:
    """eth_simulateV1 without validation: the blocks' calls run one after another on `state`
    (the state after the block they build on), each seeing what the ones before changed, none of
    it kept. Each block follows the previous one (number + 1, time + 1) unless overridden."""
    snapshot = state.snapshot()
    results: list[SimulatedResult] = []
    base = state.execution_context
    number: int = base.block_number
    timestamp: int = base.timestamp
    try:
        for block in blocks:
            ctx = block.context
            number = ctx.number if ctx.number is not None else number + 1
            timestamp = ctx.timestamp if ctx.timestamp is not None else timestamp + 1
            gas_limit = ctx.gas_limit if ctx.gas_limit is not None else base.gas_limit
            coinbase = ctx.coinbase if ctx.coinbase is not None else base.coinbase
            state.execution_context = ExecutionContext(
                coinbase=Address(coinbase),
                timestamp=timestamp,
                block_number=BlockNumber(number),
                difficulty=base.difficulty,
                mix_hash=base.mix_hash,
                gas_limit=gas_limit,
                prev_hashes=base.prev_hashes,
                chain_id=base.chain_id,
                base_fee_per_gas=0,
                excess_blob_gas=0,
            )
            for address, override in block.overrides.items():
                _apply_override(state, Address(address), override)
            calls = []
            for call in block.calls:
                unsigned = CityVM.create_unsigned_transaction(
                    nonce=state.get_nonce(call.sender),
                    gas_price=0,
                    gas=call.gas,
                    to=Address(call.to),
                    value=call.value,
                    data=call.data,
                )
                if state.get_balance(call.sender) < call.value:
                    state.set_balance(call.sender, call.value)
                transaction = spoofed(unsigned, call.sender)
                computation = state.apply_transaction(transaction)
                calls.append(SimulatedCall(computation, transaction.gas_used_by(computation)))
            results.append(SimulatedResult(number, timestamp, gas_limit, coinbase, tuple(calls)))
    finally:
        state.revert(snapshot)
        state.execution_context = base
    return results


def _apply_override(state: StateAPI, address: Address, override: AccountOverride) -> None:
    if override.balance is not None:
        state.set_balance(address, override.balance)
    if override.nonce is not None:
        state.set_nonce(address, override.nonce)
    if override.code is not None:
        state.set_code(address, override.code)
    if override.state is not None:
        state.delete_storage(address)
        for slot, value in override.state.items():
            state.set_storage(address, slot, value)
    for slot, value in (override.state_diff or {}).items():
        state.set_storage(address, slot, value)


class GasEstimateFailed(Exception):
    """The message fails even with all the gas a call may have: `computation` says how."""

    def __init__(self, computation: ComputationAPI) -> None:
        super().__init__(repr(computation.error))
        self.computation = computation


def spoofed(unsigned: UnsignedTransactionAPI, sender: Address) -> SignedTransactionAPI:
    """An unsigned transaction that py-evm executes as if `sender` had signed it."""
    return cast(SignedTransactionAPI, SpoofTransaction(unsigned, from_=sender))


VIEW_GAS = 10_000_000


class ViewCallError(Exception):
    """A view call reverted or the ABI has no such function."""


def _function(abi: ABI, name: str, arity: int) -> ABIFunction:
    for entry in abi:
        if entry.get("type") == "function" and entry.get("name") == name:
            function = cast(ABIFunction, entry)
            if len(function.get("inputs", [])) == arity:
                return function
    raise ViewCallError(f"ABI has no function {name} taking {arity} arguments")


def call_view(state: StateAPI, contract: bytes, abi: ABI, name: str, args: Sequence[Any]) -> Any:
    """The decoded return value of `name(args)` on `contract`; a single output is unwrapped."""
    fn = _function(abi, name, len(args))
    in_types = [str(i["type"]) for i in fn.get("inputs", [])]
    out_types = [str(o["type"]) for o in fn.get("outputs", [])]
    data = function_abi_to_4byte_selector(fn) + encode(in_types, list(args))
    computation = run_call(state, to=contract, data=data, gas=VIEW_GAS)
    if computation.is_error:
        raise ViewCallError(f"{name} failed: {computation.error!r}")
    values = decode(out_types, computation.output)
    return values[0] if len(values) == 1 else values
