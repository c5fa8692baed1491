"""Restart and crash safety of a real node process: SIGTERM, SIGINT and kill -9."""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path
from typing import Any, cast

import requests
from hexbytes import HexBytes
from node_helpers import NodeProcess, deploy_emitter, free_port
from web3 import Web3
from web3.exceptions import TransactionNotFound


def _receipt_view(w3: Web3, tx_hash: HexBytes) -> dict[str, Any]:
    receipt = w3.eth.get_transaction_receipt(tx_hash)
    view: dict[str, Any] = dict(receipt)
    view["logs"] = [dict(log) for log in receipt["logs"]]
    return view


def test_clean_shutdown_and_resume(tmp_path: Path) -> None:
    node = NodeProcess(tmp_path / "data", free_port())
    node.start()
    w3 = node.web3()
    emitter = deploy_emitter(w3, node.admin())
    head = w3.eth.get_block("latest")
    info = node.dev_info
    assert node.stop(signal.SIGTERM) == 0
    node.start()
    assert node.dev_info["devAccount"] == info["devAccount"]
    assert w3.eth.get_block("latest")["hash"] == head["hash"]
    assert len(w3.eth.get_code(emitter.address)) > 0
    assert node.stop(signal.SIGINT) == 0


def test_kill_9_loses_no_acknowledged_transaction(tmp_path: Path) -> None:
    node = NodeProcess(tmp_path / "data", free_port())
    node.start()
    w3 = node.web3()
    admin = node.admin()
    emitter = deploy_emitter(w3, admin)
    chain_id = w3.eth.chain_id
    nonce = w3.eth.get_transaction_count(admin.address, "pending")
    signed = [
        admin.sign_transaction(
            {
                "to": emitter.address,
                "data": emitter.encode_abi("store", [i, i + 1]),
                "gas": 100_000,
                "maxFeePerGas": 0,
                "maxPriorityFeePerGas": 0,
                "nonce": nonce + i,
                "chainId": chain_id,
            }
        )
        for i in range(400)
    ]
    acknowledged: dict[HexBytes, dict[str, Any]] = {}
    sent: list[HexBytes] = []
    stop = threading.Event()

    def stream() -> None:
        for tx in signed:
            if stop.is_set():
                return
            try:
                sent.append(w3.eth.send_raw_transaction(tx.raw_transaction))
            except requests.RequestException:
                return  # the node was killed, perhaps in the middle of its answer

    def collect() -> None:
        while not stop.is_set():
            for tx_hash in list(sent):
                if tx_hash in acknowledged:
                    continue
                try:
                    acknowledged[tx_hash] = _receipt_view(w3, tx_hash)
                except TransactionNotFound:
                    break
                except requests.ConnectionError:
                    return  # the node was killed

    workers = [threading.Thread(target=stream), threading.Thread(target=collect)]
    for worker in workers:
        worker.start()
    deadline = time.monotonic() + 60
    while len(acknowledged) < 60 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(acknowledged) >= 60, "the node returned too few receipts"
    assert node.stop(signal.SIGKILL) == -signal.SIGKILL
    stop.set()
    for worker in workers:
        worker.join()

    node.start()
    head = w3.eth.get_block("latest")
    for tx_hash, receipt in acknowledged.items():
        assert _receipt_view(w3, tx_hash) == receipt
    # The head block is whole: a receipt and an event for each of its transactions.
    for included in head["transactions"]:
        assert w3.eth.get_transaction_receipt(cast(HexBytes, included))["blockHash"] == head["hash"]
    assert len(w3.eth.get_logs({"blockHash": head["hash"]})) == len(head["transactions"])
    # Receipts were collected in nonce order, so the state holds at least that prefix.
    assert emitter.functions.values(len(acknowledged) - 1).call() == len(acknowledged)
    node.stop()
