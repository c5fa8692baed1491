"""CityVM applies a block's transactions in its own loop, on its own state class; py-evm's loop
on py-evm's Cancun state is the reference."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import eth.vm.base
import pytest
from eth.abc import BlockHeaderAPI, ReceiptAPI, SignedTransactionAPI
from eth.vm.forks.cancun.state import CancunState
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import ValidationError, keccak, to_canonical_address, to_checksum_address
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from node_helpers import EMITTER
from web3 import Web3

from cityledger.contracts.deployment import ConsortiumSpec, FoundingCity
from cityledger.node.execution.executor import BlockExecutor
from cityledger.node.execution.transactions import CityTransactionBuilder
from cityledger.node.execution.vm import CityVM, write_genesis
from cityledger.node.genesis import Genesis, build_genesis
from cityledger.node.storage.leveldb import LevelDB

CHAIN_ID = 4242
ADMIN: LocalAccount = Account.from_key("0x" + "11" * 32)
EMITTER_ADDRESS = to_checksum_address(keccak(bytes.fromhex("d694" + ADMIN.address[2:] + "80"))[12:])
CONTRACT = Web3().eth.contract(abi=EMITTER["abi"])
COINBASE = b"\x33" * 20


# CityVM's header rules over py-evm's own Cancun state and transaction executor. Configured,
# not subclassed: CityVM's `_state_class` is CityState, which CancunState is not.
PyEvmStateVM = CityVM.configure(__name__="PyEvmStateVM", _state_class=CancunState)


# One call of each kind the loop must account for: storage and events, a custom-error revert,
# a string revert, out of gas, a plain transfer, and a contract creation.
calls = st.one_of(
    st.builds(lambda k, v: ("store", [k, v]), st.integers(0, 5), st.integers(0, 2 * 10**18)),
    st.builds(lambda t: ("tag", [t]), st.binary(min_size=32, max_size=32)),
    st.builds(lambda r: ("fail", [r]), st.text(max_size=8)),
    st.just(("out of gas", [])),
    st.just(("transfer", [])),
    # The coinbase paid nothing, or something: an empty coinbase is made and cleared, or kept.
    st.builds(lambda v: ("pay coinbase", [v]), st.sampled_from([0, 1])),
    st.just(("tip", [])),  # a priority fee: the coinbase earns one
    st.just(("create", [])),
)


@pytest.fixture(scope="module")
def genesis() -> Genesis:
    spec = ConsortiumSpec(
        cities=(FoundingCity("Test City", ADMIN.address, Account.create().address, "test"),)
    )
    return build_genesis(CHAIN_ID, spec, timestamp=1_700_000_000)


def signed(nonce: int, call: tuple[str, list[object]]) -> SignedTransactionAPI:
    name, args = call
    tx: dict[str, Any] = {
        "nonce": nonce,
        "gas": 200_000,
        "maxFeePerGas": 0,
        "maxPriorityFeePerGas": 0,
        "chainId": CHAIN_ID,
        "to": EMITTER_ADDRESS,
        "data": "0x",
    }
    if name == "out of gas":
        tx |= {"gas": 22_000, "data": CONTRACT.encode_abi("store", [1, 1])}
    elif name == "transfer":
        tx |= {"to": "0x" + "22" * 20, "value": 1}
    elif name == "tip":
        tx |= {"to": "0x" + "22" * 20, "maxFeePerGas": 1, "maxPriorityFeePerGas": 1}
    elif name == "pay coinbase":
        tx |= {"to": to_checksum_address(COINBASE), "value": args[0]}
    elif name == "create":
        del tx["to"]
        tx |= {"gas": 1_000_000, "data": EMITTER["bytecode"]}
    else:
        tx["data"] = CONTRACT.encode_abi(name, args)
    return CityTransactionBuilder.decode(bytes(ADMIN.sign_transaction(tx).raw_transaction))


def chain_with_emitter(path: Path, genesis: Genesis) -> BlockExecutor:
    db = LevelDB(path)
    state = genesis.state()
    # Funds for transfers and tips; without them every such block would only be refused.
    admin = to_canonical_address(ADMIN.address)
    account = state.get(admin, {"balance": 0, "nonce": 0, "code": b"", "storage": {}})
    state[admin] = {**account, "balance": 10**21}
    write_genesis(db, CHAIN_ID, genesis.header_params(), state)
    executor = BlockExecutor(db, CHAIN_ID)
    # Fixed seconds for both chains' blocks: from the clock they may straddle a second.
    executor.execute([signed(0, ("create", []))], b"\x01" * 20, genesis.timestamp + 1)
    executor.commit()
    executor.chain.header = executor.chain.header.copy(
        timestamp=genesis.timestamp + 2, coinbase=COINBASE
    )
    return executor


def apply(
    executor: BlockExecutor, txs: list[SignedTransactionAPI], reference: bool
) -> tuple[BlockHeaderAPI, tuple[ReceiptAPI, ...], bytes] | str:
    vm = executor.chain.get_vm()
    assert isinstance(vm, CityVM)  # py-evm's VirtualMachineAPI has no chain_context
    if reference:
        vm = PyEvmStateVM(vm.get_header(), vm.chaindb, vm.chain_context, vm.consensus_context)
    loop = eth.vm.base.VM.apply_all_transactions if reference else type(vm).apply_all_transactions
    try:
        header, receipts, _ = loop(vm, txs, vm.get_header())
    except ValidationError as exc:
        return str(exc)
    return header, receipts, vm.state.make_state_root()


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(block=st.lists(calls, max_size=12), gas_limit=st.sampled_from([None, 600_000]))
def test_a_block_applies_to_the_same_header_receipts_and_state_as_in_py_evm(
    tmp_path_factory: pytest.TempPathFactory,
    genesis: Genesis,
    block: list[tuple[str, list[object]]],
    gas_limit: int | None,
) -> None:
    ours_chain = chain_with_emitter(tmp_path_factory.mktemp("ours") / "db", genesis)
    reference_chain = chain_with_emitter(tmp_path_factory.mktemp("py-evm") / "db", genesis)
    txs = [signed(nonce, call) for nonce, call in enumerate(block, start=1)]
    if gas_limit is not None:  # a block that cannot hold them all is refused by both alike
        for executor in (ours_chain, reference_chain):
            executor.chain.header = executor.chain.header.copy(gas_limit=gas_limit)
    ours, reference = apply(ours_chain, txs, False), apply(reference_chain, txs, True)
    if isinstance(reference, str):
        assert ours == reference
        return
    assert not isinstance(ours, str)
    assert ours[0] == reference[0]
    assert [r.encode() for r in ours[1]] == [r.encode() for r in reference[1]]
    assert ours[2] == reference[2]
