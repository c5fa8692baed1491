"""The consensus engine as a node runs it: real `ConsensusEngine`s with real keys and journals
on LevelDB, on one event loop, exchanging their messages in memory. The application under
them is a plain in-memory one (the node's is the block producer, tested in tests/node); what
is tested here is the engine: that it starts heights when there is work, carries out what the
core decides, changes rounds past a silent proposer, applies synced blocks only at the next
height, and keeps a non-validator quiet."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from eth_utils import keccak

from cityledger.node.config import EngineSettings, RoundTimeouts
from cityledger.node.consensus.core import proposer_of
from cityledger.node.consensus.engine import ConsensusEngine
from cityledger.node.consensus.finality_certificate import FinalityCertificate
from cityledger.node.consensus.journal import ConsensusJournal
from cityledger.node.consensus.messages import (
    CandidateBlock,
    MessageKind,
    SignedMessage,
    sign_message,
)
from cityledger.node.consensus.signing import Address, KeySigner
from cityledger.node.storage.leveldb import LevelDB

CHAIN_ID = 2024
SETTINGS = EngineSettings(
    timeouts=RoundTimeouts(base=0.2, cap=1.0), heartbeat_seconds=None, block_period_seconds=0
)
DEADLINE_SECONDS = 30


@dataclass
class MemoryApplication:
    """Blocks are payloads named by their keccak; `work` blocks are waiting to be made."""

    name: str
    validators: tuple[Address, ...]
    work: int
    final: list[tuple[CandidateBlock, FinalityCertificate]] = field(default_factory=list)

    def next_height(self) -> int:
        return len(self.final) + 1

    def validators_at(self, height: int) -> tuple[Address, ...]:
        return self.validators

    def has_pending_work(self) -> bool:
        return self.work > 0

    def build_block(self, height: int) -> CandidateBlock:
        payload = f"block {height} proposed by {self.name}".encode()
        return CandidateBlock(keccak(payload), payload)

    def validate_block(self, height: int, block: CandidateBlock) -> bool:
        return height == self.next_height() and keccak(block.payload) == block.hash

    def commit_block(self, block: CandidateBlock, certificate: FinalityCertificate) -> None:
        assert certificate.height == self.next_height() and certificate.block_hash == block.hash
        self.final.append((block, certificate))
        self.work -= 1


@dataclass
class Network:
    """Delivers each broadcast to every other running engine; `silent` ones neither send nor
    receive (a crashed validator)."""

    engines: list[ConsensusEngine] = field(default_factory=list)
    silent: set[int] = field(default_factory=set)
    sent: list[int] = field(default_factory=list)  # sender index of every broadcast

    def transport(self, index: int) -> Transport:
        return Transport(self, index)


@dataclass
class Transport:
    network: Network
    index: int

    @property
    def address(self) -> Address:
        """Stands for the sending node's key, which the engine counts queued messages by."""
        return Address(bytes([self.index]) * 20)

    def broadcast(self, message: SignedMessage) -> None:
        self.network.sent.append(self.index)
        if self.index in self.network.silent:
            return
        for other, engine in enumerate(self.network.engines):
            if other != self.index and other not in self.network.silent:
                asyncio.get_running_loop().call_soon(engine.submit, message, self.address)


def validator_keys(count: int) -> list[KeySigner]:
    return [KeySigner(keccak(text=f"engine validator {i}")) for i in range(count)]


def build(
    tmp_path: Path,
    signers: list[KeySigner],
    validators: tuple[Address, ...],
    work: int,
    network: Network,
    on_behind: dict[int, Callable[[int], None]] | None = None,
) -> tuple[list[MemoryApplication], list[LevelDB]]:
    applications, databases = [], []
    for index, signer in enumerate(signers):
        application = MemoryApplication(f"validator {index}", validators, work)
        db = LevelDB(tmp_path / f"journal-{index}")
        network.engines.append(
            ConsensusEngine(
                signer,
                CHAIN_ID,
                application,
                network.transport(index),
                ConsensusJournal(db),
                SETTINGS,
                on_behind=(on_behind or {}).get(index),
            )
        )
        applications.append(application)
        databases.append(db)
    return applications, databases


