"""An audit trace proven through a light client, one node at a time, trusting none of them.

Each node is asked for the trace (`eth_getLogs`, as `audit trace` reads it) and everything it
says is proven on its own (`cityledger.sdk.light_client`): each block the trace touches is
certified from the trust root; the block's receipts and transactions are rebuilt against its
certified roots, so every event of the trace in that block is proven, and one the node left out
or changed is named; the facts stated from state (dataset owners; grants' status, grantee and
quota) are storage proofs at the node's certified head. Then the nodes are compared: a node
whose answers contradict a proof, or that left out an event another node proved, is named.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from eth_typing import ChecksumAddress
from eth_utils import to_bytes

from cityledger.sdk.chain import Chain, connect_web3
from cityledger.sdk.errors import LedgerError
from cityledger.sdk.event_decoding import UnknownEvent, decode_log
from cityledger.sdk.history import History, TopicFilter
from cityledger.sdk.light_client import (
    CertifiedHeader,
    LightClient,
    ProofFailure,
    ProvenLog,
    ValidatorEpoch,
    event_topic,
)
from cityledger.sdk.models import HistoryEvent, utc
from cityledger.sdk.state_facts import FactQuery, StateFact, dataset_query, grant_query
from cityledger.sdk.trust import TrustRoot
from cityledger.sdk.untrusted_rpc import UntrustedNode

MAX_FACT_SUBJECTS = 10_000
# More filters, from the events proven so far (a dataset's findings, from its incidents).
FollowUp = Callable[[Sequence[HistoryEvent]], list[TopicFilter]]
_SUBJECTS = ("datasetId", "grantId")  # event arguments that name a dataset or a grant


def _hex(raw: bytes) -> str:
    return "0x" + raw.hex()


@dataclass(frozen=True)
class ProvenEvent:
    """An event of the trace as the certified block's receipts hold it."""

    event: HistoryEvent
    block_hash: bytes
    receipts_root: bytes
    transactions_root: bytes
    signers: tuple[ChecksumAddress, ...]
    epoch: int

    def as_json(self) -> dict[str, Any]:
        return {
            **self.event.as_json(),
            "proof": {
                "blockHash": _hex(self.block_hash),
                "receiptsRoot": _hex(self.receipts_root),
                "transactionsRoot": _hex(self.transactions_root),
                "sealedBy": list(self.signers),
                "validatorSet": self.epoch,
            },
        }


@dataclass(frozen=True)
class ProvenFact:
    fact: StateFact
    block_number: int
    state_root: bytes

    def as_json(self) -> dict[str, Any]:
        return {
            "subject": self.fact.subject,
            "fact": self.fact.name,
            "value": self.fact.value,
            "proof": {
                "contract": self.fact.contract,
                "slots": [hex(s) for s in self.fact.slots],
                "blockNumber": self.block_number,
                "stateRoot": _hex(self.state_root),
            },
        }


@dataclass(frozen=True)
class NodeVerdict:
    url: str
    head: int | None  # the certified head its facts were read at
    failure: str | None = None  # what it contradicted (or why it could not be checked)

    def as_json(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "verified": self.failure is None,
            "head": self.head,
            "failure": self.failure,
        }


@dataclass(frozen=True)
class ProvenTrace:
    trust: TrustRoot
    first_block: int  # events before it were not read: they are not after the trust root
    head: CertifiedHeader | None  # the block the facts were read at
    epochs: tuple[ValidatorEpoch, ...]
    events: tuple[ProvenEvent, ...]
    facts: tuple[ProvenFact, ...]
    nodes: tuple[NodeVerdict, ...]

    @property
    def failures(self) -> list[NodeVerdict]:
        return [n for n in self.nodes if n.failure is not None]

    def as_json(self) -> dict[str, Any]:
        head = self.head
        return {
            "trustRoot": self.trust.as_json(),
            "fromBlock": self.first_block,
            "head": None
            if head is None
            else {
                "blockNumber": head.number,
                "blockHash": _hex(head.header.hash),
                "stateRoot": _hex(head.header.state_root),
                "sealedBy": list(head.signers),
                "validatorSet": head.epoch,
            },
            "validatorSets": [
                {
                    "index": e.index,
                    "fromBlock": e.first_block,
                    "validators": list(e.validators),
                    "provenAt": e.read_at,
                    "changes": [
                        {
                            "blockNumber": c.block_number,
                            "logIndex": c.log_index,
                            "event": c.event,
                            "cityId": c.city_id,
                        }
                        for c in e.changes
                    ],
                }
                for e in self.epochs
            ],
            "events": [e.as_json() for e in self.events],
            "facts": [f.as_json() for f in self.facts],
            "nodes": [n.as_json() for n in self.nodes],
        }


