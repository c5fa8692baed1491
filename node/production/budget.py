"""How many transactions the next block may hold, from how long this node takes to execute them.

Every validator executes a proposal before it votes, and all of that happens inside round 0's
timer: the proposer builds the block, the others re-execute it, then two rounds of votes. A
block that takes longer than the timer to execute makes every validator ask for a round change
before it can vote, the next proposer builds another such block, and the height is decided
only in the round whose doubled timer finally fits (seen on a 2-core machine under load:
blocks of 250 calls decided in rounds 2 and 3, at less than half the throughput). Besu bounds
its transaction selection by time for the same reason (`--poa-block-txs-selection-max-time`).

Since proposers announce a block before they execute it (`production.preview`), the others execute
it meanwhile instead of afterwards, so a block may take twice as long as when the two
executions ran one after the other. A follower that missed the preview still re-executes after
the proposal arrives: the proposer's build and that re-execution, on cores the others have
left by then, still fit the timer.

The budget is a share of round 0's timeout. The node measures the wall time of each block it
executes, built or re-executed, so the limit follows the machine and its load, and it moves
towards the size that executes in the budget by at most a factor of two per block.
"""

from __future__ import annotations

import threading

# The proposer's build and the others' execution of its preview overlap inside round 0's timer;
# what is left carries a late follower's re-execution, the proposal and two rounds of votes.
SHARE_OF_ROUND_TIMEOUT = 0.5
FIRST_LIMIT = 64
LEAST_LIMIT = 8
# Recent blocks weigh most: load changes within seconds.
SMOOTHING = 0.5


class BlockBudget:
    """Thread-safe: consensus builds and validates blocks in worker threads."""

    def __init__(self, seconds: float) -> None:
        if seconds <= 0:
            raise ValueError(f"a block's time budget must be positive, not {seconds}")
        self.seconds = seconds
        self._limit = FIRST_LIMIT
        self._seconds_per_transaction: float | None = None
        self._lock = threading.Lock()

    @classmethod
    def for_round_timeout(cls, round_timeout: float) -> BlockBudget:
        return cls(round_timeout * SHARE_OF_ROUND_TIMEOUT)

    @property
    def limit(self) -> int:
        """The most transactions the next block should hold."""
        with self._lock:
            return self._limit

    def observe(self, transactions: int, seconds: float) -> None:
        """A block of `transactions` took `seconds` to execute here."""
        if transactions <= 0 or seconds <= 0:
            return  # an empty block says nothing about the cost of a transaction
        with self._lock:
            observed = seconds / transactions
            previous = self._seconds_per_transaction
            per_transaction = (
                observed if previous is None else SMOOTHING * observed + (1 - SMOOTHING) * previous
            )
            self._seconds_per_transaction = per_transaction
            fits = self.seconds / per_transaction  # a float: a tiny cost must not overflow
            self._limit = max(LEAST_LIMIT, int(min(fits, 2 * self._limit)))
