"""The clients integrators bring, unchanged, against a real dev node and a real 4-validator
network: web3.py (sync and async, over HTTP and over WebSocket), and ethers v6 and viem 2 from
npm (pinned in package.json, run by node on tests/clients/*_flow.mjs). Each deploys a contract,
sends, waits for the receipt, calls, estimates gas, decodes reverts (a custom error, a reason
string, a panic), reads logs by query, by filter and by subscription, sends a batch and
transfers value. `eth_getProof` is checked with the SDK's trie-proof code against the block's
state root."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_typing import ChecksumAddress
from eth_utils import keccak
from hexbytes import HexBytes
from node_helpers import EMITTER, NodeProcess, free_port
from web3 import AsyncHTTPProvider, AsyncWeb3, Web3, WebSocketProvider
from web3.exceptions import ContractCustomError, ContractLogicError, ContractPanicError

from cityledger.node.initialize import dev_accounts
from cityledger.sdk.proofs import verify_account, verify_storage
from cityledger.testnet.network import DEFAULT_PASSPHRASE, create, start, stop, wait_for_block

pytestmark = pytest.mark.slow

HERE = Path(__file__).parent
EMITTER_FILE = HERE.parent / "node" / "emitter.json"
TOO_LARGE = 10**19  # above Emitter.LIMIT


@dataclass(frozen=True)
class Endpoint:
    name: str
    http: str
    ws: str
    chain_id: int
    key: str  # a funded, permitted account's private key (0x hex)


@pytest.fixture(scope="module")
def dev(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Endpoint]:
    node = NodeProcess(tmp_path_factory.mktemp("dev") / "data", free_port())
    node.start()
    try:
        url = node.url
        yield Endpoint(
            "dev node",
            url,
            url.replace("http://", "ws://"),
            int(node.dev_info["chainId"]),
            dev_accounts(1)[0].private_key,
        )
    finally:
        node.stop()


@pytest.fixture(scope="module")
def testnet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Endpoint]:
    info = create(tmp_path_factory.mktemp("testnet") / "net", validators=4)
    start(info)
    try:
        wait_for_block(info, 1)
        admin = next(a for a in info.admins if a.city == "Qiqihar")
        keystore = json.loads(Path(admin.keystore).read_text())
        key = "0x" + bytes(Account.decrypt(keystore, DEFAULT_PASSPHRASE)).hex()
        node = next(n for n in info.nodes if n.city == "Mudanjiang")  # not the admin's city
        yield Endpoint(
            "testnet", node.rpc_url, node.rpc_url.replace("http://", "ws://"), info.chain_id, key
        )
    finally:
        stop(info)


ENDPOINTS = ["dev", "testnet"]


@pytest.fixture(params=ENDPOINTS)
def endpoint(request: pytest.FixtureRequest) -> Endpoint:
    found: Endpoint = request.getfixturevalue(request.param)
    return found


# ---------------------------------------------------------------- ethers and viem


def run_flow(script: str, endpoint: Endpoint) -> dict[str, Any]:
    node = shutil.which("node")
    assert node is not None, "Node.js is needed (scripts/bootstrap installs the npm packages)"
    completed = subprocess.run(
        [node, str(HERE / script)],
        env={
            **os.environ,
            "RPC_URL": endpoint.http,
            "WS_URL": endpoint.ws,
            "CHAIN_ID": str(endpoint.chain_id),
            "PRIVATE_KEY": endpoint.key,
            "EMITTER": str(EMITTER_FILE),
        },
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    lines = completed.stdout.strip().splitlines()
    assert lines, completed.stderr
    seen: dict[str, Any] = json.loads(lines[-1])
    assert completed.returncode == 0 and "failure" not in seen, seen.get(
        "failure", completed.stderr
    )
    return seen


def check_common(seen: dict[str, Any]) -> None:
    assert seen["deployed"] is True and seen["value"] == "42" and seen["estimate"] is True
    assert seen["customError"]["name"] == "TooLarge"
    assert seen["customError"]["args"] == [str(TOO_LARGE), str(10**18)]
    assert seen["reasonString"]["reason"] == "no entry"
    assert seen["panic"]["name"] == "Panic" and seen["panic"]["args"] == ["18"]
    assert seen["queriedLogs"] == ["42"]
    assert seen["subscribedEvent"] == "99" and seen["newHead"] is True
    assert seen["transferred"] == "12345"


def test_ethers(endpoint: Endpoint) -> None:
    seen = run_flow("ethers_flow.mjs", endpoint)
    check_common(seen)
    assert seen["receiptStatus"] == 1
    assert seen["polledEvent"] == "99"  # eth_newFilter + eth_getFilterChanges
    assert seen["batch"] == [1, 2, 3]


def test_viem(endpoint: Endpoint) -> None:
    seen = run_flow("viem_flow.mjs", endpoint)
    check_common(seen)
    assert seen["receiptStatus"] == "success"
    assert seen["filteredEvents"] == ["99"] and seen["filteredBlocks"] is True
    assert seen["batch"] == [True, True, True]


# ---------------------------------------------------------------- web3.py


def fees(chain_id: int, nonce: int) -> dict[str, Any]:
    return {
        "chainId": chain_id,
        "nonce": nonce,
        "maxFeePerGas": 0,
        "maxPriorityFeePerGas": 0,
        "gas": 2_000_000,
    }


def test_web3_sync_over_http(endpoint: Endpoint) -> None:
    w3 = Web3(Web3.HTTPProvider(endpoint.http, request_kwargs={"timeout": 30}))
    account: LocalAccount = Account.from_key(endpoint.key)

    def send(tx: dict[str, Any]) -> Any:
        nonce = w3.eth.get_transaction_count(account.address, "pending")
        signed = account.sign_transaction({**fees(endpoint.chain_id, nonce), **tx})
        return w3.eth.wait_for_transaction_receipt(
            w3.eth.send_raw_transaction(signed.raw_transaction), timeout=60, poll_latency=0.1
        )

    deployed = send({"data": EMITTER["bytecode"]})
    contract = w3.eth.contract(address=deployed["contractAddress"], abi=EMITTER["abi"])
    stored = contract.events.Stored.create_filter(from_block="latest")
    heads = w3.eth.filter("latest")
    assert send({"to": contract.address, "data": contract.encode_abi("store", [1, 42])})["status"]
    assert contract.functions.values(1).call() == 42
    assert contract.functions.store(2, 7).estimate_gas({"from": account.address}) > 21_000
    with pytest.raises(ContractCustomError):
        contract.functions.store(1, TOO_LARGE).call()
    with pytest.raises(ContractLogicError, match="no entry"):
        contract.functions.fail("no entry").call()
    with pytest.raises(ContractPanicError, match="0x12: Division by zero"):
        contract.functions.divide(1, 0).call()
    assert [e["args"]["value"] for e in stored.get_new_entries()] == [42]
    assert heads.get_new_entries()
    with w3.batch_requests() as batch:
        batch.add(w3.eth.get_block_number())
        batch.add(w3.eth.get_balance(account.address))
        number, balance = batch.execute()
    assert int(number) > 0 and int(balance) > 0  # type: ignore[call-overload]
    recipient = Account.create().address
    send({"to": recipient, "value": 12345, "gas": 21_000})
    assert w3.eth.get_balance(recipient) == 12345
    check_proof(w3, contract.address, key=1, expected=42)


def check_proof(w3: Web3, address: ChecksumAddress, key: int, expected: int) -> None:
    """eth_getProof of `values[key]` (mapping at slot 0), checked against the state root of
    the block it names, by the SDK's own trie walk."""
    block = w3.eth.get_block("latest")
    slot = int.from_bytes(keccak(key.to_bytes(32, "big") + bytes(32)), "big")
    # web3's stubs type get_proof's arguments as one tuple; it takes them as any client does.
    proof: Any = cast(Any, w3.eth).get_proof(address, [slot], block["number"])
    account = verify_account(
        bytes(block["stateRoot"]),
        bytes.fromhex(address[2:]),
        [bytes(HexBytes(node)) for node in proof["accountProof"]],
    )
    assert account.storage_root == HexBytes(proof["storageHash"])
    assert account.code_hash == keccak(bytes(w3.eth.get_code(address, block["number"])))
    (storage,) = proof["storageProof"]
    nodes = [bytes(HexBytes(n)) for n in storage["proof"]]
    assert verify_storage(account.storage_root, slot, nodes) == expected
    assert int.from_bytes(bytes(storage["value"]), "big") == expected  # web3 shows it as bytes