@dataclass
class _NodeProof:
    """What one node's answers proved."""

    url: str
    head: CertifiedHeader
    epochs: tuple[ValidatorEpoch, ...]
    hashes: dict[int, bytes]  # the certified blocks' hashes, by number
    events: dict[tuple[int, int], ProvenEvent]
    facts: list[ProvenFact] = field(default_factory=list)


def _matches(
    log: ProvenLog, filters: Sequence[tuple[bytes, frozenset[bytes], int | None, bytes | None]]
) -> bool:
    topics = log.log.topics
    for address, wanted, position, value in filters:
        if log.log.address != address or not topics or topics[0] not in wanted:
            continue
        if position is None or (len(topics) > position and topics[position] == value):
            return True
    return False


def _as_rpc_log(proven: ProvenLog) -> dict[str, Any]:
    return {
        "blockNumber": hex(proven.block_number),
        "logIndex": hex(proven.log_index),
        "topics": [_hex(t) for t in proven.log.topics],
        "data": _hex(proven.log.data),
    }


class _TraceProver:
    """Proves one node's answers for a trace."""

    def __init__(self, url: str, trust: TrustRoot, first_block: int) -> None:
        self.url = url
        self.node = UntrustedNode(url)
        self.client = LightClient(self.node, trust)
        self.client.open()
        self.addresses = self.client.system_contracts()
        self.head = int(str(self.node.call("eth_blockNumber", [])), 16)
        self.claimed_changes = self.client.claimed_changes(self.head)
        # Events are proven only after the trust root's block.
        start = max(first_block, trust.block_number + 1)
        self.history = History(Chain(connect_web3(url), self.addresses, None), start)

    def _fail(self, what: str) -> ProofFailure:
        return ProofFailure(self.url, what)

    def prove(
        self,
        filters: Sequence[TopicFilter],
        since: datetime | None,
        until: datetime | None,
        subjects: Sequence[tuple[str, str]],
        hints: Sequence[int],
        then: FollowUp | None,
    ) -> _NodeProof:
        start, end = self.history.block_range(since, until)
        claimed = self._read(filters, since, until, start)
        # Blocks finalized while the trace was read are proven as far as its events reach; a
        # block that does not exist has no certificate.
        head_number = max(self.head, end, *(e.block_number for e in claimed))
        self.client.follow(head_number, hints)
        edges = self._range_edges(start if since else None, end if until else None, head_number)
        certified = self.client.certify([head_number, *edges])
        self._check_range(certified, start, end, since, until)
        events = self._prove_round(filters, claimed, hints, certified)
        more = then([p.event for p in events.values()]) if then is not None else []
        if more:
            later = self._read(more, since, until, start)
            events.update(self._prove_round(more, later, hints, certified))
        head = certified[head_number]
        hashes = {number: c.header.hash for number, c in certified.items()}
        proof = _NodeProof(self.url, head, self.client.epochs, hashes, events)
        proof.facts = self._prove_facts(head, events.values(), subjects)
        return proof

    def _read(
        self,
        filters: Sequence[TopicFilter],
        since: datetime | None,
        until: datetime | None,
        start: int,
    ) -> list[HistoryEvent]:
        """The events the node claims for `filters`."""
        try:
            claimed = list(self.history.events(filters, since=since, until=until))
        except (UnknownEvent, ValueError, KeyError, TypeError) as exc:
            raise self._fail(f"serves logs that are not system-contract events: {exc}") from None
        if claimed and min(e.block_number for e in claimed) < start:
            raise self._fail(f"serves events before block {start}, where it was asked to start")
        return claimed

    def _prove_round(
        self,
        filters: Sequence[TopicFilter],
        claimed: list[HistoryEvent],
        hints: Sequence[int],
        certified: dict[int, CertifiedHeader],
    ) -> dict[tuple[int, int], ProvenEvent]:
        """`claimed` proven, their blocks certified (and added to `certified`)."""
        blocks = sorted({e.block_number for e in claimed})
        if blocks:
            self.client.follow(blocks[-1], hints)
            certified.update(self.client.certify(blocks))
        return self._prove_events(filters, claimed, [certified[b] for b in blocks])

    def _range_edges(self, start: int | None, end: int | None, head: int) -> list[int]:
        """The blocks whose times prove the range [start, end] is the one `since`/`until` ask
        for: each end a time bounds and its outer neighbour, where they are after the trust
        root."""
        edges = ([start - 1, start] if start is not None else []) + (
            [end, end + 1] if end is not None else []
        )
        root = self.client.trust.block_number
        return [b for b in edges if root < b <= head]

    def _check_range(
        self,
        certified: dict[int, CertifiedHeader],
        start: int,
        end: int,
        since: datetime | None,
        until: datetime | None,
    ) -> None:
        def time(block: int) -> int | None:
            return certified[block].header.timestamp if block in certified else None

        if since is not None:
            low = math.ceil(since.timestamp())
            before, first = time(start - 1), time(start)
            if (before is not None and before >= low) or (first is not None and first < low):
                raise self._fail(
                    f"placed the start of the trace at block {start}, but the "
                    "certified block times put it elsewhere"
                )
        if until is not None:
            high = math.floor(until.timestamp())
            last, after = time(end), time(end + 1)
            if (last is not None and last > high) or (after is not None and after <= high):
                raise self._fail(
                    f"placed the end of the trace at block {end}, but the "
                    "certified block times put it elsewhere"
                )

    def _prove_events(
        self,
        filters: Sequence[TopicFilter],
        claimed: list[HistoryEvent],
        headers: list[CertifiedHeader],
    ) -> dict[tuple[int, int], ProvenEvent]:
        wanted = [
            (
                to_bytes(hexstr=self.addresses[f.contract]),
                frozenset(event_topic(f.contract, e) for e in f.events),
                f.position,
                f.value,
            )
            for f in filters
        ]
        by_block: dict[int, dict[int, HistoryEvent]] = {}
        for event in claimed:
            by_block.setdefault(event.block_number, {})[event.log_index] = event
        proven: dict[tuple[int, int], ProvenEvent] = {}
        for number, block in self.client.prove_blocks(headers).items():
            header = block.header
            expected = {p.log_index: p for p in block.logs if _matches(p, wanted)}
            told = by_block.get(number, {})
            for index, event in told.items():
                match = expected.get(index)
                name = f"{event.contract}.{event.event} at block {number} log {index}"
                if match is None:
                    raise self._fail(f"its event {name} is not in the block's certified receipts")
                contract, event_name, args = decode_log(_as_rpc_log(match))
                if (contract, event_name, args) != (event.contract, event.event, event.args):
                    raise self._fail(
                        f"its event {name} differs from the block's certified receipts, which "
                        f"hold {contract}.{event_name} {args}"
                    )
                if event.tx_hash.lower() != _hex(match.tx_hash):
                    raise self._fail(
                        f"its event {name} names transaction {event.tx_hash}, the "
                        f"certified block has {_hex(match.tx_hash)} there"
                    )
            for index, match in sorted(expected.items()):
                if index not in told:
                    contract, event_name, _ = decode_log(_as_rpc_log(match))
                    raise self._fail(
                        f"left out {contract}.{event_name} at block {number} log {index}, "
                        "which the block's certified receipts hold"
                    )
                contract, event_name, args = decode_log(_as_rpc_log(match))
                proven[(number, index)] = ProvenEvent(
                    HistoryEvent(
                        block_number=number,
                        log_index=index,
                        tx_hash=_hex(match.tx_hash),
                        timestamp=utc(header.header.timestamp),
                        contract=contract,
                        event=event_name,
                        args=args,
                    ),
                    header.header.hash,
                    header.header.receipts_root,
                    header.header.transactions_root,
                    header.signers,
                    header.epoch,
                )
        return proven

    def _prove_facts(
        self,
        head: CertifiedHeader,
        events: Iterable[ProvenEvent],
        subjects: Sequence[tuple[str, str]],
    ) -> list[ProvenFact]:
        """The state of the trace's own subject and of every dataset and grant its events
        name."""
        named = [
            *subjects,
            *((k, str(e.event.args[k])) for e in events for k in _SUBJECTS if k in e.event.args),
        ]
        datasets = sorted({value.lower() for key, value in named if key == "datasetId"})
        grants = sorted({value.lower() for key, value in named if key == "grantId"})
        if len(datasets) + len(grants) > MAX_FACT_SUBJECTS:
            raise LedgerError(
                f"the trace names more than {MAX_FACT_SUBJECTS:,} datasets and "
                "grants; prove their state in parts"
            )
        queries: list[FactQuery] = [dataset_query(to_bytes(hexstr=d)) for d in datasets]
        queries += [grant_query(to_bytes(hexstr=g)) for g in grants]
        slots = sorted({s for q in queries for s in q.slots})
        if not slots:
            return []
        words = self.client.prove_storage(
            self.addresses["DataGrants"], slots, head, name="DataGrants"
        )
        return [
            ProvenFact(fact, head.number, head.header.state_root)
            for query in queries
            for fact in query.read(words, head.header.timestamp)
        ]


