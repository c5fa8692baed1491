"""The gateway's append-only log of every request it answered, delivered or refused: one
canonical JSON entry a line, the leaves of an RFC 9162 Merkle tree whose head the gateway
anchors on chain (AccessLog.anchorLog) every `interval` seconds. Once anchored, no entry can be
changed, dropped or reordered without the next anchor (or `cityledger audit verify-log`) failing.

Deliveries are on chain one by one as well (AccessLog.recordDelivery); refusals are only here,
which is where an auditor finds attempts on revoked or suspended grants and by other agencies."""

from __future__ import annotations

import json
import logging
import os
import threading
from pathlib import Path
from typing import Any

from cityledger.sdk import merkle
from cityledger.sdk.access_client import AccessClient
from cityledger.sdk.errors import LedgerError

log = logging.getLogger("cityledger.gateway")


class AttemptLogError(Exception):
    """A log that no longer matches what was anchored of it."""


class AttemptLog:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._entries = self._read_complete_lines(path)
        self._file = path.open("ab")

    @staticmethod
    def _read_complete_lines(path: Path) -> list[bytes]:
        """The complete entries; a last line cut short by a crash is dropped from the file (it
        was never anchored: anchors cover complete entries only)."""
        if not path.exists():
            return []
        data = path.read_bytes()
        complete = data[: data.rfind(b"\n") + 1]
        if len(complete) != len(data):
            with path.open("r+b") as file:
                file.truncate(len(complete))
        return complete.splitlines()

    def append(self, entry: dict[str, Any]) -> int:
        """Writes one entry (flushed to the OS: it survives the process); returns its index."""
        line = json.dumps(entry, sort_keys=True, separators=(",", ":")).encode()
        with self._lock:
            self._file.write(line + b"\n")
            self._file.flush()
            self._entries.append(line)
            return len(self._entries) - 1

    def snapshot(self) -> list[bytes]:
        with self._lock:
            return list(self._entries)

    def sync(self) -> None:
        with self._lock:
            os.fsync(self._file.fileno())

    def close(self) -> None:
        with self._lock:
            self._file.close()


class Anchorer:
    """Anchors the log's head on chain with the gateway's key, every `interval` seconds while
    the log grows, and once more when stopped."""

    def __init__(self, attempts: AttemptLog, access: AccessClient, interval: float) -> None:
        self.attempts = attempts
        self.access = access
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="anchorer", daemon=True)
        self._anchored = 0

    def check(self, agency: str) -> None:
        """Refuses a log that does not extend what this gateway anchored before."""
        anchors = self.access.anchors(agency)
        if not anchors:
            return
        last = anchors[-1]
        entries = self.attempts.snapshot()
        if len(entries) < last.tree_size or (
            "0x" + merkle.root_hash(entries[: last.tree_size]).hex() != last.root
        ):
            raise AttemptLogError(
                f"{self.attempts.path} holds {len(entries)} entries whose first "
                f"{last.tree_size} do not hash to the root {last.root} this gateway anchored: "
                "the log was lost or rewritten; restore it from a backup"
            )
        self._anchored = last.tree_size

    def anchor(self) -> None:
        entries = self.attempts.snapshot()
        if len(entries) <= self._anchored:
            return
        self.attempts.sync()
        head = self.access.anchor_log(entries)
        self._anchored = head.tree_size
        log.info("anchored %d log entries, root %s", head.tree_size, head.root)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.anchor()
            except LedgerError as exc:
                log.warning("anchoring the attempt log failed (retrying later): %s", exc)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        try:
            self.anchor()
        except LedgerError as exc:
            log.warning("the last anchor of the attempt log failed: %s", exc)
