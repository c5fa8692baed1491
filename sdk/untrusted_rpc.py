"""JSON-RPC to a node that is not trusted: batched, pipelined, every answer bounded in size and
nesting before it is decoded, and every failure naming the node.

What a node answers here is only ever a claim; the light client checks it against certified
headers. This module only keeps a hostile node from exhausting memory or the stack on the way.

A request can be sent and its answer read later (`send`, then `answers`): the node works on the
next range of a long history while this process decodes the last, with no thread. One HTTP/1.1
connection is kept per node and opened again, once, when the node has closed it between
requests. The standard library's HTTP client is used directly: requests reads a body ten
kilobytes at a time, and a multi-megabyte log answer decodes faster read whole.
"""

from __future__ import annotations

import http.client
import json
import os
import ssl
import urllib.parse
from collections.abc import Sequence
from typing import Any

from cityledger.node.decoding import decode_json
from cityledger.sdk.errors import LedgerInputError, LedgerTransportError, connection_failure

# Our node and Besu take batches of at most a few hundred requests (ours: 200 and 512 KiB).
MAX_BATCH = 100
MAX_RESPONSE_BYTES = 64 * 2**20
# The node closed an idle kept-alive connection: the request never reached it, so it is sent
# again on a new connection.
_CLOSED_BETWEEN_REQUESTS = (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError)

Call = tuple[str, list[Any]]


class NodeUnavailable(LedgerTransportError):
    """The node could not be reached or did not answer in JSON-RPC."""


class AnswerTooLarge(NodeUnavailable):
    """The node's answer was longer than `MAX_RESPONSE_BYTES`; it was not read whole."""


def _tls_context() -> ssl.SSLContext:
    """The CA bundle requests would use: REQUESTS_CA_BUNDLE or SSL_CERT_FILE if set, else
    certifi's."""
    bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("SSL_CERT_FILE")
    if bundle is None:
        import certifi

        bundle = certifi.where()
    return ssl.create_default_context(cafile=bundle)


class UntrustedNode:
    """A JSON-RPC endpoint whose answers are claims to check, never facts."""

    def __init__(self, url: str, *, timeout: float = 60.0) -> None:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise LedgerInputError(f"{url!r} is not a node's http:// or https:// URL")
        self.url = url
        self.timeout = timeout
        self._parts = parts
        self._target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self._connection: http.client.HTTPConnection | None = None
        self._used = False  # the connection has carried a request already
        self._sent: tuple[bytes, int] | None = None  # the request awaiting its answer
        self.requests = 0  # HTTP requests made, for measurements

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
        self._connection, self._used, self._sent = None, False, None

    def _connect(self) -> http.client.HTTPConnection:
        if self._connection is None:
            host, port = self._parts.hostname or "", self._parts.port
            self._connection = (
                http.client.HTTPSConnection(
                    host, port, timeout=self.timeout, context=_tls_context()
                )
                if self._parts.scheme == "https"
                else http.client.HTTPConnection(host, port, timeout=self.timeout)
            )
        return self._connection

    def _failure(self, exc: Exception) -> NodeUnavailable:
        self.close()
        return NodeUnavailable(connection_failure(exc, self.url))

    def send(self, calls: Sequence[Call]) -> None:
        """Sends `calls` as one request (a batch when more than one) and returns without
        waiting: `answers` reads what the node says. One request is in flight at a time."""
        if self._sent is not None:
            raise RuntimeError("the answer to the last request has not been read")
        requests = [
            {"jsonrpc": "2.0", "id": i, "method": method, "params": params}
            for i, (method, params) in enumerate(calls)
        ]
        body = json.dumps(requests[0] if len(requests) == 1 else requests).encode()
        self._sent = (body, len(requests))
        reused = self._used
        try:
            self._post(body)
        except _CLOSED_BETWEEN_REQUESTS as exc:
            if not reused:
                raise self._failure(exc) from None
            self.close()
            self._sent = (body, len(requests))
            try:
                self._post(body)
            except _CLOSED_BETWEEN_REQUESTS as again:
                raise self._failure(again) from None

    def _post(self, body: bytes) -> None:
        """Lets the errors of a closed connection through, for `send` and `answers` to retry
        on a connection that had served before."""
        self.requests += 1
        try:
            self._connect().request(
                "POST", self._target, body, {"Content-Type": "application/json"}
            )
        except _CLOSED_BETWEEN_REQUESTS:
            raise
        except (OSError, http.client.HTTPException) as exc:
            raise self._failure(exc) from None

    def _response(self) -> tuple[int, bytes]:
        try:
            response = self._connect().getresponse()
            length = response.getheader("Content-Length") or ""
            too_long = length.isdigit() and int(length) > MAX_RESPONSE_BYTES
            body = b"" if too_long else response.read(MAX_RESPONSE_BYTES + 1)
        except _CLOSED_BETWEEN_REQUESTS:
            raise
        except (OSError, http.client.HTTPException) as exc:
            raise self._failure(exc) from None
        if too_long or len(body) > MAX_RESPONSE_BYTES:
            self.close()
            raise AnswerTooLarge(f"node {self.url} answered more than {MAX_RESPONSE_BYTES:,} bytes")
        if response.will_close:
            self.close()
        else:
            self._used = True
        return response.status, body

    def answers(self) -> list[dict[str, Any]]:
        """The answer objects of the request `send` sent, in call order; each holds `result` or
        `error` (JSON-RPC errors are left to the caller)."""
        if self._sent is None:
            raise RuntimeError("no request was sent")
        (body, count), self._sent = self._sent, None
        reused = self._used
        try:
            status, received = self._response()
        except _CLOSED_BETWEEN_REQUESTS as exc:
            self.close()
            if not reused:
                raise self._failure(exc) from None
            try:  # the node had closed the kept-alive connection: the request never arrived
                self._post(body)
                status, received = self._response()
            except _CLOSED_BETWEEN_REQUESTS as again:
                raise self._failure(again) from None
        try:
            decoded = decode_json(received)
        except ValueError as exc:
            raise NodeUnavailable(
                f"node {self.url} did not answer JSON-RPC (HTTP {status}): {exc}"
            ) from None
        if count == 1 and isinstance(decoded, dict) and decoded.get("id") is None:
            decoded = [{**decoded, "id": 0}]  # an error before the id was read (parse error)
        elif isinstance(decoded, dict):
            decoded = [decoded]
        by_id = (
            {a.get("id"): a for a in decoded if isinstance(a, dict)}
            if isinstance(decoded, list)
            else {}
        )
        ordered = []
        for i in range(count):
            answer = by_id.get(i)
            if not isinstance(answer, dict) or ("result" not in answer and "error" not in answer):
                raise NodeUnavailable(f"node {self.url} did not answer call {i + 1} of {count}")
            ordered.append(answer)
        return ordered

    def call(self, method: str, params: list[Any]) -> Any:
        return self.batch([(method, params)])[0]

    def batch(self, calls: Sequence[Call], size: int = MAX_BATCH) -> list[Any]:
        """The result of each call, in order, asked `size` at a time (fewer for large answers);
        a JSON-RPC error in any of them raises."""
        results: list[Any] = []
        for start in range(0, len(calls), size):
            part = calls[start : start + size]
            self.send(part)
            for (method, _), answer in zip(part, self.answers(), strict=True):
                if "error" in answer:
                    error = answer["error"]
                    message = error.get("message") if isinstance(error, dict) else error
                    raise LedgerTransportError(f"node {self.url}: {method}: {message}")
                results.append(answer.get("result"))
        return results
