"""JSON-RPC 2.0 error codes (and EIP-1474's server range) and the exception that carries them."""

from __future__ import annotations

from typing import Any

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
# A revert, as geth and anvil report it: web3.py shows the reason and decodes `data` (revert
# data) into the contract's custom errors.
REVERTED = 3
# Server errors: execution failed otherwise (out of gas, invalid opcode), unknown block,
# transaction refused, limits.
EXECUTION_ERROR = -32000
TRANSACTION_REJECTED = -32003
LIMIT_EXCEEDED = -32005


class RpcError(Exception):
    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data

    def to_json(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.data is not None:
            error["data"] = self.data
        return error


def invalid_params(message: str) -> RpcError:
    return RpcError(INVALID_PARAMS, message)
