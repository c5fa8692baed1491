"""JSON-RPC to a node that is not trusted: batched, every answer bounded in size and nesting
before it is decoded, and every failure naming the node.

What a node answers here is only ever a claim; the light client checks it against certified
headers. This module only keeps a hostile node from exhausting memory or the stack on the way.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import requests

from cityledger.node.decoding import decode_json
from cityledger.sdk.errors import LedgerTransportError, connection_failure

# Our node and Besu take batches of at most a few hundred requests (ours: 200 and 512 KiB).
MAX_BATCH = 100
MAX_RESPONSE_BYTES = 64 * 2**20
_CHUNK = 1 << 16


class NodeUnavailable(LedgerTransportError):
    """The node could not be reached or did not answer in JSON-RPC."""


class UntrustedNode:
    """A JSON-RPC endpoint whose answers are claims to check, never facts."""

    def __init__(self, url: str, *, timeout: float = 60.0) -> None:
        self.url = url
        self.timeout = timeout
        self._session = requests.Session()
        self.requests = 0  # HTTP requests made, for measurements

    def _post(self, body: Any) -> Any:
        self.requests += 1
        try:
            with self._session.post(
                self.url, json=body, timeout=self.timeout, stream=True
            ) as response:
                received = bytearray()
                for chunk in response.iter_content(_CHUNK):
                    received += chunk
                    if len(received) > MAX_RESPONSE_BYTES:
                        raise NodeUnavailable(
                            f"node {self.url} answered more than {MAX_RESPONSE_BYTES:,} bytes"
                        )
        except requests.RequestException as exc:
            raise NodeUnavailable(f"node {self.url}: {connection_failure(exc)}") from None
        try:
            return decode_json(bytes(received))
        except ValueError as exc:
            raise NodeUnavailable(f"node {self.url} did not answer JSON-RPC: {exc}") from None

    def call(self, method: str, params: list[Any]) -> Any:
        return self.batch([(method, params)])[0]

    def batch(self, calls: Sequence[tuple[str, list[Any]]], size: int = MAX_BATCH) -> list[Any]:
        """The result of each call, in order, asked `size` at a time (fewer for large answers);
        a JSON-RPC error in any of them raises."""
        results: list[Any] = []
        for start in range(0, len(calls), size):
            part = calls[start : start + size]
            body = [
                {"jsonrpc": "2.0", "id": i, "method": method, "params": params}
                for i, (method, params) in enumerate(part)
            ]
            answers = self._post(body)
            if not isinstance(answers, list) or len(answers) != len(part):
                raise NodeUnavailable(f"node {self.url} did not answer a batch of {len(part)}")
            by_id = {a.get("id"): a for a in answers if isinstance(a, dict)}
            for i, (method, _) in enumerate(part):
                answer = by_id.get(i)
                if answer is None:
                    raise NodeUnavailable(f"node {self.url} left {method} unanswered")
                if "error" in answer:
                    error = answer["error"]
                    message = error.get("message") if isinstance(error, dict) else error
                    raise LedgerTransportError(f"node {self.url}: {method}: {message}")
                results.append(answer.get("result"))
        return results