async def async_flow(w3: AsyncWeb3[Any], endpoint: Endpoint, websocket: bool) -> None:
    account: LocalAccount = Account.from_key(endpoint.key)

    async def send(tx: dict[str, Any]) -> Any:
        nonce = await w3.eth.get_transaction_count(account.address, "pending")
        signed = account.sign_transaction({**fees(endpoint.chain_id, nonce), **tx})
        tx_hash = await w3.eth.send_raw_transaction(signed.raw_transaction)
        return await w3.eth.wait_for_transaction_receipt(tx_hash, timeout=60, poll_latency=0.1)

    deployed = await send({"data": EMITTER["bytecode"]})
    contract = w3.eth.contract(address=deployed["contractAddress"], abi=EMITTER["abi"])
    stored = await contract.events.Stored.create_filter(from_block="latest")
    if websocket:
        subscription = await w3.eth.subscribe("logs", {"address": contract.address})
    data = contract.encode_abi("store", [1, 42])
    assert (await send({"to": contract.address, "data": data}))["status"] == 1
    assert await contract.functions.values(1).call() == 42
    assert await contract.functions.store(2, 7).estimate_gas({"from": account.address}) > 21_000
    with pytest.raises(ContractCustomError):
        await contract.functions.store(1, TOO_LARGE).call()
    with pytest.raises(ContractLogicError, match="no entry"):
        await contract.functions.fail("no entry").call()
    with pytest.raises(ContractPanicError):
        await contract.functions.divide(1, 0).call()
    assert [e["args"]["value"] for e in await stored.get_new_entries()] == [42]
    if websocket:
        async with asyncio.timeout(30):
            async for message in w3.socket.process_subscriptions():
                assert message["subscription"] == subscription
                assert int.from_bytes(bytes(message["result"]["data"]), "big") == 42
                break
        assert await w3.eth.unsubscribe(subscription)
    async with w3.batch_requests() as batch:
        batch.add(w3.eth.get_block_number())
        batch.add(w3.eth.get_balance(account.address))
        number, balance = await batch.async_execute()
    assert int(number) > 0 and int(balance) > 0  # type: ignore[call-overload]
    recipient = Account.create().address
    await send({"to": recipient, "value": 12345, "gas": 21_000})
    assert await w3.eth.get_balance(recipient) == 12345


def test_web3_async_over_http(endpoint: Endpoint) -> None:
    async def over_http() -> None:
        provider = AsyncHTTPProvider(endpoint.http)
        try:
            await async_flow(AsyncWeb3(provider), endpoint, websocket=False)
        finally:
            await provider.disconnect()  # its aiohttp session, which outlives the loop otherwise

    asyncio.run(over_http())


def test_web3_async_over_websocket(endpoint: Endpoint) -> None:
    async def over_websocket() -> None:
        async with AsyncWeb3(WebSocketProvider(endpoint.ws)) as w3:
            await async_flow(w3, endpoint, websocket=True)

    asyncio.run(over_websocket())
