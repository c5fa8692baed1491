"""A light client: headers, validator sets, events and contract state proven from a pinned trust
root, trusting nothing a node says.

- **Headers.** A header is hashed here from its fields and must be the block its finality
  certificate seals; the seals must come from a quorum of the validator set in force at its
  parent (the node's own rule, `cityledger.sdk.finality`).
- **Validator sets.** The set changes only where Consortium emits `CityAdmitted`, `CityRemoved`
  or `ValidatorChanged` (`cityledger.sdk.validator_set`). From the trust root forward, each
  block holding such an event is certified by the set before it, its events are proven in its
  receipts, the set in its parent's state is proven to be the set it was checked against, and
  the new set is read from its own state by storage proofs. Only those blocks and the blocks
  asked about are fetched: never every header.
- **Events.** A block's receipts and transactions tries are rebuilt and compared with its
  certified roots; then every log of the block, with its transaction hash, is proven.
- **State.** Storage words are proven by `eth_getProof` against a certified state root.

Anything that does not hold raises `ProofFailure`, naming the node and what it contradicted.
Why skipping headers is sound, and what it assumes, is in docs/sdk.md ("Trusting no node").
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from eth_typing import ChecksumAddress
from eth_utils import event_abi_to_log_topic, keccak, to_canonical_address, to_checksum_address

from cityledger.contracts.artifacts import SYSTEM_CONTRACTS, load_artifact
from cityledger.contracts.deployment import text32
from cityledger.sdk.block_header import BlockHeader, HeaderError
from cityledger.sdk.block_tries import Log, Receipt, ReceiptError, ordered_trie_root
from cityledger.sdk.errors import LedgerError
from cityledger.sdk.finality import Certificate, FinalityError, verify_certificate
from cityledger.sdk.proofs import ProofError, verify_account, verify_storage
from cityledger.sdk.storage_layout import layout
from cityledger.sdk.trust import MAX_VALIDATORS, TrustRoot
from cityledger.sdk.untrusted_rpc import UntrustedNode
from cityledger.sdk.validator_set import CHANGE_EVENTS, read_validators

MAX_PROOF_SLOTS = 1_000  # the node's eth_getProof limit
MAX_PROOF_NODES = 64  # a path through a trie of 2^256 keys is at most 65 nodes deep
MAX_PROOF_NODE_BYTES = 1_024  # a full branch node is 532 bytes
MAX_RECEIPTS = 20_000  # far above a 30M-gas block's 1,428 transfers
MAX_CHANGE_LOGS = 10_000
# Blocks' receipts asked at once: a full block's are a few MB, and an answer is bounded.
RECEIPTS_BATCH = 16


class ProofFailure(LedgerError):
    """A node's answer contradicts a proof; the message names the node and what."""

    def __init__(self, node: str, what: str) -> None:
        super().__init__(f"node {node}: {what}")
        self.node = node
        self.what = what


@dataclass(frozen=True)
class SetChange:
    """A proven Consortium event that changed the validator set."""

    block_number: int
    log_index: int
    event: str
    city_id: str


@dataclass(frozen=True)
class ValidatorEpoch:
    """A validator set and the blocks it seals: from `first_block` until the next epoch's."""

    index: int
    first_block: int
    validators: tuple[ChecksumAddress, ...]
    read_at: int  # the certified block whose state holds this set
    changes: tuple[SetChange, ...]  # the events in `read_at` that made it (none for the root's)


@dataclass(frozen=True)
class CertifiedHeader:
    header: BlockHeader
    signers: tuple[ChecksumAddress, ...]  # empty for the trust root's block, trusted by hash
    epoch: int  # the index of the validator set that sealed it

    @property
    def number(self) -> int:
        return self.header.number


@dataclass(frozen=True)
class ProvenLog:
    block_number: int
    log_index: int  # position among the block's logs, as eth_getLogs numbers them
    tx_index: int
    tx_hash: bytes
    log: Log


