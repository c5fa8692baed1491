"""The JSON-RPC protocol itself, raw over HTTP: error codes, batches, limits, fuzzing."""

from __future__ import annotations

import json
import socket
from typing import Any

import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from node_helpers import NodeProcess, deploy_emitter

PARSE_ERROR, INVALID_REQUEST, METHOD_NOT_FOUND, INVALID_PARAMS = -32700, -32600, -32601, -32602
REVERTED, EXECUTION_ERROR, TX_REJECTED, LIMIT_EXCEEDED = 3, -32000, -32003, -32005


def raw_post(node: NodeProcess, body: bytes) -> requests.Response:
    return requests.post(
        node.url, data=body, headers={"content-type": "application/json"}, timeout=10
    )


def error_code(response: dict[str, Any]) -> int:
    code: int = response["error"]["code"]
    return code


def test_parse_error(node: NodeProcess) -> None:
    reply = raw_post(node, b'{"jsonrpc": "2.0", "method": ')
    assert reply.status_code == 200
    assert error_code(reply.json()) == PARSE_ERROR
    assert reply.json()["id"] is None


def test_invalid_requests(node: NodeProcess) -> None:
    for payload in (
        42,
        "eth_blockNumber",
        {"jsonrpc": "1.0", "id": 1, "method": "eth_blockNumber"},
        {"jsonrpc": "2.0", "id": 1, "method": 7},
        {"jsonrpc": "2.0", "id": [1], "method": "x"},
    ):
        assert error_code(node.post(payload).json()) == INVALID_REQUEST
    assert error_code(node.post([]).json()) == INVALID_REQUEST


def test_method_not_found(node: NodeProcess) -> None:
    reply = node.rpc("eth_mine")
    assert error_code(reply) == METHOD_NOT_FOUND
    assert "eth_mine" in reply["error"]["message"]


def test_invalid_params(node: NodeProcess) -> None:
    bad = [
        ("eth_getBalance", ["0x1234", "latest"]),
        ("eth_getBalance", []),
        ("eth_getBlockByNumber", ["0x1", "yes"]),
        ("eth_getBlockByNumber", ["0xzz", False]),
        ("eth_getTransactionByHash", ["0x00"]),
        ("eth_call", ["not an object"]),
        ("eth_getLogs", [{"topics": "0x00"}]),
        ("eth_getLogs", [{"fromBlock": "0x2", "toBlock": "0x1"}]),
        ("eth_blockNumber", [1]),
        ("eth_chainId", {"named": "params"}),
    ]
    for method, params in bad:
        reply = node.post({"jsonrpc": "2.0", "id": 3, "method": method, "params": params}).json()
        assert error_code(reply) == INVALID_PARAMS, (method, params, reply)
        assert reply["id"] == 3


def test_execution_errors_carry_revert_data(node: NodeProcess) -> None:
    emitter = deploy_emitter(node.web3(), node.admin())
    call = {"to": emitter.address, "data": emitter.encode_abi("store", [1, 10**19])}
    reply = node.rpc("eth_call", [call, "latest"])
    assert error_code(reply) == REVERTED
    assert reply["error"]["data"].startswith("0x")
    assert len(reply["error"]["data"]) == 2 + 2 * (4 + 64)
    out_of_gas = node.rpc(
        "eth_call",
        [{**call, "data": emitter.encode_abi("store", [1, 1]), "gas": "0x5300"}, "latest"],
    )
    assert error_code(out_of_gas) == EXECUTION_ERROR
    missing = node.rpc("eth_getBalance", [emitter.address, "0xffffff"])
    assert error_code(missing) == EXECUTION_ERROR


def test_refused_transaction_code(node: NodeProcess) -> None:
    reply = node.rpc("eth_sendRawTransaction", ["0xdeadbeef"])
    assert error_code(reply) == TX_REJECTED
    assert "cannot be decoded" in reply["error"]["message"]


