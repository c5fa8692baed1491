"""JSON-RPC 2.0 over HTTP: request limits, batches, and errors without stack traces."""

from __future__ import annotations

import asyncio
import json
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from cityledger.node.config import RpcLimits
from cityledger.node.decoding import TooDeep, decode_json
from cityledger.node.http_endpoint import HttpReply, PostEndpoint, Receive, Scope, Send
from cityledger.node.rpc.errors import (
    INTERNAL_ERROR,
    INVALID_PARAMS,
    INVALID_REQUEST,
    LIMIT_EXCEEDED,
    METHOD_NOT_FOUND,
    PARSE_ERROR,
    RpcError,
)
from cityledger.node.rpc.methods import Handler, MethodTable
from cityledger.node.rpc.subscriptions import ParseLogFilter, Subscriptions, serve_websocket

log = logging.getLogger("cityledger.node.rpc")


def _error(request_id: Any, error: RpcError) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "error": error.to_json()}


def _valid_id(request_id: object) -> bool:
    # Fractional ids are discouraged by the spec, and NaN could not even be echoed back.
    return request_id is None or (
        isinstance(request_id, str | int) and not isinstance(request_id, bool)
    )


class CallWorkers:
    """Worker threads for the methods that run clients' EVM code. At most `workers` run at
    once and `max_waiting` more wait; beyond that a call is refused at once as "busy" rather
    than queued without bound."""

    def __init__(self, workers: int, max_waiting: int) -> None:
        self._executor = ThreadPoolExecutor(workers, thread_name_prefix="rpc-call")
        self._capacity = workers + max_waiting
        self._admitted = 0

    async def run(self, handler: Handler, params: list[Any]) -> Any:
        if self._admitted >= self._capacity:
            raise RpcError(
                LIMIT_EXCEEDED, f"the node is busy with {self._admitted} calls; retry shortly"
            )
        self._admitted += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, handler, params)
        finally:
            self._admitted -= 1

    def close(self) -> None:
        """Waits for running calls (each ends by its deadline): they read the database that
        the node closes next."""
        self._executor.shutdown(wait=True, cancel_futures=True)


async def handle_call(
    methods: MethodTable, call: object, workers: CallWorkers | None = None
) -> dict[str, Any] | None:
    """One JSON-RPC request object -> its response (None for a notification). Blocking
    methods go to `workers` (inline without: for tests and tools that own no event loop)."""
    if not isinstance(call, dict):
        return _error(None, RpcError(INVALID_REQUEST, "request must be a JSON object"))
    request_id = call.get("id")
    if not _valid_id(request_id):
        return _error(None, RpcError(INVALID_REQUEST, "id must be a string, an integer or null"))
    method = call.get("method")
    if call.get("jsonrpc") != "2.0" or not isinstance(method, str):
        return _error(
            request_id,
            RpcError(INVALID_REQUEST, 'request needs "jsonrpc": "2.0" and a string "method"'),
        )
    params = call.get("params", [])
    try:
        entry = methods.get(method)
        if entry is None:
            raise RpcError(METHOD_NOT_FOUND, f"method {method} does not exist")
        least, most = entry.least_params, entry.most_params
        if not isinstance(params, list):
            raise RpcError(INVALID_PARAMS, "params must be an array")
        if not least <= len(params) <= most:
            expected = str(least) if least == most else f"{least} to {most}"
            raise RpcError(INVALID_PARAMS, f"{method} takes {expected} params, got {len(params)}")
        if entry.blocking and workers is not None:
            result = await workers.run(entry.handler, params)
        else:
            result = entry.handler(params)
    except RpcError as exc:
        response = _error(request_id, exc)
    except Exception:
        log.exception("internal error in %s", method)
        response = _error(request_id, RpcError(INTERNAL_ERROR, "internal error"))
    else:
        response = {"jsonrpc": "2.0", "id": request_id, "result": result}
    return None if "id" not in call else response


async def answer(
    methods: MethodTable, body: bytes, limits: RpcLimits, workers: CallWorkers | None
) -> object | None:
    """The JSON-RPC answer to a request body (one request or a batch); None when it held only
    notifications. Over HTTP and over WebSocket alike."""
    try:
        payload = decode_json(body)
    except TooDeep as exc:
        return _error(None, RpcError(LIMIT_EXCEEDED, f"request refused: {exc}"))
    except ValueError as exc:
        return _error(None, RpcError(PARSE_ERROR, f"request body: {exc}"))
    if isinstance(payload, list):
        if not payload:
            return _error(None, RpcError(INVALID_REQUEST, "empty batch"))
        if len(payload) > limits.max_batch:
            return _error(
                None,
                RpcError(
                    LIMIT_EXCEEDED,
                    f"batch of {len(payload)} requests; the limit is {limits.max_batch}",
                ),
            )
        answers = [await handle_call(methods, c, workers) for c in payload]
        responses = [r for r in answers if r is not None]
        return responses or None
    return await handle_call(methods, payload, workers)


class RpcApp:
    """The JSON-RPC port: POST / over HTTP, and WebSocket on the same port (as anvil and geth
    serve both), whose connections may also subscribe."""

    def __init__(
        self,
        methods: MethodTable,
        limits: RpcLimits,
        workers: CallWorkers,
        subscriptions: Subscriptions,
        parse_log_filter: ParseLogFilter,
    ) -> None:
        self._methods = methods
        self._limits = limits
        self._workers = workers
        self._subscriptions = subscriptions
        self._parse_log_filter = parse_log_filter

        async def post(body: bytes) -> HttpReply:
            response = await answer(methods, body, limits, workers)
            return _reply(response) if response is not None else HttpReply(204)

        self._http = PostEndpoint(
            "/",
            limits.max_body_bytes,
            post,
            too_large=_reply(_error(None, _too_large(limits.max_body_bytes)), 413),
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            await serve_websocket(
                receive,
                send,
                self._methods,
                self._dispatch,
                self._subscriptions,
                self._parse_log_filter,
            )
        else:
            await self._http(scope, receive, send)

    async def _dispatch(self, table: MethodTable, body: bytes) -> str | None:
        response = await answer(table, body, self._limits, self._workers)
        return None if response is None else json.dumps(response, separators=(",", ":"))


def _reply(payload: object, status: int = 200) -> HttpReply:
    return HttpReply(status, json.dumps(payload, separators=(",", ":")).encode())


def _too_large(limit: int) -> RpcError:
    return RpcError(LIMIT_EXCEEDED, f"request body exceeds {limit} bytes")
