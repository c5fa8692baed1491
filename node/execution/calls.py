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
from typing import Any, cast

from eth.abc import (
    ComputationAPI,
    SignedTransactionAPI,
    StateAPI,
    UnsignedTransactionAPI,
)
from eth.vm.gas_meter import GasMeter
from eth.vm.spoof import SpoofTransaction
from eth_abi import decode, encode
from eth_typing import ABI, ABIFunction, Address
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