def test_batch_mixes_results_and_errors(node: NodeProcess) -> None:
    batch = [
        {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId"},
        {"jsonrpc": "2.0", "id": "two", "method": "nope"},
        {"jsonrpc": "2.0", "method": "eth_blockNumber"},  # a notification: no reply
        17,
    ]
    replies = node.post(batch).json()
    assert [r["id"] for r in replies] == [1, "two", None]
    assert replies[0]["result"] == hex(node.dev_info["chainId"])
    assert error_code(replies[1]) == METHOD_NOT_FOUND
    assert error_code(replies[2]) == INVALID_REQUEST


def test_only_post_to_the_root_is_served(node: NodeProcess) -> None:
    assert requests.get(node.url, timeout=10).status_code == 405
    elsewhere = requests.post(node.url + "/rpc", data=b"{}", timeout=10)
    assert elsewhere.status_code == 404
    assert "POST to /" in elsewhere.text
    # A body larger than the limit is refused from its declared length, before it is sent.
    host, port = node.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as connection:
        connection.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 999999999\r\n\r\n")
        assert connection.recv(4096).startswith(b"HTTP/1.1 413 ")


def test_a_notification_gets_no_content(node: NodeProcess) -> None:
    reply = raw_post(node, b'{"jsonrpc": "2.0", "method": "eth_chainId"}')
    assert reply.status_code == 204
    assert reply.content == b""


def test_limits(node: NodeProcess) -> None:
    too_many = [{"jsonrpc": "2.0", "id": i, "method": "eth_chainId"} for i in range(201)]
    assert error_code(node.post(too_many).json()) == LIMIT_EXCEEDED
    huge = json.dumps(
        {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": ["0x" + "00" * 600_000]}
    ).encode()
    reply = raw_post(node, huge)
    assert reply.status_code == 413
    assert error_code(reply.json()) == LIMIT_EXCEEDED
    unfiltered = node.rpc("eth_getLogs", [{"fromBlock": "0x0", "toBlock": hex(20_000)}])
    assert error_code(unfiltered) == LIMIT_EXCEEDED
    assert "10000 blocks" in unfiltered["error"]["message"]


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
methods = st.sampled_from(
    [
        "eth_getBalance",
        "eth_call",
        "eth_getLogs",
        "eth_getBlockByNumber",
        "eth_getStorageAt",
        "eth_sendRawTransaction",
        "eth_feeHistory",
        "eth_estimateGas",
        "eth_getTransactionCount",
        "eth_getBlockByHash",
        "eth_getTransactionReceipt",
        "eth_getCode",
        "unknown_method",
    ]
)
hexish = st.from_regex(r"\A0x[0-9a-fA-F]{0,66}\Z") | st.sampled_from(
    ["latest", "pending", "earliest"]
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(method=methods, params=st.lists(json_values | hexish, max_size=4))
def test_random_params_get_json_rpc_answers(
    node: NodeProcess, method: str, params: list[Any]
) -> None:
    reply = node.post({"jsonrpc": "2.0", "id": 5, "method": method, "params": params})
    assert reply.status_code == 200
    body = reply.json()
    assert body["id"] == 5
    assert ("result" in body) != ("error" in body)
    if "error" in body:
        assert isinstance(body["error"]["code"], int)
        assert "Traceback" not in body["error"]["message"]
        assert body["error"]["code"] != -32603, body


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=st.binary(max_size=200) | json_values.map(lambda v: json.dumps(v).encode()))
def test_random_bodies_get_json_rpc_errors(node: NodeProcess, body: bytes) -> None:
    reply = raw_post(node, body)
    assert reply.status_code in (200, 204)
    if reply.status_code == 200:
        answers = reply.json()
        for answer in answers if isinstance(answers, list) else [answers]:
            assert answer["jsonrpc"] == "2.0"
            assert "error" in answer
    assert node.rpc("eth_chainId")["result"] == hex(node.dev_info["chainId"])


def test_the_dev_key_file_is_readable_by_its_owner_only(node: NodeProcess) -> None:
    for secret in ("dev.json", "node.key"):
        assert (node.data_dir / secret).stat().st_mode & 0o077 == 0, secret