@dataclass(frozen=True)
class ProvenBlock:
    header: CertifiedHeader
    logs: tuple[ProvenLog, ...]


@cache
def event_topic(contract: str, event: str) -> bytes:
    """Topic 0 of a system contract's event."""
    entries: list[Any] = list(load_artifact(contract).abi)
    abi = next(e for e in entries if e.get("type") == "event" and e.get("name") == event)
    return bytes(event_abi_to_log_topic(abi))


_CHANGE_TOPICS = {event_topic("Consortium", event): event for event in CHANGE_EVENTS}


def _hex_list(value: object, what: str, limit: int, item_limit: int) -> list[bytes]:
    if not isinstance(value, list) or len(value) > limit:
        raise ValueError(f"{what} is not a list of at most {limit}")
    items = []
    for item in value:
        if not isinstance(item, str) or len(item) > 2 + 2 * item_limit:
            raise ValueError(f"{what} holds an item that is not 0x hex of at most {item_limit} B")
        items.append(bytes.fromhex(item.removeprefix("0x")))
    return items


def _word(slot: int) -> str:
    """A storage key as 32 bytes of hex, the form every client accepts (anvil wants no less)."""
    return "0x" + slot.to_bytes(32, "big").hex()


def _quantity(value: object) -> int:
    if not isinstance(value, str) or not value.startswith("0x") or len(value) > 66:
        raise ValueError(f"{value!r} is not a quantity")
    return int(value, 16)


