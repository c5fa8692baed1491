"""JSON-RPC over WebSocket on the HTTP port, with eth_subscribe / eth_unsubscribe.

Every method works over WebSocket as over HTTP. Subscriptions push `newHeads` (each final
block's header), `logs` (each matching log of each final block, one notification a log, with
the address and topics filters of eth_getLogs) and `newPendingTransactions` (the hash of each
transaction the pool admits; the whole transaction with `true` as second parameter).

A connection holds at most `MAX_SUBSCRIPTIONS` subscriptions, and at most
`MAX_QUEUED_MESSAGES` answers and notifications waiting to be sent: a client that does not read
fast enough is disconnected (close code 1013, "try again later") rather than slowing the node
or growing its memory.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from collections import ChainMap
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from eth.abc import BlockAPI, ReceiptAPI, SignedTransactionAPI

from cityledger.node.http_endpoint import Receive, Send
from cityledger.node.rpc.encoding import format_block, format_log, format_transaction
from cityledger.node.rpc.errors import INVALID_PARAMS, LIMIT_EXCEEDED, RpcError, invalid_params
from cityledger.node.rpc.methods import Method, MethodTable
from cityledger.node.storage.log_index import IndexedLog, LogFilter

log = logging.getLogger("cityledger.node.rpc")

MAX_SUBSCRIPTIONS = 100
MAX_QUEUED_MESSAGES = 2_000
TRY_AGAIN_LATER = 1013  # RFC 6455 close code: the server drops a client it cannot keep up with

Dispatch = Callable[[MethodTable, bytes], Awaitable[str | None]]
ParseLogFilter = Callable[[dict[str, Any]], LogFilter]


@dataclass(frozen=True)
class _Subscription:
    kind: str
    log_filter: LogFilter | None = None
    full_transactions: bool = False


class Connection:
    """One WebSocket client: its subscriptions and its bounded send queue."""

    def __init__(self, parse_log_filter: ParseLogFilter) -> None:
        self._parse_log_filter = parse_log_filter
        self.subscriptions: dict[str, _Subscription] = {}
        self.outbox: asyncio.Queue[str] = asyncio.Queue(MAX_QUEUED_MESSAGES)
        self.dropped = asyncio.Event()

    def push(self, text: str) -> None:
        if self.dropped.is_set():
            return
        try:
            self.outbox.put_nowait(text)
        except asyncio.QueueFull:
            self.dropped.set()

    def notify(self, subscription: str, result: object) -> None:
        self.push(
            json.dumps(
                {
                    "jsonrpc": "2.0",
                    "method": "eth_subscription",
                    "params": {"subscription": subscription, "result": result},
                },
                separators=(",", ":"),
            )
        )

    def methods(self) -> dict[str, Method]:
        return {
            "eth_subscribe": Method(self._subscribe, 1, 2),
            "eth_unsubscribe": Method(self._unsubscribe, 1, 1),
        }

    def _subscribe(self, params: list[Any]) -> str:
        if len(self.subscriptions) >= MAX_SUBSCRIPTIONS:
            raise RpcError(
                LIMIT_EXCEEDED, f"a connection may hold {MAX_SUBSCRIPTIONS} subscriptions"
            )
        kind = params[0]
        extra = params[1] if len(params) > 1 else None
        if kind == "newHeads":
            subscription = _Subscription(kind)
        elif kind == "logs":
            if extra is not None and not isinstance(extra, dict):
                raise invalid_params("logs takes a filter object: {address, topics}")
            subscription = _Subscription(kind, self._parse_log_filter(extra or {}))
        elif kind == "newPendingTransactions":
            subscription = _Subscription(kind, full_transactions=extra is True)
        else:
            raise RpcError(
                INVALID_PARAMS,
                f"unknown subscription {kind!r}: newHeads, logs or newPendingTransactions",
            )
        subscription_id = "0x" + secrets.token_hex(16)
        self.subscriptions[subscription_id] = subscription
        return subscription_id

    def _unsubscribe(self, params: list[Any]) -> bool:
        if not isinstance(params[0], str):
            raise invalid_params("subscription id must be the string eth_subscribe returned")
        return self.subscriptions.pop(params[0], None) is not None


class Subscriptions:
    """Every open connection; fed final blocks and admitted transactions on the event loop."""

    def __init__(self) -> None:
        self._connections: set[Connection] = set()

    def __len__(self) -> int:
        return len(self._connections)

    def add(self, connection: Connection) -> None:
        self._connections.add(connection)

    def remove(self, connection: Connection) -> None:
        self._connections.discard(connection)

    def block_final(self, block: BlockAPI, receipts: tuple[ReceiptAPI, ...]) -> None:
        wanted = {s.kind for c in self._connections for s in c.subscriptions.values()}
        if not wanted:
            return
        header = format_block(block, full_transactions=False)
        header.pop("transactions", None)
        logs = _block_logs(block, receipts) if "logs" in wanted else []
        for connection in list(self._connections):
            for subscription_id, subscription in list(connection.subscriptions.items()):
                if subscription.kind == "newHeads":
                    connection.notify(subscription_id, header)
                elif subscription.kind == "logs" and subscription.log_filter is not None:
                    for entry in logs:
                        if subscription.log_filter.matches(entry):
                            connection.notify(subscription_id, format_log(entry, block.hash))

    def transaction_pending(self, tx: SignedTransactionAPI) -> None:
        for connection in list(self._connections):
            for subscription_id, subscription in list(connection.subscriptions.items()):
                if subscription.kind == "newPendingTransactions":
                    result = (
                        format_transaction(tx, None, None)
                        if subscription.full_transactions
                        else "0x" + tx.hash.hex()
                    )
                    connection.notify(subscription_id, result)


def _block_logs(block: BlockAPI, receipts: tuple[ReceiptAPI, ...]) -> list[IndexedLog]:
    logs: list[IndexedLog] = []
    for tx_index, (tx, receipt) in enumerate(zip(block.transactions, receipts, strict=True)):
        for entry in receipt.logs:
            logs.append(
                IndexedLog(
                    block_number=int(block.number),
                    log_index=len(logs),
                    transaction_index=tx_index,
                    transaction_hash=tx.hash,
                    address=entry.address,
                    topics=tuple(t.to_bytes(32, "big") for t in entry.topics),
                    data=entry.data,
                )
            )
    return logs


async def serve_websocket(
    receive: Receive,
    send: Send,
    methods: MethodTable,
    dispatch: Dispatch,
    hub: Subscriptions,
    parse_log_filter: ParseLogFilter,
) -> None:
    """One connection, from the handshake to its close; `dispatch` answers a JSON-RPC body."""
    if (await receive())["type"] != "websocket.connect":
        return
    await send({"type": "websocket.accept"})
    connection = Connection(parse_log_filter)
    table = ChainMap(connection.methods(), dict(methods))
    hub.add(connection)

    async def pump() -> None:
        while True:
            text = await connection.outbox.get()
            await send({"type": "websocket.send", "text": text})

    async def serve_requests() -> None:
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                return
            text, raw = message.get("text"), message.get("bytes")
            body = (
                text.encode() if isinstance(text, str) else raw if isinstance(raw, bytes) else b""
            )
            answer = await dispatch(table, body)
            if answer is not None:
                connection.push(answer)

    sender = asyncio.create_task(pump())
    requests = asyncio.create_task(serve_requests())
    dropped = asyncio.create_task(connection.dropped.wait())
    try:
        done, _ = await asyncio.wait(
            {sender, requests, dropped}, return_when=asyncio.FIRST_COMPLETED
        )
        if dropped in done:
            log.info("a WebSocket client fell behind its notifications; disconnected")
            await send({"type": "websocket.close", "code": TRY_AGAIN_LATER})
    except OSError:
        pass  # the client went away while we wrote to it
    finally:
        hub.remove(connection)
        for task in (sender, requests, dropped):
            task.cancel()
        await asyncio.gather(sender, requests, dropped, return_exceptions=True)
