"""Polling filters with geth's semantics: eth_newFilter, eth_newBlockFilter,
eth_newPendingTransactionFilter, eth_getFilterChanges, eth_getFilterLogs, eth_uninstallFilter.

A filter remembers where its last poll stopped, not what happened since: a log or block filter
holds the last block number it reported and answers a poll from the log index and the chain, so
its memory is constant however long a client waits. Only pending-transaction filters buffer
(hashes, at most `MAX_PENDING_BUFFERED`, oldest dropped first), fed as the pool admits
transactions. Filters nobody polls for `IDLE_SECONDS` (geth's five minutes) are removed, and
at most `MAX_FILTERS` exist at once.
"""

from __future__ import annotations

import secrets
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cityledger.node.rpc.errors import EXECUTION_ERROR, LIMIT_EXCEEDED, RpcError
from cityledger.node.storage.log_index import LogFilter

IDLE_SECONDS = 300.0
MAX_FILTERS = 1_000
MAX_PENDING_BUFFERED = 10_000
MAX_BLOCKS_PER_POLL = 10_000


@dataclass
class _LogFilter:
    criteria: LogFilter  # from_block/to_block as given (to_block may lie in the future)
    last_reported: int  # the last block whose logs a poll returned


@dataclass
class _BlockFilter:
    last_reported: int


@dataclass
class _PendingFilter:
    hashes: deque[bytes] = field(default_factory=lambda: deque(maxlen=MAX_PENDING_BUFFERED))


_Filter = _LogFilter | _BlockFilter | _PendingFilter


@dataclass
class _Installed:
    filter: _Filter
    polled_at: float


class Filters:
    """The installed filters. `logs(criteria, limit)` answers a log query (the node's
    eth_getLogs path); `block_hash(number)` reads the chain; `head()` is the last final block."""

    def __init__(
        self,
        head: Callable[[], int],
        block_hash: Callable[[int], bytes],
        logs: Callable[[LogFilter], list[dict[str, Any]]],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._head = head
        self._block_hash = block_hash
        self._logs = logs
        self._clock = clock
        self._installed: dict[str, _Installed] = {}

    def __len__(self) -> int:
        return len(self._installed)

    def new_log_filter(self, criteria: LogFilter) -> str:
        return self._install(_LogFilter(criteria, self._head()))

    def new_block_filter(self) -> str:
        return self._install(_BlockFilter(self._head()))

    def new_pending_filter(self) -> str:
        return self._install(_PendingFilter())

    def uninstall(self, filter_id: str) -> bool:
        return self._installed.pop(filter_id, None) is not None

    def transaction_pending(self, tx_hash: bytes) -> None:
        for installed in self._installed.values():
            if isinstance(installed.filter, _PendingFilter):
                installed.filter.hashes.append(tx_hash)

    def changes(self, filter_id: str) -> list[Any]:
        """What happened since the last poll: logs, block hashes or transaction hashes."""
        found = self._get(filter_id).filter
        if isinstance(found, _PendingFilter):
            hashes = list(found.hashes)
            found.hashes.clear()
            return ["0x" + h.hex() for h in hashes]
        head = self._head()
        if isinstance(found, _BlockFilter):
            last = min(head, found.last_reported + MAX_BLOCKS_PER_POLL)
            numbers = range(found.last_reported + 1, last + 1)
            found.last_reported = last
            return ["0x" + self._block_hash(n).hex() for n in numbers]
        start = max(found.last_reported + 1, found.criteria.from_block)
        end = min(head, found.criteria.to_block)
        found.last_reported = head
        if start > end:
            return []
        return self._logs(_within(found.criteria, start, end))

    def all_logs(self, filter_id: str) -> list[dict[str, Any]]:
        """Every log the filter's criteria match up to the head (eth_getFilterLogs)."""
        found = self._get(filter_id).filter
        if not isinstance(found, _LogFilter):
            raise RpcError(EXECUTION_ERROR, f"filter {filter_id} is not a log filter")
        end = min(self._head(), found.criteria.to_block)
        if found.criteria.from_block > end:
            return []
        return self._logs(_within(found.criteria, found.criteria.from_block, end))

    def _install(self, installed: _Filter) -> str:
        self._expire()
        if len(self._installed) >= MAX_FILTERS:
            raise RpcError(
                LIMIT_EXCEEDED,
                f"{MAX_FILTERS} filters are installed; uninstall some, or poll with eth_getLogs",
            )
        filter_id = "0x" + secrets.token_hex(16)
        self._installed[filter_id] = _Installed(installed, self._clock())
        return filter_id

    def _get(self, filter_id: str) -> _Installed:
        self._expire()
        installed = self._installed.get(filter_id)
        if installed is None:
            raise RpcError(EXECUTION_ERROR, "filter not found")  # geth's words: clients match them
        installed.polled_at = self._clock()
        return installed

    def _expire(self) -> None:
        cutoff = self._clock() - IDLE_SECONDS
        for filter_id in [f for f, i in self._installed.items() if i.polled_at < cutoff]:
            del self._installed[filter_id]


def _within(criteria: LogFilter, start: int, end: int) -> LogFilter:
    return LogFilter(start, end, criteria.addresses, criteria.topics)
