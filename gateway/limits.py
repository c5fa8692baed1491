"""Hostile input is bounded before anything parses it: an ASGI middleware reads a request body up
to `max_bytes` and refuses it if longer, or if its JSON nests deeper than `max_depth` (a
recursive decoder fed deep nesting can overflow the C stack where py-evm raised Python's
recursion limit)."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from cityledger.gateway.refusals import Refusal

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

DRAIN_BYTES = 1 << 20
_STRINGS = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKETS = re.compile(rb"[\[\]{}]")


def nesting_depth(body: bytes) -> int:
    """The deepest nesting of JSON arrays and objects in `body` (brackets inside strings do not
    count); a cheap scan, with no decoding."""
    depth = deepest = 0
    for bracket in _BRACKETS.findall(_STRINGS.sub(b'""', body)):
        depth += 1 if bracket in (b"[", b"{") else -1
        deepest = max(deepest, depth)
    return deepest


class BodyLimits:
    def __init__(self, app: App, max_bytes: int, max_depth: int) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.max_depth = max_depth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        too_large = Refusal("BodyTooLarge", None, {"limit": self.max_bytes}, field="body")
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await self._drain(receive)
            await self._refuse(send, too_large)
            return
        body = bytearray()
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            more = bool(message.get("more_body", False))
            if len(body) > self.max_bytes:
                if more:
                    await self._drain(receive)
                await self._refuse(send, too_large)
                return
        if nesting_depth(bytes(body)) > self.max_depth:
            reason = f"JSON nested deeper than {self.max_depth} levels"
            refusal = Refusal(
                "MalformedRequest", None, {"field": "body", "reason": reason}, field="body"
            )
            await self._refuse(send, refusal)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": bytes(body), "more_body": False}

        await self.app(scope, replay, send)

    @staticmethod
    async def _drain(receive: Receive) -> None:
        """Reads and drops up to DRAIN_BYTES of a refused body, so that a client still sending
        reads the refusal instead of a reset connection; a larger body is cut off."""
        drained = 0
        while drained <= DRAIN_BYTES:
            message = await receive()
            if message["type"] == "http.disconnect" or not message.get("more_body", False):
                return
            drained += len(message.get("body", b""))

    @staticmethod
    async def _refuse(send: Send, refusal: Refusal) -> None:
        payload = refusal.document().model_dump_json().encode()
        await send(
            {
                "type": "http.response.start",
                "status": refusal.status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(payload)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload})
