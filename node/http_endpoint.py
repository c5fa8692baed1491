"""The node's HTTP servers as bare ASGI applications: one POST path each, bytes in, bytes out.

JSON-RPC and p2p each take a POST body at one path and answer with one body. Measured on the
2-core machine, FastAPI's routing and middleware cost about 0.4 ms of CPU a request, a third of
the whole request with uvicorn and its C HTTP parser; a validator serves a few hundred requests
a second under load (transactions, gossip, votes, clients polling), so this module does the
little that was used of it: the path and the method, a body size limit, and the reply.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

Scope = Mapping[str, object]
Message = Mapping[str, object]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

JSON = b"application/json"
TEXT = b"text/plain; charset=utf-8"
OCTETS = b"application/octet-stream"


@dataclass(frozen=True)
class HttpReply:
    status: int
    body: bytes = b""
    content_type: bytes = JSON


def text_reply(status: int, text: str) -> HttpReply:
    return HttpReply(status, text.encode(), TEXT)


class _BodyTooLarge(Exception):
    pass


class _Disconnected(Exception):
    pass


class PostEndpoint:
    """Answers POST `path` with `handle(body)`; any other path or method is refused plainly.

    `too_large` is the reply to a body over `max_body_bytes`, checked against the declared
    Content-Length first and against what actually arrives as it arrives.
    """

    def __init__(
        self,
        path: str,
        max_body_bytes: int,
        handle: Callable[[bytes], Awaitable[HttpReply]],
        too_large: HttpReply,
    ) -> None:
        self._path = path
        self._max_body_bytes = max_body_bytes
        self._handle = handle
        self._too_large = too_large

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return  # uvicorn runs with lifespan off and no websockets
        if scope["path"] != self._path:
            await _send(send, text_reply(404, f"not found; POST to {self._path}"))
            return
        if scope["method"] != "POST":
            await _send(send, text_reply(405, f"method not allowed; POST to {self._path}"))
            return
        try:
            if _declared_length(scope) > self._max_body_bytes:
                raise _BodyTooLarge
            body = await self._read_body(receive)
        except _BodyTooLarge:
            await _send(send, self._too_large)
            return
        except _Disconnected:
            return  # nobody is left to answer
        await _send(send, await self._handle(body))

    async def _read_body(self, receive: Receive) -> bytes:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise _Disconnected
            chunk = message.get("body", b"")
            if isinstance(chunk, bytes) and chunk:
                size += len(chunk)
                if size > self._max_body_bytes:
                    raise _BodyTooLarge
                chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)


def _declared_length(scope: Scope) -> int:
    headers = scope.get("headers", [])
    if not isinstance(headers, list):
        return 0
    for name, value in headers:
        if name == b"content-length":
            return int(value) if value.isdigit() else 0
    return 0


async def _send(send: Send, reply: HttpReply) -> None:
    # A 204 carries neither a body nor a length (RFC 9110, section 8.6).
    headers = (
        []
        if reply.status == 204
        else [
            (b"content-length", str(len(reply.body)).encode()),
            (b"content-type", reply.content_type),
        ]
    )
    await send({"type": "http.response.start", "status": reply.status, "headers": headers})
    await send({"type": "http.response.body", "body": reply.body})
