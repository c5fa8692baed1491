"""Messages executed against a state and rolled back: eth_call, and contract views read inside
the node (permissioning, genesis checks)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from eth.abc import (
    ComputationAPI,
    SignedTransactionAPI,
    StateAPI,
    UnsignedTransactionAPI,
)
from eth.vm.spoof import SpoofTransaction
from eth_abi import decode, encode
from eth_typing import ABI, ABIFunction, Address
from eth_utils import (
    function_abi_to_4byte_selector,
)

from cityledger.node.execution.vm import CityVM

CALL_SENDER = Address(b"\0" * 20)


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
