"""JSON-RPC 2.0 over HTTP: request limits, batches, and errors without stack traces."""

from __future__ import annotations

import json
import logging
from typing import Any

from cityledger.node.config import RpcLimits
from cityledger.node.http_endpoint import HttpReply, PostEndpoint
from cityledger.node.rpc.errors import (
    INTERNAL_ERROR,
    INVALID_PARAMS,
    INVALID_REQUEST,
    LIMIT_EXCEEDED,
    METHOD_NOT_FOUND,
    PARSE_ERROR,
    RpcError,
)
from cityledger.node.rpc.methods import MethodTable

log = logging.getLogger("cityledger.node.rpc")


def _error(request_id: Any, error: RpcError) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "error": error.to_json()}


def _valid_id(request_id: object) -> bool:
    # Fractional ids are discouraged by the spec, and NaN could not even be echoed back.
    return request_id is None or (
        isinstance(request_id, str | int) and not isinstance(request_id, bool)
    )


def handle_call(methods: MethodTable, call: object) -> dict[str, Any] | None:
    """One JSON-RPC request object -> its response (None for a notification)."""
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
        result = entry.handler(params)
    except RpcError as exc:
        response = _error(request_id, exc)
    except Exception:
        log.exception("internal error in %s", method)
        response = _error(request_id, RpcError(INTERNAL_ERROR, "internal error"))
    else:
        response = {"jsonrpc": "2.0", "id": request_id, "result": result}
    return None if "id" not in call else response


def create_app(methods: MethodTable, limits: RpcLimits) -> PostEndpoint:
    """JSON-RPC at POST /."""

    async def rpc(body: bytes) -> HttpReply:
        try:
            payload = json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
            return _reply(_error(None, RpcError(PARSE_ERROR, "request body is not valid JSON")))
        if isinstance(payload, list):
            if not payload:
                return _reply(_error(None, RpcError(INVALID_REQUEST, "empty batch")))
            if len(payload) > limits.max_batch:
                return _reply(
                    _error(
                        None,
                        RpcError(
                            LIMIT_EXCEEDED,
                            f"batch of {len(payload)} requests; the limit is {limits.max_batch}",
                        ),
                    )
                )
            responses = [r for r in (handle_call(methods, c) for c in payload) if r is not None]
            return _reply(responses) if responses else HttpReply(204)
        response = handle_call(methods, payload)
        return _reply(response) if response is not None else HttpReply(204)

    return PostEndpoint(
        "/",
        limits.max_body_bytes,
        rpc,
        too_large=_reply(_error(None, _too_large(limits.max_body_bytes)), 413),
    )


def _reply(payload: object, status: int = 200) -> HttpReply:
    return HttpReply(status, json.dumps(payload, separators=(",", ":")).encode())


def _too_large(limit: int) -> RpcError:
    return RpcError(LIMIT_EXCEEDED, f"request body exceeds {limit} bytes")
