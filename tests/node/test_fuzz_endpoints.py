"""Hostile input against a running validator's two ports (issue 14's fuzz harness).

A one-validator network with one observer is created; only the validator runs. Hypothesis
generates more than 10,000 requests per run: valid JSON-RPC methods with mutated parameters,
random JSON, deep nesting, huge numbers, random bytes, truncated and oversized bodies on the
JSON-RPC port; random and nested RLP, and envelopes signed by a stranger, by a known peer (the
observer's key) with random payloads for every topic, stale and replayed, on the p2p port.
Every JSON-RPC answer must be a JSON-RPC result or error, every p2p refusal a 4xx naming the
fault, no answer may carry a traceback, and afterwards the node is still up and still makes
final blocks that include a transaction.
"""

from __future__ import annotations

import http.client
import json
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import rlp
from eth_account import Account
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cityledger.node.consensus.signing import KeySigner
from cityledger.node.p2p.transport import (
    MAX_CLOCK_SKEW_SECONDS,
    NONCE_BYTES,
    TOPIC_BLOCK,
    TOPIC_CONSENSUS,
    TOPIC_HEAD,
    TOPIC_PREVIEW,
    TOPIC_TRANSACTIONS,
    Envelope,
)
from cityledger.sdk.signers import load_keystore
from cityledger.testnet.network import (
    TestnetInfo,
    create,
    rpc,
    start_node,
    stop,
    wait_for_block,
)

pytestmark = pytest.mark.slow

PASSPHRASE = "fuzz"
RPC_METHODS = (
    "web3_clientVersion",
    "net_version",
    "net_listening",
    "eth_chainId",
    "eth_syncing",
    "eth_accounts",
    "eth_blockNumber",
    "eth_gasPrice",
    "eth_maxPriorityFeePerGas",
    "eth_feeHistory",
    "eth_getBlockByNumber",
    "eth_getBlockByHash",
    "eth_getTransactionByHash",
    "eth_getTransactionReceipt",
    "eth_getTransactionCount",
    "eth_getBalance",
    "eth_getCode",
    "eth_getStorageAt",
    "eth_call",
    "eth_estimateGas",
    "eth_sendRawTransaction",
    "eth_getLogs",
    "cityledger_getFinalityCertificate",
    "cityledger_validators",
    "qbft_getValidatorsByBlockNumber",
    "cityledger_peers",
    "cityledger_consensusStatus",
    "cityledger_getEvidence",
    "no_such_method",
)
TOPICS = (TOPIC_CONSENSUS, TOPIC_TRANSACTIONS, TOPIC_PREVIEW, TOPIC_HEAD, TOPIC_BLOCK, b"nope")


@dataclass
class Port:
    """One keep-alive HTTP connection, reopened when the server closes it."""

    url: str
    path: str
    connection: http.client.HTTPConnection | None = None

    def post(self, body: bytes) -> tuple[int, bytes]:
        for attempt in range(2):
            if self.connection is None:
                parts = urlsplit(self.url)
                self.connection = http.client.HTTPConnection(
                    parts.hostname or "", parts.port, timeout=30
                )
            try:
                self.connection.request("POST", self.path, body)
                response = self.connection.getresponse()
                return response.status, response.read()
            except (http.client.HTTPException, ConnectionError):
                self.connection.close()
                self.connection = None
                if attempt:
                    raise
        raise AssertionError("unreachable")


@dataclass
class Target:
    info: TestnetInfo
    rpc: Port
    p2p: Port
    peer: KeySigner  # the observer's node key: a known peer of the validator
    stranger: KeySigner


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    directory = tmp_path_factory.mktemp("fuzz") / "net"
    info = create(directory, validators=1, observers=1, passphrase=PASSPHRASE)
    validator, observer = info.nodes
    start_node(info, validator)
    try:
        wait_for_block(info, 1, timeout=120)
        peer_key = bytes.fromhex((Path(observer.data_dir) / "node.key").read_text().strip()[2:])
        yield Target(
            info,
            Port(validator.rpc_url, "/"),
            Port(validator.p2p_url, "/p2p"),
            KeySigner(peer_key),
            KeySigner(b"\x07" * 32),
        )
    finally:
        stop(info)


