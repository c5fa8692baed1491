"""JSON-RPC methods beyond Ethereum's: validators, finality certificates, peers, consensus
status and equivocation evidence. Besu's name is served too where one exists
(`qbft_getValidatorsByBlockNumber`), so Besu-aware tools work unchanged."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cityledger.node.config import Peer
from cityledger.node.consensus.core import Equivocation
from cityledger.node.consensus.finality_certificate import (
    FinalityCertificate,
    InvalidCertificate,
    quorum_size,
)
from cityledger.node.consensus.journal import ConsensusJournal
from cityledger.node.consensus.messages import SignedMessage
from cityledger.node.production.validator_set import ValidatorSetUnavailable, validators_at
from cityledger.node.rpc.encoding import data, quantity
from cityledger.node.rpc.errors import EXECUTION_ERROR, RpcError
from cityledger.node.rpc.eth_methods import EthMethods
from cityledger.node.storage.leveldb import LevelDB
from cityledger.node.storage.reader import ChainReader
from cityledger.node.storage.schema import certificate_key


@dataclass(frozen=True)
class ConsensusStatus:
    validator: bytes
    height: int | None
    round: int | None
    validators: tuple[bytes, ...]  # the set validating the next block
    heard: tuple[bytes, ...]  # those of them this node has heard from lately (itself included)


class CityledgerMethods:
    def __init__(
        self,
        eth: EthMethods,
        reader: ChainReader,
        db: LevelDB,
        journal: ConsensusJournal,
        peers: list[Peer],
        status: Callable[[], ConsensusStatus],
    ) -> None:
        self._eth = eth
        self._reader = reader
        self._db = db
        self._journal = journal
        self._peers = peers
        self._status = status

    def _validators(self, height: int) -> tuple[bytes, ...]:
        try:
            return validators_at(self._reader, height)
        except ValidatorSetUnavailable as exc:
            raise RpcError(EXECUTION_ERROR, str(exc)) from None

    def finality_certificate(self, params: list[Any]) -> dict[str, Any] | None:
        """The commit seals of a final block (null for block 0, which genesis makes final)."""
        block_id = params[0]
        if isinstance(block_id, str) and len(block_id) == 66:
            header = self._eth.resolve_block({"blockHash": block_id})
        else:
            header = self._eth.resolve_block(block_id)
        try:
            raw = self._db[certificate_key(header.hash)]
        except KeyError:
            return None
        try:
            certificate = FinalityCertificate.decode(raw)
        except InvalidCertificate as exc:
            raise RpcError(EXECUTION_ERROR, f"stored certificate is unreadable: {exc}") from None
        return certificate.to_json(self._validators(int(header.block_number)))

    def validators(self, params: list[Any]) -> list[str]:
        """The validators of a block (those whose seals make it final)."""
        header = self._eth.resolve_block(params[0] if params else "latest")
        return ["0x" + v.hex() for v in self._validators(int(header.block_number))]

    def peers(self, _: list[Any]) -> list[dict[str, str]]:
        return [{"address": "0x" + p.address.hex(), "url": p.url} for p in self._peers]

    def peer_count(self, _: list[Any]) -> str:
        """The configured peers (p2p is request/response over HTTP: there are no standing
        connections to count)."""
        return hex(len(self._peers))

    def consensus_status(self, _: list[Any]) -> dict[str, Any]:
        status = self._status()
        return {
            "validator": "0x" + status.validator.hex(),
            "head": quantity(int(self._reader.head().block_number)),
            "height": None if status.height is None else quantity(status.height),
            "round": None if status.round is None else quantity(status.round),
            "validators": ["0x" + v.hex() for v in status.validators],
            "validatorsHeard": ["0x" + v.hex() for v in status.heard],
            "quorum": quantity(quorum_size(len(status.validators))) if status.validators else None,
        }

    def evidence(self, _: list[Any]) -> list[dict[str, Any]]:
        """Pairs of conflicting messages signed by one validator, each verifiable on its own."""
        return [_evidence_json(e) for e in self._journal.evidence()]


def _message_json(message: SignedMessage) -> dict[str, Any]:
    return {
        "digest": data(message.digest),
        "preparedRound": message.prepared_round,
        "signature": data(message.signature),
        "encoded": data(message.encode()),
    }


def _evidence_json(evidence: Equivocation) -> dict[str, Any]:
    first = evidence.first
    return {
        "validator": "0x" + first.sender.hex(),
        "height": quantity(first.height),
        "round": quantity(first.round),
        "kind": first.kind.name,
        "first": _message_json(first),
        "second": _message_json(evidence.second),
    }
