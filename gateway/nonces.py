"""Replay protection: every (signer, nonce) the gateway accepted, kept on disk until the request
would have expired anyway, so a signed request is answered once, across restarts too."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

# Expired entries are swept after this many claims, not on every one.
_SWEEP_EVERY = 256


class NonceStore:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        # WAL with a sync at every commit: a claimed nonce survives a crash of the machine.
        self._db.execute("PRAGMA journal_mode = WAL")
        self._db.execute("PRAGMA synchronous = FULL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS nonces ("
            " signer TEXT NOT NULL, nonce TEXT NOT NULL, expiry INTEGER NOT NULL,"
            " PRIMARY KEY (signer, nonce))"
        )
        self._db.execute("CREATE INDEX IF NOT EXISTS by_expiry ON nonces (expiry)")
        self._lock = threading.Lock()
        self._claims = 0

    def claim(self, signer: str, nonce: str, expiry: int, now: int) -> bool:
        """True the first time (signer, nonce) is seen; False for a replay. The entry is kept
        until `expiry`, after which the gateway refuses the request as expired anyway."""
        with self._lock:
            self._claims += 1
            if self._claims % _SWEEP_EVERY == 0:
                self._db.execute("DELETE FROM nonces WHERE expiry < ?", (now,))
            try:
                self._db.execute(
                    "INSERT INTO nonces (signer, nonce, expiry) VALUES (?, ?, ?)",
                    (signer.lower(), nonce.lower(), expiry),
                )
            except sqlite3.IntegrityError:
                return False
            return True

    def close(self) -> None:
        with self._lock:
            self._db.close()