def check_rpc_answer(status: int, body: bytes) -> None:
    assert b"Traceback" not in body
    if status == 204:
        assert body == b""
        return
    assert status in (200, 413), (status, body[:200])
    answer = json.loads(body)
    for response in answer if isinstance(answer, list) else [answer]:
        assert response["jsonrpc"] == "2.0"
        if "error" in response:
            assert isinstance(response["error"]["code"], int)
            assert isinstance(response["error"]["message"], str) and response["error"]["message"]
        else:
            assert "result" in response


def check_p2p_answer(status: int, body: bytes) -> None:
    assert b"Traceback" not in body
    assert status in (200, 400, 403, 404, 413, 429), (status, body[:200])
    if status != 200:
        assert body, "a refusal names the fault"


# ---------------------------------------------------------------- JSON-RPC

json_leaves = (
    st.none()
    | st.booleans()
    | st.integers(-(2**300), 2**300)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
)
json_values = st.recursive(
    json_leaves,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)
hex_quantities = st.integers(0, 2**300).map(hex) | st.sampled_from(
    ["0x", "0x00", "0xzz", "latest", "pending", "earliest", "finalized", "safe", "0x" + "f" * 5000]
)
hex_data = st.binary(max_size=64).map(lambda b: "0x" + b.hex()) | st.sampled_from(
    ["0x0", "0xg1", "0x" + "ab" * 20, "0x" + "cd" * 32, "0x02" + "c0" * 200]
)
call_objects = st.fixed_dictionaries(
    {},
    optional={
        "from": hex_data,
        "to": hex_data,
        "data": hex_data,
        "input": hex_data,
        "gas": hex_quantities,
        "value": hex_quantities,
    },
)
log_filters = st.fixed_dictionaries(
    {},
    optional={
        "fromBlock": hex_quantities,
        "toBlock": hex_quantities,
        "blockHash": hex_data,
        "address": hex_data | st.lists(hex_data, max_size=3),
        "topics": st.lists(st.none() | hex_data | st.lists(hex_data, max_size=2), max_size=5),
    },
)
params = st.lists(
    hex_quantities | hex_data | call_objects | log_filters | st.booleans() | json_values,
    max_size=4,
)
requests_ = st.fixed_dictionaries(
    {"jsonrpc": st.just("2.0") | json_leaves, "method": st.sampled_from(RPC_METHODS)},
    optional={"id": st.integers(0, 2**64) | st.text(max_size=8) | st.none(), "params": params},
)


