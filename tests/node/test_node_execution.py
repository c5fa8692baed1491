"""In-process checks of the node's parts: genesis, staged storage, block execution and import,
and the pool's nonce ordering."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import rlp
from eth.abc import SignedTransactionAPI
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_typing import Address
from eth_utils import ValidationError, keccak, to_canonical_address, to_checksum_address
from hypothesis import given, settings
from hypothesis import strategies as st
from node_helpers import EMITTER
from web3 import Web3

from cityledger.contracts.artifacts import load_artifact
from cityledger.contracts.deployment import ConsortiumSpec, FoundingCity, text32
from cityledger.node.admission import TxRejected
from cityledger.node.config import PoolLimits, RpcLimits
from cityledger.node.consensus.finality_certificate import FinalityCertificate
from cityledger.node.consensus.messages import CandidateBlock
from cityledger.node.execution.calls import CallTimeout, deadline
from cityledger.node.execution.executor import BlockExecutor
from cityledger.node.execution.vm import CityVM, write_genesis
from cityledger.node.genesis import AllocAccount, Genesis, build_genesis
from cityledger.node.p2p.sync import SyncProgress
from cityledger.node.production.budget import BlockBudget
from cityledger.node.production.preview import BlockPreview
from cityledger.node.production.producer import BlockProducer, decode_block, encode_block
from cityledger.node.rpc.errors import RpcError
from cityledger.node.rpc.eth_methods import EthMethods
from cityledger.node.rpc.methods import method_table
from cityledger.node.rpc.server import handle_call
from cityledger.node.storage.leveldb import BlockStage, LevelDB
from cityledger.node.storage.reader import ChainReader
from cityledger.node.txpool import TxPool

CHAIN_ID = 4242


@pytest.fixture(scope="module")
def admin() -> LocalAccount:
    account: LocalAccount = Account.from_key("0x" + "11" * 32)
    return account


@pytest.fixture(scope="module")
def genesis(admin: LocalAccount) -> Genesis:
    spec = ConsortiumSpec(
        cities=(FoundingCity("Test City", admin.address, Account.create().address, "test"),)
    )
    return build_genesis(CHAIN_ID, spec, timestamp=1_700_000_000)


def open_chain(path: Path, genesis: Genesis) -> tuple[LevelDB, BlockExecutor]:
    db = LevelDB(path)
    write_genesis(db, genesis.chain_id, genesis.header_params(), genesis.state())
    return db, BlockExecutor(db, genesis.chain_id)


@pytest.fixture
def two_validators(
    tmp_path: Path, genesis: Genesis
) -> Iterator[tuple[BlockExecutor, BlockExecutor]]:
    """A proposer's chain and a follower's, each on its own database."""
    db_a, proposer = open_chain(tmp_path / "a", genesis)
    db_b, follower = open_chain(tmp_path / "b", genesis)
    yield proposer, follower
    db_a.close()
    db_b.close()


def reader_for(db: LevelDB, genesis: Genesis) -> ChainReader:
    consortium = to_canonical_address(genesis.system_contracts["Consortium"])
    return ChainReader(db, CHAIN_ID, consortium, load_artifact("Consortium").abi)


def signed(account: LocalAccount, nonce: int, data: str, to: str | None = None) -> bytes:
    tx: dict[str, Any] = {
        "nonce": nonce,
        "gas": 1_000_000,
        "maxFeePerGas": 0,
        "maxPriorityFeePerGas": 0,
        "chainId": CHAIN_ID,
        "data": data,
    }
    if to is not None:
        tx["to"] = to
    raw: bytes = account.sign_transaction(tx).raw_transaction
    return raw


def test_genesis_round_trips_through_json(genesis: Genesis) -> None:
    assert Genesis.from_json(json.loads(json.dumps(genesis.to_json()))) == genesis
    assert set(genesis.system_contracts) == {
        "Consortium",
        "DataGrants",
        "AccessLog",
        "LeakRegistry",
        "ResourceAllocation",
    }
    assert all(genesis.alloc[a].code for a in genesis.system_contracts.values())


def test_stage_reaches_disk_only_on_flush(tmp_path: Path) -> None:
    db = LevelDB(tmp_path / "db")
    stage = BlockStage(db)
    stage[b"a"] = b"1"
    del stage[b"a"]
    stage[b"b"] = b"2"
    assert stage[b"b"] == b"2"
    assert b"b" not in db
    stage.discard()
    assert b"b" not in stage
    stage[b"c"] = b"3"
    stage.flush()
    assert db[b"c"] == b"3"


def test_executed_block_imports_identically_elsewhere(
    two_validators: tuple[BlockExecutor, BlockExecutor], genesis: Genesis, admin: LocalAccount
) -> None:
    proposer, follower = two_validators
    pool = TxPool(PoolLimits())
    # A proposal stores block.timestamp: the follower must see the timestamp the proposer did.
    propose = (
        Web3()
        .eth.contract(abi=load_artifact("Consortium").abi)
        .encode_abi("proposeSetRule", [text32("VOTING_PERIOD"), 2 * 86_400])
    )
    consortium = genesis.system_contracts["Consortium"]
    txs = [
        pool.decode(signed(admin, 0, EMITTER["bytecode"])),
        pool.decode(signed(admin, 1, propose, to=consortium)),
    ]
    # Later than the pending header's own timestamp, as a proposer's clock usually is.
    executed = proposer.execute(txs, b"\x01" * 20, int(time.time()) + 100)
    assert [c.is_error for c in executed.computations] == [False, False]
    assert not executed.dropped
    proposer.commit()
    receipts = follower.replay(executed.block, executed.block.transactions).receipts
    follower.commit()
    assert [r.gas_used for r in receipts] == [r.gas_used for r in executed.receipts]
    assert follower.chain.get_canonical_head() == proposer.chain.get_canonical_head()


def test_replay_refuses_a_block_that_does_not_execute_to_its_header(
    two_validators: tuple[BlockExecutor, BlockExecutor], genesis: Genesis, admin: LocalAccount
) -> None:
    proposer, follower = two_validators
    pool = TxPool(PoolLimits())
    other: LocalAccount = Account.from_key("0x" + "22" * 32)
    txs = [pool.decode(signed(a, 0, EMITTER["bytecode"])) for a in (admin, other)]
    block = proposer.execute(txs, b"\x01" * 20, int(time.time())).block
    head = follower.chain.get_canonical_head()
    forged_root = block.copy(header=block.header.copy(state_root=b"\x42" * 32))
    with pytest.raises(ValidationError, match="state_root is 0x4242"):
        follower.replay(forged_root, forged_root.transactions)
    # The header commits to the transactions in order: the same ones swapped are refused.
    with pytest.raises(ValidationError, match="transaction_root"):
        follower.replay(block, list(reversed(block.transactions)))
    assert follower.chain.get_canonical_head() == head
    follower.replay(block, block.transactions)
    follower.commit()
    assert follower.chain.get_canonical_head() == block.header


def test_a_proposal_decodes_to_its_block_holding_the_pools_own_transactions(
    two_validators: tuple[BlockExecutor, BlockExecutor], admin: LocalAccount
) -> None:
    proposer, _ = two_validators
    pool = TxPool(PoolLimits())
    legacy = admin.sign_transaction(
        {"nonce": 2, "gas": 30_000, "gasPrice": 0, "chainId": CHAIN_ID, "to": admin.address}
    ).raw_transaction
    txs = [pool.decode(signed(admin, n, "0x")) for n in range(2)] + [pool.decode(legacy)]
    block = proposer.execute(txs, b"\x01" * 20, int(time.time())).block
    candidate = encode_block(block)
    in_pool: dict[bytes, SignedTransactionAPI] = {txs[0].hash: txs[0], txs[2].hash: txs[2]}
    decoded = decode_block(candidate, in_pool.get)
    assert decoded == rlp.decode(candidate.payload, sedes=CityVM.get_block_class())
    assert decoded.hash == block.hash
    assert decoded.transactions[0] is txs[0] and decoded.transactions[2] is txs[2]
    assert decoded.transactions[1] is not txs[1]  # not in the pool: decoded from the block
    header, transactions, _, _ = rlp.decode(candidate.payload)
    with_uncle = CandidateBlock(block.hash, rlp.encode([header, transactions, [header], []]))
    with pytest.raises(ValueError, match="no uncles"):
        decode_block(with_uncle, pool.get)
    with pytest.raises(rlp.DecodingError, match="not RLP"):
        decode_block(CandidateBlock(block.hash, candidate.payload[:-1]), pool.get)


def test_blocks_may_share_a_second_but_never_go_back(
    two_validators: tuple[BlockExecutor, BlockExecutor], genesis: Genesis, admin: LocalAccount
) -> None:
    proposer, follower = two_validators
    pool = TxPool(PoolLimits())
    now = int(time.time())
    for nonce in range(2):
        block = proposer.execute([pool.decode(signed(admin, nonce, "0x"))], b"\x01" * 20, now).block
        proposer.commit()
        follower.replay(block, block.transactions)
        follower.commit()
        assert block.header.timestamp == now
    # A proposer whose clock is behind its parent's stamps the parent's second instead.
    late = proposer.execute([pool.decode(signed(admin, 2, "0x"))], b"\x01" * 20, now - 5).block
    assert late.header.timestamp == now
    earlier = late.copy(header=late.header.copy(timestamp=now - 1))
    with pytest.raises(ValidationError, match="is before its parent's"):
        follower.replay(earlier, earlier.transactions)


def test_permission_answers_follow_consortium_changes(
    tmp_path: Path, genesis: Genesis, admin: LocalAccount
) -> None:
    db, executor = open_chain(tmp_path / "db", genesis)
    reader = reader_for(db, genesis)
    agency = Account.create().address
    pool = TxPool(PoolLimits())
    genesis_head = reader.head()
    assert not reader.is_permitted_sender(genesis_head, to_canonical_address(agency))
    # A block that leaves Consortium alone: the cached answer stands.
    executor.execute([pool.decode(signed(admin, 0, EMITTER["bytecode"]))], b"\0" * 20, 1)
    executor.commit()
    assert not reader.is_permitted_sender(reader.head(), to_canonical_address(agency))
    register = (
        Web3()
        .eth.contract(abi=load_artifact("Consortium").abi)
        .encode_abi("registerAgency", [agency, "Health Bureau", 1])
    )
    tx = pool.decode(signed(admin, 1, register, to=genesis.system_contracts["Consortium"]))
    executed = executor.execute([tx], b"\0" * 20, 2)
    assert not executed.computations[0].is_error
    executor.commit()
    assert reader.is_permitted_sender(reader.head(), to_canonical_address(agency))
    assert not reader.is_permitted_sender(genesis_head, to_canonical_address(agency))
    db.close()


def test_eth_syncing_reports_a_catch_up_until_it_is_done(tmp_path: Path, genesis: Genesis) -> None:
    db, _ = open_chain(tmp_path / "db", genesis)
    reader = reader_for(db, genesis)
    progress: SyncProgress | None = None
    methods = EthMethods(
        reader, TxPool(PoolLimits()), lambda _: None, RpcLimits(), sync_progress=lambda: progress
    )
    request = {"jsonrpc": "2.0", "id": 1, "method": "eth_syncing", "params": []}

    def syncing() -> object:
        response = asyncio.run(handle_call(method_table(methods), request))
        assert response is not None
        return response["result"]

    assert syncing() is False
    progress = SyncProgress(starting_block=0, highest_block=10)
    assert syncing() == {"startingBlock": "0x0", "currentBlock": "0x0", "highestBlock": "0xa"}
    progress = SyncProgress(starting_block=0, highest_block=0)  # the head has reached it
    assert syncing() is False
    db.close()


def test_a_malformed_proposal_is_refused_not_raised(tmp_path: Path, genesis: Genesis) -> None:
    # A proposal (or a synced block) is bytes from another validator: whatever they hold, the
    # answer is "invalid", never an exception that would stop this node's consensus loop.
    db, executor = open_chain(tmp_path / "db", genesis)
    reader = reader_for(db, genesis)
    chain = BlockProducer(
        executor, reader, TxPool(PoolLimits()), coinbase=b"\1" * 20, budget=BlockBudget(0.25)
    )
    for payload in (
        b"\x01\x02",  # not RLP
        b"\xc0",  # an empty list
        rlp.encode([b"x"]),  # RLP, but not a block's shape
        rlp.encode([[b"a"], [], []]),
    ):
        assert chain.validate_block(1, CandidateBlock(keccak(payload), payload)) is False
    db.close()


def test_a_final_block_is_served_as_its_executor_holds_it(
    tmp_path: Path, genesis: Genesis, admin: LocalAccount
) -> None:
    db, executor = open_chain(tmp_path / "db", genesis)
    served = reader_for(db, genesis)
    pool = TxPool(PoolLimits())
    chain = BlockProducer(
        executor,
        reader_for(db, genesis),
        pool,
        coinbase=b"\1" * 20,
        budget=BlockBudget(0.25),
        on_final=served.remember_final,
    )
    txs = [pool.decode(signed(admin, nonce, EMITTER["bytecode"])) for nonce in (0, 1)]
    for tx in txs:
        pool.add(tx, served.head_state())
    candidate = chain.build_block(1)
    chain.commit_block(candidate, FinalityCertificate(1, candidate.hash, 0, ()))
    block = served.block_by_number(1)
    assert block is not None and block.hash == candidate.hash
    assert list(block.transactions) == txs and block.transactions[0] is txs[0]  # not decoded
    # What a reader decodes from disk, the independent path, is what was handed over.
    from_disk = reader_for(db, genesis)
    stored = from_disk.block_by_number(1)
    assert stored is not None and stored is not block
    assert [tx.hash for tx in stored.transactions] == [tx.hash for tx in block.transactions]
    assert from_disk.receipts(stored) == served.receipts(block)
    assert len(served.receipts(block)) == 2
    db.close()


def test_abandoned_block_leaves_no_trace(
    tmp_path: Path, genesis: Genesis, admin: LocalAccount
) -> None:
    db, executor = open_chain(tmp_path / "db", genesis)
    head = executor.chain.get_canonical_head()
    pool = TxPool(PoolLimits())
    executor.execute([pool.decode(signed(admin, 0, EMITTER["bytecode"]))], b"\0" * 20, 1)
    executor.abandon()
    reopened = BlockExecutor(db, genesis.chain_id)
    assert reopened.chain.get_canonical_head() == head
    db.close()


class FixedHead:
    """A head state where everyone may send and every account starts at `nonce`."""

    def __init__(self, nonce: int) -> None:
        self._nonce = nonce

    chain_id = CHAIN_ID
    gas_limit = 30_000_000

    def nonce(self, address: Address) -> int:
        return self._nonce

    def balance(self, address: Address) -> int:
        return 0

    def sender_city(self, address: Address) -> bytes | None:
        return b"city"


@settings(max_examples=40, deadline=None)
@given(order=st.permutations(range(8)), senders=st.integers(1, 3))
def test_pool_releases_each_senders_transactions_in_nonce_order(
    order: list[int], senders: int
) -> None:
    accounts = [Account.from_key(bytes([i + 1]) * 32) for i in range(senders)]
    pool = TxPool(PoolLimits())
    head = FixedHead(0)
    for nonce in order:
        for account in accounts:
            pool.add(pool.decode(signed(account, nonce, "0x", to=account.address)), head)
    address = to_canonical_address(accounts[0].address)
    assert pool.pending_nonce(address, 0) == 8
    batch: list[SignedTransactionAPI] = pool.take_batch(30_000_000)
    assert len(batch) == 8 * senders
    for account in accounts:
        mine = [tx.nonce for tx in batch if to_checksum_address(tx.sender) == account.address]
        assert mine == list(range(8))
    with pytest.raises(TxRejected, match="already pending"):
        pool.add(pool.decode(signed(accounts[0], 3, "0x", to=accounts[0].address)), head)
    pool.settle(batch, [])
    assert len(pool) == 0
    with pytest.raises(TxRejected, match="already used"):
        pool.add(pool.decode(signed(accounts[0], 3, "0x", to=accounts[0].address)), FixedHead(8))


def test_transaction_the_state_no_longer_admits_is_dropped(
    tmp_path: Path, genesis: Genesis, admin: LocalAccount
) -> None:
    rich = dataclasses.replace(
        genesis, alloc={**genesis.alloc, admin.address: AllocAccount(balance=1_000)}
    )
    db, executor = open_chain(tmp_path / "db", rich)
    pool = TxPool(PoolLimits())
    payee = Account.create().address
    spend_all = [
        pool.decode(
            admin.sign_transaction(
                {
                    "nonce": nonce,
                    "to": payee,
                    "value": 1_000,
                    "gas": 21_000,
                    "maxFeePerGas": 0,
                    "maxPriorityFeePerGas": 0,
                    "chainId": CHAIN_ID,
                }
            ).raw_transaction
        )
        for nonce in (0, 1)
    ]
    executed = executor.execute(spend_all, b"\0" * 20, 1_700_000_100)
    assert [tx.hash for tx in executed.block.transactions] == [spend_all[0].hash]
    assert [tx.hash for tx in executed.dropped] == [spend_all[1].hash]
    executor.commit()
    state = executor.chain.get_vm().state
    assert state.get_balance(to_canonical_address(payee)) == 1_000
    db.close()


class CountingExecutor(BlockExecutor):
    """A real executor that counts re-executions of proposals."""

    replays = 0

    def replay(self, block: Any, transactions: Any) -> Any:
        self.replays += 1
        return super().replay(block, transactions)


def preview_of(candidate: CandidateBlock, parent_hash: bytes, **changes: Any) -> BlockPreview:
    block = rlp.decode(candidate.payload, sedes=CityVM.get_block_class())
    preview = BlockPreview(
        int(block.header.block_number),
        parent_hash,
        block.header.coinbase,
        int(block.header.timestamp),
        tuple(tx.hash for tx in block.transactions),
    )
    return dataclasses.replace(preview, **changes)


# A proposal, a follower's chain, its executor, and the parent's hash.
Proposal = tuple[CandidateBlock, BlockProducer, CountingExecutor, bytes]


@pytest.fixture
def proposal_and_follower(
    tmp_path: Path, genesis: Genesis, admin: LocalAccount
) -> Iterator[Proposal]:
    """A block of three calls built by one chain, and a follower whose pool holds the calls."""
    db_a, proposer_executor = open_chain(tmp_path / "a", genesis)
    db_b = LevelDB(tmp_path / "b")
    write_genesis(db_b, CHAIN_ID, genesis.header_params(), genesis.state())
    follower_executor = CountingExecutor(db_b, CHAIN_ID)
    proposer_pool, follower_pool = TxPool(PoolLimits()), TxPool(PoolLimits())
    raws = [signed(admin, nonce, EMITTER["bytecode"]) for nonce in range(3)]
    for pool, db in ((proposer_pool, db_a), (follower_pool, db_b)):
        for raw in raws:
            pool.add(pool.decode(raw), reader_for(db, genesis).head_state())
    proposer = BlockProducer(
        proposer_executor, reader_for(db_a, genesis), proposer_pool, b"\1" * 20, BlockBudget(1)
    )
    follower = BlockProducer(
        follower_executor, reader_for(db_b, genesis), follower_pool, b"\2" * 20, BlockBudget(1)
    )
    candidate = proposer.build_block(1)
    genesis_hash = reader_for(db_b, genesis).head().hash
    yield candidate, follower, follower_executor, genesis_hash
    db_a.close()
    db_b.close()


def test_a_follower_that_executed_the_preview_votes_without_executing_again(
    proposal_and_follower: Proposal,
) -> None:
    candidate, follower, executor, parent = proposal_and_follower
    assert follower.speculate(preview_of(candidate, parent)) is True
    assert follower.validate_block(1, candidate) is True
    assert executor.replays == 0
    follower.commit_block(candidate, FinalityCertificate(1, candidate.hash, 0, ()))
    assert executor.chain.get_canonical_head().hash == candidate.hash
    # A preview of a block that is already final prepares nothing.
    assert follower.speculate(preview_of(candidate, parent)) is False


@pytest.mark.parametrize("announced", ["a later timestamp", "fewer transactions"])
def test_a_preview_that_differs_from_the_proposal_costs_a_re_execution_only(
    proposal_and_follower: Proposal,
    announced: str,
) -> None:
    candidate, follower, executor, parent = proposal_and_follower
    preview = preview_of(candidate, parent)
    if announced == "a later timestamp":
        preview = dataclasses.replace(preview, timestamp=preview.timestamp + 1)
    else:
        preview = dataclasses.replace(preview, transactions=preview.transactions[:2])
    assert follower.speculate(preview) is True
    assert follower.validate_block(1, candidate) is True
    assert executor.replays == 1
    follower.commit_block(candidate, FinalityCertificate(1, candidate.hash, 0, ()))
    assert executor.chain.get_canonical_head().hash == candidate.hash


def test_a_forged_proposal_is_refused_though_its_preview_was_executed(
    proposal_and_follower: Proposal,
) -> None:
    candidate, follower, executor, parent = proposal_and_follower
    assert follower.speculate(preview_of(candidate, parent)) is True
    block = rlp.decode(candidate.payload, sedes=CityVM.get_block_class())
    forged = encode_block(block.copy(header=block.header.copy(state_root=b"\x42" * 32)))
    assert follower.validate_block(1, forged) is False
    assert follower.validate_block(1, candidate) is True
    assert executor.replays == 2  # the forgery, then the proposal once the forgery was dropped


def test_a_preview_the_follower_cannot_execute_as_given_stages_nothing(
    proposal_and_follower: Proposal,
) -> None:
    candidate, follower, executor, parent = proposal_and_follower
    preview = preview_of(candidate, parent)
    refused = [
        dataclasses.replace(preview, height=2),  # not the next block
        dataclasses.replace(preview, parent_hash=b"\x42" * 32),  # another parent
        dataclasses.replace(preview, transactions=(b"\x42" * 32,)),  # not in this pool
        dataclasses.replace(preview, transactions=()),  # nothing to execute
        # Nonces 1 and 2 without 0: the transactions are not valid in this order.
        dataclasses.replace(preview, transactions=preview.transactions[1:]),
    ]
    for bad in refused:
        assert follower.speculate(bad) is False
    assert follower.validate_block(1, candidate) is True
    assert executor.replays == 1


def test_a_block_preview_round_trips_and_anything_else_is_refused_by_name() -> None:
    preview = BlockPreview(7, b"\x01" * 32, b"\x02" * 20, 1_700_000_000, (b"\x03" * 32,))
    assert BlockPreview.decode(preview.encode()) == preview
    for raw, reason in (
        (b"\x01\x02", "not RLP"),
        (rlp.encode([b"\x07"]), "is \\[height"),
        (rlp.encode([7, b"\x01" * 31, b"\x02" * 20, 1, []]), "32-byte hash"),
        (rlp.encode([7, b"\x01" * 32, b"\x02" * 20, 1, [b"\x03"]]), "list of 32-byte hashes"),
        (rlp.encode([[b""], b"\x01" * 32, b"\x02" * 20, 1, []]), "byte strings"),
    ):
        with pytest.raises(ValueError, match=reason):
            BlockPreview.decode(raw)


ENDLESS_LOOP = bytes.fromhex("5b600056")  # JUMPDEST PUSH1 0 JUMP, as contract-creation code


def test_a_clients_call_ends_at_its_deadline_or_its_gas_cap(
    tmp_path: Path, genesis: Genesis
) -> None:
    db, _ = open_chain(tmp_path / "db", genesis)
    reader = reader_for(db, genesis)
    methods = EthMethods(
        reader,
        TxPool(PoolLimits()),
        lambda _: None,
        RpcLimits(call_timeout_seconds=0.3, call_gas_cap=10**9),
    )
    started = time.monotonic()
    with pytest.raises(RpcError, match=r"execution aborted \(timeout = 0.3 s\)"):
        methods.call([{"data": "0x" + ENDLESS_LOOP.hex()}, "latest"])
    with pytest.raises(RpcError, match=r"execution aborted"):
        methods.estimate_gas([{"data": "0x" + ENDLESS_LOOP.hex()}])
    assert time.monotonic() - started < 5  # not the minutes a billion gas of looping takes
    # With a small gas cap the loop runs out of gas first: an ordinary execution error.
    capped = EthMethods(
        reader, TxPool(PoolLimits()), lambda _: None, RpcLimits(call_gas_cap=100_000)
    )
    with pytest.raises(RpcError, match=r"(?i)out of gas"):
        capped.call([{"data": "0x" + ENDLESS_LOOP.hex(), "gas": hex(10**8)}, "latest"])
    # The deadline is the calling thread's only: block execution elsewhere never sees it.
    with pytest.raises(CallTimeout), deadline(0.1):
        reader.call(reader.head(), sender=None, to=b"", data=ENDLESS_LOOP, gas=10**9, value=0)
    db.close()