class LightClient:
    """Proves what one node serves against a trust root. Call `open`, then `follow` up to the
    highest block of interest, then `certify`, `prove_blocks` and `prove_storage`."""

    def __init__(self, node: UntrustedNode, trust: TrustRoot) -> None:
        self.node = node
        self.trust = trust
        self._epochs: list[ValidatorEpoch] = []
        self._checked_through: dict[int, int] = {}  # epoch -> last block whose state holds it
        self._followed = trust.block_number
        self._claims: dict[int, list[dict[str, Any]]] = {}  # the node's change events, by block
        self._claimed_to = trust.block_number
        self._certified: dict[int, CertifiedHeader] = {}

    @property
    def epochs(self) -> tuple[ValidatorEpoch, ...]:
        return tuple(self._epochs)

    @property
    def followed(self) -> int:
        """Validator-set changes are known up to this block."""
        return self._followed

    def _fail(self, what: str) -> ProofFailure:
        return ProofFailure(self.node.url, what)

    # ---------------------------------------------------------------- trust root

    def open(self) -> CertifiedHeader:
        """Checks the node serves the trust root's chain; returns the root's block."""
        trust = self.trust
        chain_id = _quantity(self.node.call("eth_chainId", []))
        if chain_id != trust.chain_id:
            raise self._fail(
                f"serves chain {chain_id}, the trust root is of chain {trust.chain_id}"
            )
        header = self._headers([trust.block_number])[trust.block_number]
        if header.hash != trust.block_hash:
            raise self._fail(
                f"its block {trust.block_number} hashes to 0x{header.hash.hex()}, "
                f"not the trust root's 0x{trust.block_hash.hex()}"
            )
        root = CertifiedHeader(header, (), 0)
        validators = read_validators(self._consortium_at(root))
        if validators != trust.validators:
            raise LedgerError(
                f"the trust root lists validators {list(trust.validators)}, but its block's "
                f"proven state holds {list(validators)}: the trust file is wrong"
            )
        self._epochs = [ValidatorEpoch(0, trust.block_number + 1, validators, root.number, ())]
        self._checked_through = {0: root.number}
        self._certified = {root.number: root}
        return root

    def system_contracts(self) -> dict[str, ChecksumAddress]:
        """The system contracts' addresses, proven from Consortium's registry in the trust root
        block's state (set once, while the consortium was bootstrapped)."""
        root = self._certified[self.trust.block_number]
        registry = layout("Consortium")
        at = {
            name: registry.locate("_systemContracts", text32(name))
            for name in SYSTEM_CONTRACTS
            if name != "Consortium"
        }
        words = self._consortium_at(root)([loc.slot for loc in at.values()])
        addresses = {"Consortium": self.trust.consortium}
        for name, loc in at.items():
            address = loc.read(words[loc.slot])
            if not address:
                raise LedgerError(f"Consortium registers no {name} at the trust root's block")
            addresses[name] = to_checksum_address(address.to_bytes(20, "big"))
        return addresses

    def checkpoint(self, at: CertifiedHeader) -> TrustRoot:
        """A later trust root: certified block `at` and the validator set its state holds."""
        validators = read_validators(self._consortium_at(at))
        return TrustRoot(
            self.trust.chain_id, at.number, at.header.hash, validators, self.trust.consortium
        )

    # ---------------------------------------------------------------- validator sets

    def claimed_changes(self, head: int) -> list[int]:
        """The blocks up to `head` in which the node says Consortium changed the validator set:
        other nodes' light clients take them as hints (`follow`), so that a change one node
        withholds is checked through every node."""
        self._claim(head)
        return sorted(self._claims)

    def follow(self, head: int, hints: Iterable[int] = ()) -> None:
        """Follows validator-set changes up to block `head`: each block holding a change event
        is certified by the set before it, its change events proven in its receipts, and the set
        after it read from its proven state. `hints` are more blocks to look at (other nodes'
        claims): one that holds a change this node did not report names it."""
        if not self._epochs:
            raise LedgerError("open() the light client before following the chain")
        if head <= self._followed:
            return
        self._claim(head)
        blocks = {n for n in self._claims if n <= head}
        blocks |= {n for n in hints if self._followed < n <= head}
        for number in sorted(blocks):
            self._followed = number  # the set before this block's changes seals it
            self._follow_change(number, self._claims.get(number, []))
        self._followed = head

    def _claim(self, head: int) -> None:
        """The node's claimed change events up to `head`, read once."""
        if head <= self._claimed_to:
            return
        for log in self._change_logs(self._claimed_to + 1, head):
            number = _quantity(log.get("blockNumber"))
            if not self._claimed_to < number <= head:
                raise self._fail(f"answered a log query for blocks to {head} with block {number}")
            self._claims.setdefault(number, []).append(log)
        self._claimed_to = head

    def _change_logs(self, start: int, end: int) -> list[dict[str, Any]]:
        """Consortium's validator-set change events in [start, end], as the node claims them."""
        query = {
            "address": self.trust.consortium,
            "fromBlock": hex(start),
            "toBlock": hex(end),
            "topics": [["0x" + topic.hex() for topic in _CHANGE_TOPICS]],
        }
        logs = self.node.call("eth_getLogs", [query])
        if not isinstance(logs, list) or not all(isinstance(log, dict) for log in logs):
            raise self._fail("answered eth_getLogs with something other than a list of logs")
        if len(logs) > MAX_CHANGE_LOGS:
            raise self._fail(f"claims more than {MAX_CHANGE_LOGS:,} validator-set changes")
        return logs

    def _follow_change(self, number: int, claimed: list[dict[str, Any]]) -> None:
        epoch = self._epochs[-1]
        certified = self._certify_batch([number])[number]
        if number - 1 > self._checked_through[epoch.index]:
            self._check_parent_state(certified, epoch)
        block = self.prove_blocks([certified])[number]
        consortium = to_canonical_address(self.trust.consortium)
        proven = {
            p.log_index: p
            for p in block.logs
            if p.log.address == consortium and p.log.topics and p.log.topics[0] in _CHANGE_TOPICS
        }
        told = set()
        for log in claimed:
            index = _quantity(log.get("logIndex"))
            match = proven.get(index)
            if match is None or not _same_log(log, match.log):
                raise self._fail(
                    f"claims a validator-set change event at block {number} log {index} "
                    "that is not in the block's certified receipts"
                )
            told.add(index)
        withheld = sorted(set(proven) - told)
        if withheld:
            event = _CHANGE_TOPICS[proven[withheld[0]].log.topics[0]]
            raise self._fail(
                f"withheld the validator-set change {event} at block {number} log "
                f"{withheld[0]}, which the block's certified receipts hold"
            )
        if not proven:
            return  # another node's claim, and nothing changed here
        changes = tuple(
            SetChange(
                number,
                p.log_index,
                _CHANGE_TOPICS[p.log.topics[0]],
                "0x" + (p.log.topics[1].hex() if len(p.log.topics) > 1 else ""),
            )
            for p in sorted(proven.values(), key=lambda p: p.log_index)
        )
        validators = read_validators(self._consortium_at(certified))
        index = epoch.index + 1
        self._epochs.append(ValidatorEpoch(index, number + 1, validators, number, changes))
        self._checked_through[index] = number

    def _check_parent_state(self, certified: CertifiedHeader, epoch: ValidatorEpoch) -> None:
        """The set in the state of `certified`'s parent must be the one that sealed it."""
        parent_number = certified.number - 1
        parent = self._headers([parent_number])[parent_number]
        if parent.hash != certified.header.parent_hash:
            raise self._fail(
                f"its block {parent_number} hashes to 0x{parent.hash.hex()}, not the parentHash "
                f"of certified block {certified.number}"
            )
        as_parent = CertifiedHeader(parent, (), epoch.index)
        self._check_set_at(as_parent, epoch)

    def _check_set_at(self, at: CertifiedHeader, epoch: ValidatorEpoch) -> None:
        validators = read_validators(self._consortium_at(at))
        if validators != epoch.validators:
            raise self._fail(
                f"Consortium's proven state at block {at.number} holds validators "
                f"{list(validators)}, not the {len(epoch.validators)} in force since block "
                f"{epoch.first_block}: it withheld a validator-set change "
                f"({', '.join(CHANGE_EVENTS)}) before block {at.number + 1}"
            )
        self._checked_through[epoch.index] = max(self._checked_through[epoch.index], at.number)

    def epoch_of(self, number: int) -> ValidatorEpoch:
        """The validator set that seals block `number` (known up to `followed`)."""
        if number <= self.trust.block_number:
            raise LedgerError(
                f"block {number} is not after the trust root's block {self.trust.block_number}: "
                "give an earlier trust root"
            )
        if number > self._followed:
            raise LedgerError(f"validator sets are followed only to block {self._followed}")
        return next(e for e in reversed(self._epochs) if e.first_block <= number)

    # ---------------------------------------------------------------- headers

    def certify(self, numbers: Iterable[int]) -> dict[int, CertifiedHeader]:
        """Each block's header, checked by its finality certificate against the validator set
        in force at its parent; then the set in the state of the last block of the newest
        epoch is proven unchanged (a change the node did not report shows there)."""
        wanted = sorted(set(numbers))
        found = self._certify_batch([n for n in wanted if n != self.trust.block_number])
        if self.trust.block_number in wanted:
            found[self.trust.block_number] = self._certified[self.trust.block_number]
        last = self._epochs[-1]
        newest = max((n for n in found if n >= last.first_block), default=None)
        if newest is not None and newest > self._checked_through[last.index]:
            self._check_set_at(found[newest], last)
        return found

    def _certify_batch(self, numbers: Sequence[int]) -> dict[int, CertifiedHeader]:
        result = {n: self._certified[n] for n in numbers if n in self._certified}
        missing = [n for n in numbers if n not in result]
        epochs = {n: self.epoch_of(n) for n in missing}
        headers = self._headers(missing)
        raw = self.node.batch([("cityledger_getFinalityCertificate", [hex(n)]) for n in missing])
        for number, answer in zip(missing, raw, strict=True):
            header = headers[number]
            if not isinstance(answer, dict) or not isinstance(answer.get("seals"), list):
                raise self._fail(f"serves no finality certificate for block {number}")
            if len(answer["seals"]) > MAX_VALIDATORS:
                raise self._fail(f"serves a certificate of block {number} with too many seals")
            try:
                certificate = Certificate.from_json(answer)
            except FinalityError as exc:
                raise self._fail(f"block {number}: {exc}") from None
            if certificate.block_hash != header.hash:
                raise self._fail(
                    f"the header of block {number} it serves hashes to 0x{header.hash.hex()}, "
                    f"but the block's finality certificate seals 0x{certificate.block_hash.hex()}:"
                    " a header that does not match its certificate"
                )
            epoch = epochs[number]
            try:
                proof = verify_certificate(header.hash, number, certificate, epoch.validators)
            except FinalityError as exc:
                raise self._fail(
                    f"block {number}: {exc} (checked against the {len(epoch.validators)} "
                    f"validators in force since block {epoch.first_block})"
                ) from None
            signers = tuple(to_checksum_address(signer) for signer in proof.signers)
            certified = CertifiedHeader(header, signers, epoch.index)
            self._certified[number] = certified
            result[number] = certified
        return result

    def _headers(self, numbers: Sequence[int]) -> dict[int, BlockHeader]:
        answers = self.node.batch([("eth_getBlockByNumber", [hex(n), False]) for n in numbers])
        headers = {}
        for number, answer in zip(numbers, answers, strict=True):
            if not isinstance(answer, dict):
                raise self._fail(f"serves no block {number}")
            try:
                header = BlockHeader.from_json(answer)
            except HeaderError as exc:
                raise self._fail(f"serves block {number} malformed: {exc}") from None
            if header.number != number:
                raise self._fail(
                    f"answered a request for block {number} with block {header.number}"
                )
            headers[number] = header
        return headers

    # ---------------------------------------------------------------- receipts and state

    def prove_blocks(self, headers: Sequence[CertifiedHeader]) -> dict[int, ProvenBlock]:
        """Every log of each block, proven: the block's receipts rebuild its certified
        receiptsRoot, and its raw transactions (whose hashes name the logs' transactions) its
        transactionsRoot."""
        receipts = self.node.batch(
            [("eth_getBlockReceipts", [hex(h.number)]) for h in headers], RECEIPTS_BATCH
        )
        parsed: dict[int, list[Receipt]] = {}
        for certified, answer in zip(headers, receipts, strict=True):
            number = certified.number
            if not isinstance(answer, list) or len(answer) > MAX_RECEIPTS:
                raise self._fail(f"serves no receipts for block {number}")
            try:
                parsed[number] = [Receipt.from_json(r) for r in answer]
            except ReceiptError as exc:
                raise self._fail(f"serves a malformed receipt in block {number}: {exc}") from None
            if ordered_trie_root([r.encode() for r in parsed[number]]) != (
                certified.header.receipts_root
            ):
                raise self._fail(
                    f"the receipts it serves for block {number} do not rebuild the block's "
                    f"certified receiptsRoot 0x{certified.header.receipts_root.hex()}"
                )
        calls = [
            ("eth_getRawTransactionByBlockNumberAndIndex", [hex(h.number), hex(i)])
            for h in headers
            for i in range(len(parsed[h.number]))
        ]
        raw = iter(self.node.batch(calls))
        proven: dict[int, ProvenBlock] = {}
        for certified in headers:
            number = certified.number
            try:
                transactions = [
                    bytes.fromhex(str(next(raw)).removeprefix("0x")) for _ in parsed[number]
                ]
            except ValueError:
                raise self._fail(f"serves a transaction of block {number} not as 0x hex") from None
            if ordered_trie_root(transactions) != certified.header.transactions_root:
                raise self._fail(
                    f"the transactions it serves for block {number} do not rebuild the block's "
                    f"certified transactionsRoot 0x{certified.header.transactions_root.hex()}"
                )
            logs: list[ProvenLog] = []
            for tx_index, (receipt, tx) in enumerate(
                zip(parsed[number], transactions, strict=True)
            ):
                tx_hash = keccak(tx)
                for log in receipt.logs:
                    logs.append(ProvenLog(number, len(logs), tx_index, tx_hash, log))
            proven[number] = ProvenBlock(certified, tuple(logs))
        return proven

    def prove_storage(
        self, address: str, slots: Sequence[int], at: CertifiedHeader, *, name: str = ""
    ) -> dict[int, int]:
        """The words at `slots` of the contract at `address` (called `name` in failures) in
        the state of block `at`."""
        return self._storage(address, slots, at, name)

    def _consortium_at(self, at: CertifiedHeader) -> Callable[[Sequence[int]], dict[int, int]]:
        return lambda slots: self._storage(self.trust.consortium, slots, at, "Consortium")

    def _storage(
        self, address: str, slots: Sequence[int], at: CertifiedHeader, name: str
    ) -> dict[int, int]:
        wanted = sorted(set(slots))
        chunks = [wanted[i : i + MAX_PROOF_SLOTS] for i in range(0, len(wanted), MAX_PROOF_SLOTS)]
        answers = self.node.batch(
            [
                ("eth_getProof", [address, [_word(s) for s in chunk], hex(at.number)])
                for chunk in chunks
            ]
        )
        words: dict[int, int] = {}
        for chunk, answer in zip(chunks, answers, strict=True):
            words.update(self._check_proof(address, chunk, at, answer, name))
        return words

    def _check_proof(
        self, address: str, slots: Sequence[int], at: CertifiedHeader, answer: object, name: str
    ) -> dict[int, int]:
        contract = f"{name} ({to_checksum_address(address)})" if name else address
        where = f"{contract} at block {at.number}"
        try:
            if not isinstance(answer, dict):
                raise ValueError("not an object")
            account_proof = _hex_list(
                answer.get("accountProof"), "accountProof", MAX_PROOF_NODES, MAX_PROOF_NODE_BYTES
            )
            entries = answer.get("storageProof")
            if not isinstance(entries, list) or len(entries) != len(slots):
                raise ValueError(f"storageProof does not answer the {len(slots)} slots asked")
            account = verify_account(
                at.header.state_root, to_canonical_address(address), account_proof
            )
            claimed_root = _hex_list([answer.get("storageHash")], "storageHash", 1, 32)[0]
            if claimed_root != account.storage_root:
                raise ProofError("its storageHash is not the proven account's storage root")
            words = {}
            for slot, entry in zip(slots, entries, strict=True):
                if not isinstance(entry, dict) or _quantity(entry.get("key")) != slot:
                    raise ValueError(f"storageProof does not answer slot 0x{slot:x}")
                nodes = _hex_list(
                    entry.get("proof"), "proof", MAX_PROOF_NODES, MAX_PROOF_NODE_BYTES
                )
                value = verify_storage(account.storage_root, slot, nodes)
                claimed = _quantity(entry.get("value"))
                if claimed != value:
                    raise self._fail(
                        f"claims storage slot 0x{slot:x} of {where} holds 0x{claimed:x}, but its "
                        f"own proof against the certified state root shows 0x{value:x}"
                    )
                words[slot] = value
            return words
        except ProofError as exc:
            raise self._fail(
                f"its storage proof of {where} does not hold against the certified state root "
                f"0x{at.header.state_root.hex()}: {exc}"
            ) from None
        except ValueError as exc:
            raise self._fail(f"serves a malformed eth_getProof answer for {where}: {exc}") from None


def _same_log(claimed: Mapping[str, Any], proven: Log) -> bool:
    """Whether a log as eth_getLogs served it is the proven one."""
    try:
        return (
            bytes.fromhex(str(claimed["address"])[2:]) == proven.address
            and tuple(bytes.fromhex(str(t)[2:]) for t in claimed["topics"]) == proven.topics
            and bytes.fromhex(str(claimed["data"])[2:]) == proven.data
        )
    except (KeyError, TypeError, ValueError):
        return False