@settings(
    max_examples=4_000,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(request=requests_ | st.lists(requests_, min_size=1, max_size=4))
def test_json_rpc_methods_with_mutated_parameters(target: Target, request: Any) -> None:
    check_rpc_answer(*target.rpc.post(json.dumps(request).encode()))


def nested(depth: int) -> bytes:
    return b'{"jsonrpc":"2.0","id":1,"method":"eth_call","params":' + b"[" * depth + b"]" * depth


raw_bodies = (
    json_values.map(lambda v: json.dumps(v).encode())
    | st.binary(max_size=300)
    | st.integers(100, 60_000).map(nested)
    | st.integers(4_300, 20_000).map(lambda n: b'{"id":' + b"9" * n + b"}")
    | st.tuples(requests_, st.integers(0, 200)).map(lambda t: json.dumps(t[0]).encode()[: t[1]])
    | st.text(max_size=200).map(lambda t: t.encode("utf-8", "surrogatepass"))
    | st.just(b"[" + b"{}," * 300 + b"{}]")  # a batch over the limit
    | st.integers(512 * 1024, 600 * 1024).map(lambda n: b" " * n)  # over the body limit
)


@settings(
    max_examples=2_000,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(body=raw_bodies)
def test_json_rpc_raw_bodies(target: Target, body: bytes) -> None:
    check_rpc_answer(*target.rpc.post(body))


# ---------------------------------------------------------------- p2p

rlp_items = st.recursive(
    st.binary(max_size=40), lambda inner: st.lists(inner, max_size=5), max_leaves=20
)


def deep_rlp(depth: int) -> bytes:
    encoded = b"\xc0"
    for _ in range(depth):
        size = len(encoded)
        if size < 56:
            encoded = bytes([0xC0 + size]) + encoded
        else:
            length = size.to_bytes((size.bit_length() + 7) // 8, "big")
            encoded = bytes([0xF7 + len(length)]) + length + encoded
    return encoded


payloads = (
    rlp_items.map(rlp.encode)
    | st.binary(max_size=200)
    | st.integers(17, 30_000).map(deep_rlp)
    | st.integers(0, 2**70).map(rlp.encode)
)


def sealed(signer: KeySigner, chain_id: int, topic: bytes, payload: bytes, age: float) -> bytes:
    """An envelope stamped `age` seconds ago (negative: in the future)."""
    stamped_ms = int((time.time() - age) * 1000)
    nonce = secrets.token_bytes(NONCE_BYTES)
    digest = Envelope.digest(chain_id, topic, payload, stamped_ms, nonce)
    return Envelope(topic, payload, stamped_ms, nonce, signer.address, signer.sign(digest)).encode()


@settings(
    max_examples=3_000,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    topic=st.sampled_from(TOPICS),
    payload=payloads,
    known=st.booleans(),
    age=st.sampled_from([0.0, 0.0, 0.0, MAX_CLOCK_SKEW_SECONDS + 5, -MAX_CLOCK_SKEW_SECONDS - 5]),
    cut=st.none() | st.integers(0, 100),
)
def test_p2p_envelopes(
    target: Target, topic: bytes, payload: bytes, known: bool, age: float, cut: int | None
) -> None:
    signer = target.peer if known else target.stranger
    body = sealed(signer, target.info.chain_id, topic, payload, age)
    status, answer = target.p2p.post(body if cut is None else body[:cut])
    check_p2p_answer(status, answer)
    if age or not known:
        assert status == 403, answer  # stale, early, or from a stranger: refused at the door


@settings(
    max_examples=1_000,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(body=payloads | rlp_items.map(lambda item: rlp.encode([b"consensus", item])))
def test_p2p_raw_bodies(target: Target, body: bytes) -> None:
    status, answer = target.p2p.post(body)
    check_p2p_answer(status, answer)
    assert status == 403


def test_a_replayed_envelope_is_refused(target: Target) -> None:
    body = sealed(target.peer, target.info.chain_id, TOPIC_HEAD, b"", 0.0)
    assert target.p2p.post(body)[0] == 200
    status, answer = target.p2p.post(body)
    assert status == 403 and b"replay" in answer


def test_after_the_fuzzing_the_node_still_finalizes_transactions(target: Target) -> None:
    # Module order: pytest runs this file's tests top to bottom, so this one runs last.
    validator = target.info.nodes[0]
    assert validator.pid is not None
    admin = load_keystore(Path(target.info.admins[0].keystore), PASSPHRASE)
    head = int(rpc(validator.rpc_url, "eth_blockNumber"), 16)
    account = Account.from_key(admin.private_key)
    signed = account.sign_transaction(
        {
            "type": 2,
            "chainId": target.info.chain_id,
            "nonce": int(rpc(validator.rpc_url, "eth_getTransactionCount", [admin.address]), 16),
            "to": admin.address,
            "value": 0,
            "gas": 21_000,
            "maxFeePerGas": 0,
            "maxPriorityFeePerGas": 0,
        }
    )
    tx_hash = rpc(
        validator.rpc_url, "eth_sendRawTransaction", ["0x" + signed.raw_transaction.hex()]
    )
    wait_for_block(target.info, head + 1, timeout=60)
    deadline = time.monotonic() + 30
    receipt = None
    while receipt is None and time.monotonic() < deadline:
        receipt = rpc(validator.rpc_url, "eth_getTransactionReceipt", [tx_hash])
        time.sleep(0.1)
    assert receipt is not None and receipt["status"] == "0x1"
