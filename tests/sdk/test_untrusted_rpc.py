"""The JSON-RPC transport to untrusted nodes, against a real anvil and against scripted servers
that misbehave the ways real ones do: closing kept-alive connections, answering HTML, answering
JSON nested deep enough to overflow a recursive decoder."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
from anvil_helpers import Deployed

from cityledger.sdk import untrusted_rpc
from cityledger.sdk.errors import LedgerInputError, LedgerTransportError
from cityledger.sdk.untrusted_rpc import NodeUnavailable, UntrustedNode


def raw_call(url: str, method: str, params: list[Any]) -> Any:
    body: dict[str, Any] = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
    return requests.post(url, json=body, timeout=10).json()["result"]


def test_a_request_sent_is_answered_later_in_call_order(deployed: Deployed) -> None:
    url = deployed.anvil.url
    node = UntrustedNode(url)
    node.send([("eth_chainId", []), ("eth_getBlockByNumber", ["0x0", False])])
    with pytest.raises(RuntimeError, match="not been read"):
        node.send([("eth_chainId", [])])
    chain_id, genesis = node.answers()
    assert chain_id["result"] == raw_call(url, "eth_chainId", [])
    assert (
        genesis["result"]["hash"] == raw_call(url, "eth_getBlockByNumber", ["0x0", False])["hash"]
    )
    # A JSON-RPC error is handed back by `answers`, raised by `call`.
    node.send([("eth_noSuchMethod", [])])
    (unknown,) = node.answers()
    assert "error" in unknown
    with pytest.raises(LedgerTransportError, match="eth_noSuchMethod"):
        node.call("eth_noSuchMethod", [])
    assert node.requests == 3


def test_an_answer_over_the_size_bound_is_refused_and_the_node_stays_usable(
    deployed: Deployed, monkeypatch: pytest.MonkeyPatch
) -> None:
    node = UntrustedNode(deployed.anvil.url)
    monkeypatch.setattr(untrusted_rpc, "MAX_RESPONSE_BYTES", 200)
    with pytest.raises(NodeUnavailable, match="answered more than 200 bytes"):
        node.call("eth_getBlockByNumber", ["0x0", True])
    monkeypatch.undo()
    assert node.call("eth_chainId", []) == raw_call(deployed.anvil.url, "eth_chainId", [])


class ScriptedNode:
    """An HTTP/1.1 server on a loopback port that answers every request with what `answer`
    returns for it (raw bytes of the body), then keeps or closes the connection."""

    def __init__(self, answer: Callable[[bytes], bytes], *, close_after_answer: bool) -> None:
        self.answer, self.close_after_answer = answer, close_after_answer
        self.connections = 0
        self.server = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.server.getsockname()[1]}"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self.server.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._handle, args=(connection,), daemon=True).start()

    def _handle(self, connection: socket.socket) -> None:
        with connection, connection.makefile("rb") as reader:
            while True:
                headers = {}
                if not reader.readline():  # the request line, or the client is gone
                    return
                while (line := reader.readline().strip()) != b"":
                    key, _, value = line.partition(b":")
                    headers[key.strip().lower()] = value.strip()
                body = self.answer(reader.read(int(headers[b"content-length"])))
                connection.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    + f"Content-Length: {len(body)}\r\n\r\n".encode()
                    + body
                )
                if self.close_after_answer:  # as a node does with idle kept-alive connections
                    return

    def stop(self) -> None:
        self.server.close()


@pytest.fixture
def scripted() -> Iterator[Callable[..., ScriptedNode]]:
    started: list[ScriptedNode] = []

    def start(
        answer: Callable[[bytes], bytes], *, close_after_answer: bool = False
    ) -> ScriptedNode:
        started.append(ScriptedNode(answer, close_after_answer=close_after_answer))
        return started[-1]

    yield start
    for node in started:
        node.stop()


def echo_chain_id(request: bytes) -> bytes:
    return json.dumps({"jsonrpc": "2.0", "id": json.loads(request)["id"], "result": "0x1"}).encode()


def test_a_node_that_closes_kept_alive_connections_is_asked_again_on_a_new_one(
    scripted: Callable[..., ScriptedNode],
) -> None:
    server = scripted(echo_chain_id, close_after_answer=True)
    node = UntrustedNode(server.url)
    assert [node.call("eth_chainId", []) for _ in range(3)] == ["0x1"] * 3
    assert server.connections == 3
    assert node.requests == 5  # the second and third were each sent twice


@pytest.mark.parametrize(
    ("body", "calls", "refusal"),
    [
        (b"<html>502 Bad Gateway</html>", 1, "did not answer JSON-RPC"),
        (b"[" * 200_000, 1, "did not answer JSON-RPC.*nested deeper"),
        (b'{"jsonrpc":"2.0","id":7,"result":"0x1"}', 1, "did not answer call 1 of 1"),
        (b'[{"jsonrpc":"2.0","id":0,"result":"0x1"}]', 2, "did not answer call 2 of 2"),
        (b'{"jsonrpc":"2.0","id":0}', 1, "did not answer call 1 of 1"),
    ],
)
def test_answers_that_are_not_json_rpc_are_refused_by_name(
    scripted: Callable[..., ScriptedNode], body: bytes, calls: int, refusal: str
) -> None:
    node = UntrustedNode(scripted(lambda _: body).url)
    node.send([("eth_chainId", [])] * calls)
    with pytest.raises(NodeUnavailable, match=refusal):
        node.answers()


def test_a_node_that_is_not_there_is_named() -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    with pytest.raises(NodeUnavailable, match=f"nothing answers at http://127.0.0.1:{port}"):
        UntrustedNode(f"http://127.0.0.1:{port}").call("eth_chainId", [])
    with pytest.raises(LedgerInputError, match="not a node's http"):
        UntrustedNode("ftp://127.0.0.1/")