def prove_trace(
    urls: Sequence[str],
    trust: TrustRoot,
    filters: Sequence[TopicFilter],
    *,
    first_block: int = 0,
    since: datetime | None = None,
    until: datetime | None = None,
    subjects: Sequence[tuple[str, str]] = (),
    then: FollowUp | None = None,
) -> ProvenTrace:
    """The trace `filters` select, from `first_block` on, proven through each node in `urls`
    independently; the events and facts of the result are the ones proven, and `nodes` says
    which node contradicted what. The system contracts' addresses are proven too: the trust
    root names the Consortium, whose state at the root's block names the others. `subjects`
    (("datasetId" or "grantId", 0x id) pairs) have their state proven even without events;
    `then` gives more filters from the events proven (`audit.incident_findings`)."""
    verdicts: dict[str, NodeVerdict] = {}
    provers: list[_TraceProver] = []
    for url in urls:
        try:
            provers.append(_TraceProver(url, trust, first_block))
        except LedgerError as exc:
            verdicts[url] = NodeVerdict(url, None, str(exc))
    # A validator-set change any node reports is looked for through every node.
    hints = sorted({n for prover in provers for n in prover.claimed_changes})
    proofs: list[_NodeProof] = []
    for prover in provers:
        try:
            proofs.append(prover.prove(filters, since, until, subjects, hints, then))
        except LedgerError as exc:
            verdicts[prover.url] = NodeVerdict(prover.url, None, str(exc))
    for url, failure in _conflicts(proofs).items():
        verdicts[url] = NodeVerdict(url, None, failure)
    proofs = [p for p in proofs if p.url not in verdicts]
    for proof in proofs:
        verdicts[proof.url] = NodeVerdict(proof.url, proof.head.number)
    events: dict[tuple[int, int], ProvenEvent] = {}
    for proof in proofs:
        events.update(proof.events)
    for proof in proofs:
        # Compared up to its own head: a node a block behind is not lying.
        missing = [k for k in sorted(events) if k[0] <= proof.head.number and k not in proof.events]
        if missing:
            number, index = missing[0]
            event = events[missing[0]].event
            verdicts[proof.url] = NodeVerdict(
                proof.url,
                proof.head.number,
                f"node {proof.url}: left out {len(missing)} events other nodes proved, the first "
                f"{event.contract}.{event.event} at block {number} log {index}",
            )
    newest = max(proofs, key=lambda p: p.head.number, default=None)
    return ProvenTrace(
        trust=trust,
        first_block=max(first_block, trust.block_number + 1),
        head=None if newest is None else newest.head,
        epochs=() if newest is None else newest.epochs,
        events=tuple(events[k] for k in sorted(events)),
        facts=() if newest is None else tuple(newest.facts),
        nodes=tuple(verdicts[url] for url in urls),
    )


def _conflicts(proofs: Sequence[_NodeProof]) -> dict[str, str]:
    """Nodes that proved different blocks at one height. Both are certified, so more than a
    third of a validator set sealed two blocks there: no proof can tell which is the chain's,
    and neither node's answers are used."""
    seen: dict[int, tuple[str, bytes]] = {}
    found: dict[str, str] = {}
    for proof in proofs:
        for number, block_hash in sorted(proof.hashes.items()):
            first = seen.setdefault(number, (proof.url, block_hash))
            if first[1] != block_hash:
                what = (
                    f"nodes {first[0]} and {proof.url} serve different blocks {number}, both "
                    f"certified (0x{first[1].hex()}, 0x{block_hash.hex()}): a quorum of its "
                    "validator set sealed both; keep both nodes' answers as evidence"
                )
                found.setdefault(first[0], what)
                found.setdefault(proof.url, what)
    return found
