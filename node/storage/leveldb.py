"""LevelDB (plyvel) under py-evm, and the staging layer that makes a whole block one atomic write.

py-evm writes one imported block through several separate batches (state trie, header, block
body, receipts, canonical head). Execution therefore runs on a `BlockStage`, which keeps every
write in memory; the node adds its own records (log index, finality certificate) to the same
stage, then `flush()` hands everything to LevelDB as one synced write batch. A crash before the
flush leaves the previous block as the head; a crash after it leaves the new one, complete.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import plyvel
from eth.abc import AtomicWriteBatchAPI
from eth.db.atomic import AtomicDBWriteBatch
from eth.db.backends.base import BaseAtomicDB
from eth.db.diff import DBDiffTracker, DiffMissingError


class LevelDB(BaseAtomicDB):
    """The committed store. Readers (RPC, txpool) use it directly: they never see a staged block."""

    def __init__(self, path: Path) -> None:
        path.mkdir(parents=True, exist_ok=True)
        self._db = plyvel.DB(str(path), create_if_missing=True)

    def __getitem__(self, key: bytes) -> bytes:
        value: bytes | None = self._db.get(key)
        if value is None:
            raise KeyError(key)
        return value

    def __setitem__(self, key: bytes, value: bytes) -> None:
        self._db.put(key, value, sync=True)

    def __delitem__(self, key: bytes) -> None:
        if self._db.get(key) is None:
            raise KeyError(key)
        self._db.delete(key, sync=True)

    def _exists(self, key: bytes) -> bool:
        return self._db.get(key) is not None

    @contextmanager
    def atomic_batch(self) -> Iterator[AtomicWriteBatchAPI]:
        stage = BlockStage(self)
        with stage.atomic_batch() as batch:
            yield batch
        stage.flush()

    def write_atomically(self, puts: dict[bytes, bytes], deletes: set[bytes]) -> None:
        """Applies all puts and deletes as one LevelDB batch, synced to disk before returning."""
        with self._db.write_batch(transaction=True, sync=True) as batch:
            for key in deletes:
                batch.delete(key)
            for key, value in puts.items():
                batch.put(key, value)

    def iterate(self, start: bytes, stop: bytes) -> Iterator[tuple[bytes, bytes]]:
        """Keys in [start, stop), in order."""
        yield from self._db.iterator(start=start, stop=stop)

    def iterate_keys(self, start: bytes, stop: bytes) -> Iterator[bytes]:
        """Keys in [start, stop), in order, without reading their values."""
        yield from self._db.iterator(start=start, stop=stop, include_value=False)

    def close(self) -> None:
        self._db.close()


class BlockStage(BaseAtomicDB):
    """Reads through to LevelDB; keeps writes in memory until `flush()` or `discard()`."""

    def __init__(self, committed: LevelDB) -> None:
        self.committed = committed
        self._pending = DBDiffTracker()

    def __getitem__(self, key: bytes) -> bytes:
        try:
            return self._pending[key]
        except DiffMissingError as missing:
            if missing.is_deleted:
                raise KeyError(key) from None
            return self.committed[key]

    def __setitem__(self, key: bytes, value: bytes) -> None:
        self._pending[key] = value

    def __delitem__(self, key: bytes) -> None:
        if not self._exists(key):
            raise KeyError(key)
        del self._pending[key]

    def _exists(self, key: bytes) -> bool:
        try:
            self[key]
        except KeyError:
            return False
        return True

    @contextmanager
    def atomic_batch(self) -> Iterator[AtomicWriteBatchAPI]:
        # py-evm's own batches only need to be atomic with respect to the stage: the stage
        # itself reaches disk in one piece.
        with AtomicDBWriteBatch._commit_unless_raises(self) as batch:
            yield batch

    @property
    def is_empty(self) -> bool:
        diff = self._pending.diff()
        return not any(True for _ in diff.pending_keys()) and not any(
            True for _ in diff.deleted_keys()
        )

    def flush(self) -> None:
        diff = self._pending.diff()
        self.committed.write_atomically(dict(diff.pending_items()), set(diff.deleted_keys()))
        self._pending = DBDiffTracker()

    def discard(self) -> None:
        self._pending = DBDiffTracker()