async def run_until(
    network: Network, done: Callable[[], bool], skip: set[int] | None = None
) -> None:
    running = [e for i, e in enumerate(network.engines) if i not in (skip or set())]
    tasks = [asyncio.create_task(engine.run()) for engine in running]
    try:
        for engine in running:
            engine.wake()
        async with asyncio.timeout(DEADLINE_SECONDS):
            while not done():
                await asyncio.sleep(0.02)
    finally:
        for engine in running:
            engine.stop()
        await asyncio.gather(*tasks)


def test_four_validators_finalize_the_same_blocks(tmp_path: Path) -> None:
    signers = validator_keys(4)
    validators = tuple(sorted(s.address for s in signers))
    network = Network()
    applications, databases = build(tmp_path, signers, validators, work=3, network=network)

    async def scenario() -> None:
        await run_until(network, lambda: all(len(a.final) == 3 for a in applications))

    asyncio.run(scenario())
    for height in range(3):
        blocks = {a.final[height][0] for a in applications}
        assert len(blocks) == 1, f"validators finalized different blocks at {height + 1}"
        for _, certificate in (a.final[height] for a in applications):
            assert certificate.height == height + 1
            assert len(certificate.verify(validators)) >= 3
    for db in databases:
        db.close()


def test_a_silent_proposer_costs_a_round_change_not_liveness(tmp_path: Path) -> None:
    signers = validator_keys(4)
    validators = tuple(sorted(s.address for s in signers))
    silent = next(i for i, s in enumerate(signers) if s.address == proposer_of(1, 0, validators))
    network = Network(silent={silent})
    applications, databases = build(tmp_path, signers, validators, work=2, network=network)
    honest = [a for i, a in enumerate(applications) if i != silent]

    async def scenario() -> None:
        await run_until(network, lambda: all(len(a.final) == 2 for a in honest), skip={silent})

    asyncio.run(scenario())
    first = honest[0].final[0][1]
    assert first.round >= 1, "height 1's round-0 proposer was silent; a later round decided it"
    assert {a.final[0][0] for a in honest} == {honest[0].final[0][0]}
    assert signers[silent].address not in first.verify(validators)
    assert applications[silent].final == []
    for db in databases:
        db.close()


def test_a_synced_block_applies_only_at_the_next_height(tmp_path: Path) -> None:
    signers = validator_keys(4)
    validators = tuple(sorted(s.address for s in signers))
    behind: list[int] = []
    network = Network(silent={3})
    applications, databases = build(
        tmp_path, signers, validators, work=2, network=network, on_behind={3: behind.append}
    )
    leader, lagging, engine = applications[0], applications[3], network.engines[3]

    async def scenario() -> None:
        await run_until(network, lambda: len(leader.final) == 2, skip={3})
        task = asyncio.create_task(engine.run())
        (first, first_cert), (second, second_cert) = leader.final
        assert not await engine.apply_synced(second, second_cert)  # height 2 before height 1
        assert await engine.apply_synced(first, first_cert)
        assert await engine.apply_synced(second, second_cert)
        assert not await engine.apply_synced(second, second_cert)  # no longer the next height
        # A message for a later height tells the engine it is behind (the node then syncs).
        engine.submit(
            network_message(signers[0], height=lagging.next_height() + 5), signers[0].address
        )
        async with asyncio.timeout(DEADLINE_SECONDS):
            while not behind:
                await asyncio.sleep(0.02)
        engine.stop()
        await task

    asyncio.run(scenario())
    assert [block for block, _ in lagging.final] == [block for block, _ in leader.final]
    assert behind == [lagging.next_height() + 5]
    for db in databases:
        db.close()


def test_a_node_outside_the_validator_set_only_follows(tmp_path: Path) -> None:
    signers = validator_keys(2)
    network = Network()
    # The set is the first key alone: the second engine has work but is no validator.
    applications, databases = build(
        tmp_path, signers, (signers[0].address,), work=1, network=network
    )

    async def scenario() -> None:
        await run_until(network, lambda: len(applications[0].final) == 1)

    asyncio.run(scenario())
    assert 1 not in network.sent
    assert applications[1].final == []
    for db in databases:
        db.close()


def network_message(signer: KeySigner, height: int) -> SignedMessage:
    return sign_message(signer, CHAIN_ID, MessageKind.PREPARE, height, 0, keccak(b"later"))
