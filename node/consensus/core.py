"""The QBFT protocol core as a pure state machine: messages, timeouts and built blocks in;
messages to broadcast, timers to set, blocks to build and decisions out. No I/O, no clock.

Follows H. Moniz, "The Istanbul BFT Consensus Algorithm" (arXiv 2002.03613), Algorithms 1-3:
PROPOSAL -> PREPARE -> COMMIT in a round; ROUND-CHANGE on timeout; a new round's proposer
re-proposes the highest prepared block, justified by a quorum of round changes (this is the
lock: no explicit lock variable is needed). Deviations, each for a reason:
- Rounds start at 0 and the proposer is validators[(height + round) % n].
- A quorum of COMMITs for one block in any round of the current height decides, so a late
  node still decides from commits it receives after moving to a later round.
- Messages for rounds ahead are kept, not dropped (a PREPARE may arrive before its PROPOSAL);
  messages for heights ahead are buffered and replayed when the height starts. Both are
  bounded per sender, and a message for a later height is buffered only once its signature
  and sender check out, so one validator can fill only its own share, never evict others'.
- The round timer doubles per round up to a cap (Besu's uncapped doubling stalls networks
  for hours after an outage: besu#7642, besu#8307). Capped timers lose the paper's argument
  that rounds eventually overlap long enough, so rounds are kept together instead: a
  validator leaves a round r >= 1 on timeout only after it has seen a quorum of round changes
  for r (until then it re-sends its own and waits), and it restarts its timer once when that
  quorum appears. A quorum holds f+1 honest validators, whose round changes pull every
  laggard up to r; nobody runs ahead of a quorum; and while a quorum is down the round stays
  low, so the network resumes within a few short timeouts of the quorum returning.
- Everything this validator signs is handed to the driver in a `Persist` output before the
  `Broadcast` that sends it, so a restarted validator resumes instead of signing anew.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from cityledger.node.config import RoundTimeouts
from cityledger.node.consensus.finality_certificate import FinalityCertificate, quorum_size
from cityledger.node.consensus.messages import (
    NO_ROUND,
    CandidateBlock,
    MessageKind,
    SignedMessage,
    sign_message,
    signature_is_valid,
)
from cityledger.node.consensus.signing import Address, MessageSigner, recover_signer

FUTURE_HEIGHTS_BUFFERED = 4
# What one sender may have buffered for later heights, over all of them: an honest validator
# sends at most a proposal, a prepare, a commit and a round change or two per height.
FUTURE_MESSAGES_PER_SENDER = 32
FUTURE_BYTES_PER_SENDER = 16 * 1024 * 1024
# Messages one sender may have recorded for rounds after this validator's current one.
AHEAD_MESSAGES_PER_SENDER = 32


# ---------------------------------------------------------------- outputs


@dataclass(frozen=True)
class Broadcast:
    message: SignedMessage


@dataclass(frozen=True)
class ScheduleTimeout:
    """(Re)starts the round timer: it replaces any timer still pending, so at most one runs."""

    height: int
    round: int
    seconds: float


@dataclass(frozen=True)
class BuildBlock:
    """The driver builds a block for this height on the current head and hands it back with
    `QbftCore.handle_built_block`."""

    height: int
    round: int


@dataclass(frozen=True)
class Decide:
    block: CandidateBlock
    certificate: FinalityCertificate


@dataclass(frozen=True)
class Equivocation:
    """Two conflicting messages signed by one validator for the same step: evidence."""

    first: SignedMessage
    second: SignedMessage


@dataclass(frozen=True)
class DurableState:
    """What a validator must have on disk before it sends anything it signed."""

    height: int
    round: int
    prepared_round: int
    prepared_block: CandidateBlock | None
    prepared_certificate: tuple[SignedMessage, ...]
    sent: tuple[SignedMessage, ...]


@dataclass(frozen=True)
class Persist:
    state: DurableState


Output = Broadcast | ScheduleTimeout | BuildBlock | Decide | Equivocation | Persist

BlockValidator = Callable[[int, CandidateBlock], bool]


def proposer_of(height: int, round_: int, validators: Sequence[Address]) -> Address:
    return validators[(height + round_) % len(validators)]


@dataclass
class _Instance:
    """The consensus state of one height."""

    height: int
    validators: tuple[Address, ...]
    round: int = 0
    prepared_round: int = NO_ROUND
    prepared_block: CandidateBlock | None = None
    prepared_certificate: tuple[SignedMessage, ...] = ()
    sent: dict[tuple[MessageKind, int], SignedMessage] = field(default_factory=dict)
    received: dict[tuple[MessageKind, int, Address], SignedMessage] = field(default_factory=dict)
    proposals: dict[int, SignedMessage] = field(default_factory=dict)
    accepted: dict[int, CandidateBlock] = field(default_factory=dict)
    blocks: dict[bytes, CandidateBlock] = field(default_factory=dict)
    block_validity: dict[bytes, bool] = field(default_factory=dict)
    build_requested: set[int] = field(default_factory=set)
    timer_restarted: set[int] = field(default_factory=set)
    decision: FinalityCertificate | None = None

    @property
    def quorum(self) -> int:
        return quorum_size(len(self.validators))

    @property
    def max_faulty(self) -> int:
        return (len(self.validators) - 1) // 3

    def of_kind(self, kind: MessageKind, round_: int) -> list[SignedMessage]:
        return [m for (k, r, _), m in self.received.items() if k == kind and r == round_]


class QbftCore:
    def __init__(
        self,
        signer: MessageSigner,
        chain_id: int,
        validate_block: BlockValidator,
        timeouts: RoundTimeouts | None = None,
    ) -> None:
        self._signer = signer
        self._chain_id = chain_id
        self._validate_block = validate_block
        self._timeouts = timeouts or RoundTimeouts()
        self._instance: _Instance | None = None
        self._future: dict[int, dict[tuple[MessageKind, int, Address], SignedMessage]] = (
            defaultdict(dict)
        )
        self._outputs: list[Output] = []
        self._dirty = False

    # ------------------------------------------------------------ inspection

    @property
    def address(self) -> Address:
        return self._signer.address

    @property
    def height(self) -> int | None:
        return self._instance.height if self._instance else None

    @property
    def round(self) -> int | None:
        return self._instance.round if self._instance else None

    @property
    def decision(self) -> FinalityCertificate | None:
        return self._instance.decision if self._instance else None

    def held_by_sender(self) -> dict[Address, tuple[int, int]]:
        """Per sender: messages buffered for later heights, and messages recorded for rounds
        after the current one (what the per-sender bounds limit)."""
        held: dict[Address, tuple[int, int]] = {}
        for backlog in self._future.values():
            for message in backlog.values():
                future, ahead = held.get(message.sender, (0, 0))
                held[message.sender] = (future + 1, ahead)
        if self._instance is not None:
            for _, round_, sender in self._instance.received:
                if round_ > self._instance.round:
                    future, ahead = held.get(sender, (0, 0))
                    held[sender] = (future, ahead + 1)
        return held

    def durable_state(self) -> DurableState | None:
        i = self._instance
        if i is None:
            return None
        return DurableState(
            height=i.height,
            round=i.round,
            prepared_round=i.prepared_round,
            prepared_block=i.prepared_block,
            prepared_certificate=i.prepared_certificate,
            sent=tuple(i.sent.values()),
        )

    # ------------------------------------------------------------ inputs

    def start_height(
        self, height: int, validators: Sequence[Address], resume: DurableState | None = None
    ) -> list[Output]:
        """Begins consensus on `height` among `validators` (the set read at the parent block).
        `resume` is what this validator persisted for the same height before a restart."""
        if not validators:
            raise ValueError("a height needs at least one validator")
        instance = _Instance(height=height, validators=tuple(validators))
        self._instance = instance
        buffered = list(self._future.pop(height, {}).values())
        for stale in [h for h in self._future if h < height]:
            del self._future[stale]
        if resume is not None and resume.height == height:
            self._restore(instance, resume)
        self._enter_round(instance, instance.round, announce=False)
        for message in instance.sent.values():
            self._outputs.append(Broadcast(message))
        for message in buffered:
            self._accept(instance, message)
        self._advance(instance)
        return self._flush()

    def handle_message(self, message: SignedMessage) -> list[Output]:
        instance = self._instance
        if instance is None or message.height > instance.height:
            self._buffer_future(message)
            return []
        if message.height < instance.height or instance.decision is not None:
            return []
        if self._accept(instance, message):
            self._advance(instance)
        return self._flush()

    def handle_timeout(self, height: int, round_: int) -> list[Output]:
        instance = self._instance
        if instance is None or instance.decision is not None:
            return []
        if (height, round_) != (instance.height, instance.round):
            return []  # a stale timer
        if round_ > 0 and self._round_change_quorum(instance, round_) is None:
            # No quorum has reached this round yet: moving on would only run further ahead of
            # it. Stay and say again where we are and where we came from (the first copies may
            # have been lost, and validators still in the previous round need ours to move).
            self._outputs.append(ScheduleTimeout(height, round_, self._timeouts.for_round(round_)))
            for r in (round_ - 1, round_):
                own = instance.sent.get((MessageKind.ROUND_CHANGE, r))
                if own is not None:
                    self._outputs.append(Broadcast(own))
            return self._flush()
        self._enter_round(instance, round_ + 1, announce=True)
        self._advance(instance)
        return self._flush()

    def handle_built_block(self, height: int, round_: int, block: CandidateBlock) -> list[Output]:
        instance = self._instance
        if instance is None or instance.decision is not None:
            return []
        if (height, round_) != (instance.height, instance.round):
            return []
        if (MessageKind.PROPOSAL, round_) in instance.sent:
            return self._flush()
        if not self._is_valid_block(instance, block):
            raise ValueError(f"the driver built an invalid block for height {height}")
        justification: tuple[SignedMessage, ...] = ()
        if round_ > 0:
            round_changes = self._round_change_quorum(instance, round_)
            if round_changes is None or self._highest_prepared(round_changes) is not None:
                return self._flush()  # only a round with nothing prepared takes a fresh block
            justification = round_changes
        self._propose(instance, block, justification)
        self._advance(instance)
        return self._flush()

    # ------------------------------------------------------------ acceptance

    def _buffer_future(self, message: SignedMessage) -> None:
        """Keeps a message for a later height, if its sender is a validator now (the set rarely
        changes between heights; a new validator's early messages are re-sent or synced) and
        its signature holds, within the sender's bounds."""
        instance = self._instance
        if instance is None or message.height > instance.height + FUTURE_HEIGHTS_BUFFERED:
            return
        sender = message.sender
        if sender not in instance.validators:
            return
        key = (message.kind, message.round, sender)
        if any(key in backlog for backlog in self._future.values()):
            return  # one message per step is all an honest sender has
        mine = [
            m for backlog in self._future.values() for m in backlog.values() if m.sender == sender
        ]
        if len(mine) >= FUTURE_MESSAGES_PER_SENDER:
            return
        if sum(map(_size, mine)) + _size(message) > FUTURE_BYTES_PER_SENDER:
            return
        if not signature_is_valid(message, self._chain_id):
            return
        self._future[message.height][key] = message

    def _accept(self, instance: _Instance, message: SignedMessage) -> bool:
        """Records a valid message; reports equivocation. True if something new was recorded."""
        if message.round > instance.round and (
            self._ahead_count(instance, message.sender) >= AHEAD_MESSAGES_PER_SENDER
        ):
            return False  # the sender's share of later rounds is full; it re-sends later
        if not self._is_valid(instance, message):
            return False
        key = (message.kind, message.round, message.sender)
        earlier = instance.received.get(key)
        if earlier is not None:
            if earlier.signed_part() != message.signed_part():
                self._outputs.append(Equivocation(earlier, message))
            return False
        instance.received[key] = message
        if message.kind == MessageKind.PROPOSAL:
            assert message.block is not None
            instance.proposals[message.round] = message
            instance.blocks[message.block.hash] = message.block
            # The round changes that justify a later-round proposal also count on their own:
            # they may be what moves this validator to that round.
            for round_change in message.justification:
                instance.received.setdefault(
                    (round_change.kind, round_change.round, round_change.sender), round_change
                )
        elif message.kind == MessageKind.ROUND_CHANGE and message.block is not None:
            instance.blocks.setdefault(message.block.hash, message.block)
        return True

    def _is_valid(self, instance: _Instance, m: SignedMessage) -> bool:
        if m.height != instance.height or m.sender not in instance.validators or m.round < 0:
            return False
        if not signature_is_valid(m, self._chain_id):
            return False
        if m.kind == MessageKind.PROPOSAL:
            return (
                m.block is not None
                and m.block.hash == m.digest
                and m.sender == proposer_of(m.height, m.round, instance.validators)
                and m.prepared_round == NO_ROUND
                and not m.commit_seal
                and self._justifies_proposal(instance, m)
                and self._is_valid_block(instance, m.block)
            )
        if m.kind == MessageKind.PREPARE:
            return _plain_vote(m)
        if m.kind == MessageKind.COMMIT:
            return (
                len(m.digest) == 32
                and m.block is None
                and not m.justification
                and m.prepared_round == NO_ROUND
                and recover_signer(m.digest, m.commit_seal) == m.sender
            )
        return self._is_valid_round_change(instance, m)

    def _ahead_count(self, instance: _Instance, sender: Address) -> int:
        return sum(
            1 for (_, r, s), _m in instance.received.items() if s == sender and r > instance.round
        )

    def _is_valid_round_change(self, instance: _Instance, m: SignedMessage) -> bool:
        if m.kind != MessageKind.ROUND_CHANGE or m.round < 1 or m.commit_seal:
            return False
        if m.prepared_round == NO_ROUND:
            return not m.digest and m.block is None and not m.justification
        if not (0 <= m.prepared_round < m.round) or m.block is None or m.block.hash != m.digest:
            return False
        return self._is_prepare_certificate(instance, m.justification, m.prepared_round, m.digest)

    def _is_prepare_certificate(
        self, instance: _Instance, prepares: tuple[SignedMessage, ...], round_: int, digest: bytes
    ) -> bool:
        senders = set()
        for p in prepares:
            if (
                p.kind != MessageKind.PREPARE
                or p.height != instance.height
                or p.round != round_
                or p.digest != digest
                or p.sender not in instance.validators
                or not _plain_vote(p)
                or not signature_is_valid(p, self._chain_id)
            ):
                return False
            senders.add(p.sender)
        return len(senders) >= instance.quorum

    def _justifies_proposal(self, instance: _Instance, proposal: SignedMessage) -> bool:
        if proposal.round == 0:
            return not proposal.justification
        round_changes = proposal.justification
        senders = set()
        for rc in round_changes:
            if (
                rc.round != proposal.round
                or not self._is_valid(instance, rc)
                or rc.kind != MessageKind.ROUND_CHANGE
            ):
                return False
            senders.add(rc.sender)
        if len(senders) < instance.quorum:
            return False
        highest = self._highest_prepared(round_changes)
        return highest is None or highest.hash == proposal.digest

    def _highest_prepared(self, round_changes: Sequence[SignedMessage]) -> CandidateBlock | None:
        prepared = [rc for rc in round_changes if rc.prepared_round != NO_ROUND]
        if not prepared:
            return None
        top = max(rc.prepared_round for rc in prepared)
        return next(rc.block for rc in prepared if rc.prepared_round == top)

    def _is_valid_block(self, instance: _Instance, block: CandidateBlock) -> bool:
        known = instance.block_validity.get(block.hash)
        if known is None:
            known = self._validate_block(instance.height, block)
            instance.block_validity[block.hash] = known
        return known

    # ------------------------------------------------------------ progress

    def _advance(self, instance: _Instance) -> None:
        """Applies every rule that the recorded messages now enable, until none does."""
        progressed = True
        while progressed and instance.decision is None:
            progressed = (
                self._try_decide(instance)
                or self._try_catch_up_round(instance)
                or self._try_prepare(instance)
                or self._try_commit(instance)
                or self._try_propose_after_round_change(instance)
                or self._try_restart_timer(instance)
            )

    def _try_decide(self, instance: _Instance) -> bool:
        commits: dict[tuple[int, bytes], list[SignedMessage]] = defaultdict(list)
        for (kind, _, _), m in instance.received.items():
            if kind == MessageKind.COMMIT:
                commits[(m.round, m.digest)].append(m)
        for (round_, digest), votes in sorted(commits.items()):
            block = instance.blocks.get(digest)
            if (
                len(votes) >= instance.quorum
                and block is not None
                and self._is_valid_block(instance, block)
            ):
                seals = tuple(sorted((m.sender, m.commit_seal) for m in votes))
                instance.decision = FinalityCertificate(instance.height, digest, round_, seals)
                self._outputs.append(Decide(block, instance.decision))
                return True
        return False

    def _try_catch_up_round(self, instance: _Instance) -> bool:
        """f+1 validators are in later rounds: at least one honest one is, so follow them."""
        latest: dict[Address, int] = {}
        for kind, round_, sender in instance.received:
            if kind == MessageKind.ROUND_CHANGE and round_ > instance.round:
                latest[sender] = max(latest.get(sender, 0), round_)
        if len(latest) < instance.max_faulty + 1:
            return False
        target = sorted(latest.values(), reverse=True)[instance.max_faulty]
        self._enter_round(instance, target, announce=True)
        return True

    def _try_restart_timer(self, instance: _Instance) -> bool:
        """A quorum has reached this round: give it a full round from now. Timers that are
        capped never realign by themselves, and a validator that entered rounds one period
        ahead of the rest would otherwise leave each round before its proposal arrives."""
        round_ = instance.round
        if round_ == 0 or round_ in instance.timer_restarted:
            return False
        if self._round_change_quorum(instance, round_) is None:
            return False
        instance.timer_restarted.add(round_)
        self._outputs.append(
            ScheduleTimeout(instance.height, round_, self._timeouts.for_round(round_))
        )
        return True

    def _try_prepare(self, instance: _Instance) -> bool:
        round_ = instance.round
        proposal = instance.proposals.get(round_)
        if proposal is None or round_ in instance.accepted:
            return False
        assert proposal.block is not None
        own_prepare = instance.sent.get((MessageKind.PREPARE, round_))
        if own_prepare is not None and own_prepare.digest != proposal.digest:
            return False  # prepared another block in this round before a restart: never switch
        instance.accepted[round_] = proposal.block
        if own_prepare is None:
            self._send(instance, MessageKind.PREPARE, proposal.digest)
        return True

    def _try_commit(self, instance: _Instance) -> bool:
        round_ = instance.round
        block = instance.accepted.get(round_)
        if block is None or (MessageKind.COMMIT, round_) in instance.sent:
            return False
        prepares = tuple(
            m for m in instance.of_kind(MessageKind.PREPARE, round_) if m.digest == block.hash
        )
        if len(prepares) < instance.quorum:
            return False
        instance.prepared_round = round_
        instance.prepared_block = block
        instance.prepared_certificate = prepares[: instance.quorum]
        self._send(
            instance, MessageKind.COMMIT, block.hash, commit_seal=self._signer.sign(block.hash)
        )
        return True

    def _try_propose_after_round_change(self, instance: _Instance) -> bool:
        round_ = instance.round
        if round_ == 0 or proposer_of(instance.height, round_, instance.validators) != self.address:
            return False
        if (MessageKind.PROPOSAL, round_) in instance.sent:
            return False
        round_changes = self._round_change_quorum(instance, round_)
        if round_changes is None:
            return False
        highest = self._highest_prepared(round_changes)
        if highest is not None:
            self._propose(instance, highest, round_changes)
            return True
        if round_ not in instance.build_requested:
            instance.build_requested.add(round_)
            self._outputs.append(BuildBlock(instance.height, round_))
            return True
        return False

    def _round_change_quorum(
        self, instance: _Instance, round_: int
    ) -> tuple[SignedMessage, ...] | None:
        round_changes = instance.of_kind(MessageKind.ROUND_CHANGE, round_)
        if len(round_changes) < instance.quorum:
            return None
        # Prefer the ones that carry a prepared block, so the justification shows the lock.
        round_changes.sort(key=lambda m: (-m.prepared_round, m.sender))
        return tuple(round_changes[: instance.quorum])

    # ------------------------------------------------------------ own messages

    def _enter_round(self, instance: _Instance, round_: int, *, announce: bool) -> None:
        instance.round = round_
        self._outputs.append(
            ScheduleTimeout(instance.height, round_, self._timeouts.for_round(round_))
        )
        if announce and (MessageKind.ROUND_CHANGE, round_) not in instance.sent:
            self._send(
                instance,
                MessageKind.ROUND_CHANGE,
                instance.prepared_block.hash if instance.prepared_block else b"",
                prepared_round=instance.prepared_round,
                block=instance.prepared_block,
                justification=instance.prepared_certificate,
            )
        if (
            round_ == 0
            and proposer_of(instance.height, 0, instance.validators) == self.address
            and (MessageKind.PROPOSAL, 0) not in instance.sent
            and 0 not in instance.build_requested
        ):
            instance.build_requested.add(0)
            self._outputs.append(BuildBlock(instance.height, 0))

    def _propose(
        self, instance: _Instance, block: CandidateBlock, justification: tuple[SignedMessage, ...]
    ) -> None:
        self._send(
            instance, MessageKind.PROPOSAL, block.hash, block=block, justification=justification
        )

    def _send(
        self,
        instance: _Instance,
        kind: MessageKind,
        digest: bytes,
        *,
        prepared_round: int = NO_ROUND,
        commit_seal: bytes = b"",
        block: CandidateBlock | None = None,
        justification: tuple[SignedMessage, ...] = (),
    ) -> None:
        message = sign_message(
            self._signer,
            self._chain_id,
            kind,
            instance.height,
            instance.round,
            digest,
            prepared_round=prepared_round,
            commit_seal=commit_seal,
            block=block,
            justification=justification,
        )
        instance.sent[(kind, instance.round)] = message
        self._dirty = True
        self._accept(instance, message)
        self._outputs.append(Broadcast(message))

    def _restore(self, instance: _Instance, state: DurableState) -> None:
        instance.round = state.round
        instance.prepared_round = state.prepared_round
        instance.prepared_block = state.prepared_block
        instance.prepared_certificate = state.prepared_certificate
        for message in state.sent:
            instance.sent[(message.kind, message.round)] = message
            instance.received[(message.kind, message.round, message.sender)] = message
            if message.kind == MessageKind.PROPOSAL and message.block is not None:
                instance.proposals[message.round] = message
                instance.blocks[message.block.hash] = message.block
            if message.kind == MessageKind.PREPARE and message.round in instance.proposals:
                block = instance.proposals[message.round].block
                if block is not None:
                    instance.accepted[message.round] = block

    def _flush(self) -> list[Output]:
        outputs = self._outputs
        self._outputs = []
        if self._dirty:
            self._dirty = False
            state = self.durable_state()
            assert state is not None
            outputs.insert(0, Persist(state))
        return outputs


def _size(m: SignedMessage) -> int:
    """Roughly what a buffered message holds in memory: its block, and a few hundred bytes."""
    return 256 + (len(m.block.payload) if m.block else 0) + sum(map(_size, m.justification))


def _plain_vote(m: SignedMessage) -> bool:
    return (
        len(m.digest) == 32
        and m.block is None
        and not m.justification
        and not m.commit_seal
        and m.prepared_round == NO_ROUND
    )
