"""web3.py v8 against a real dev node: deploy, transact, call, receipts, logs, permissioning."""

from __future__ import annotations

from typing import Any, cast

import pytest
from eth_account import Account
from eth_utils import keccak
from hexbytes import HexBytes
from node_helpers import NodeProcess, deploy_emitter, send
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import ContractCustomError, ContractLogicError, Web3RPCError

from cityledger.contracts.artifacts import load_artifact


@pytest.fixture(scope="module")
def w3(node: NodeProcess) -> Web3:
    return node.web3()


@pytest.fixture(scope="module")
def emitter(node: NodeProcess, w3: Web3) -> Contract:
    return deploy_emitter(w3, node.admin())


def store(w3: Web3, node: NodeProcess, emitter: Contract, key: int, value: int) -> HexBytes:
    data = emitter.encode_abi("store", [key, value])
    return send(w3, node.admin(), {"to": emitter.address, "data": data, "gas": 200_000})


def test_connects_and_reports_chain(node: NodeProcess, w3: Web3) -> None:
    assert w3.is_connected()
    assert w3.eth.chain_id == node.dev_info["chainId"]
    assert w3.net.version == str(node.dev_info["chainId"])
    assert w3.eth.gas_price == 0
    assert w3.eth.syncing is False
    latest = w3.eth.get_block("latest")
    assert latest["baseFeePerGas"] == 0


def test_system_contracts_are_in_genesis(node: NodeProcess, w3: Web3) -> None:
    addresses = node.dev_info["systemContracts"]
    assert set(addresses) == {
        "Consortium",
        "DataGrants",
        "AccessLog",
        "LeakRegistry",
        "ResourceAllocation",
    }
    for address in addresses.values():
        assert len(w3.eth.get_code(address, block_identifier=0)) > 0
    consortium = w3.eth.contract(
        address=addresses["Consortium"], abi=load_artifact("Consortium").abi
    )
    assert consortium.functions.getValidators().call(block_identifier=0) == [
        node.dev_info["validator"]
    ]
    assert consortium.functions.isPermittedSender(node.admin().address).call()


def test_deploy_transact_call_and_receipt(node: NodeProcess, w3: Web3, emitter: Contract) -> None:
    tx_hash = store(w3, node, emitter, 7, 42)
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=30, poll_latency=0.05)
    assert receipt["status"] == 1
    assert receipt["from"] == node.admin().address
    assert receipt["to"] == emitter.address
    assert 0 < receipt["gasUsed"] <= receipt["cumulativeGasUsed"]
    assert emitter.functions.values(7).call() == 42
    (event,) = emitter.events.Stored().process_receipt(receipt)
    assert event["args"] == {"sender": node.admin().address, "key": 7, "value": 42}
    tx = w3.eth.get_transaction(tx_hash)
    assert tx["blockNumber"] == receipt["blockNumber"]
    assert tx["from"] == node.admin().address
    block = w3.eth.get_block(receipt["blockNumber"], full_transactions=False)
    assert tx_hash in block["transactions"]
    assert w3.eth.get_block(block["hash"])["number"] == block["number"]
    assert w3.eth.get_storage_at(emitter.address, 0) == b"\0" * 32


def test_build_transaction_fills_fees_and_gas(
    node: NodeProcess, w3: Web3, emitter: Contract
) -> None:
    admin = node.admin()
    tx = emitter.functions.store(8, 1).build_transaction(
        {"from": admin.address, "nonce": w3.eth.get_transaction_count(admin.address, "pending")}
    )
    assert tx["maxPriorityFeePerGas"] == 0
    assert tx["gas"] > 21_000
    signed = admin.sign_transaction(cast(dict[str, Any], tx))
    receipt = w3.eth.wait_for_transaction_receipt(
        w3.eth.send_raw_transaction(signed.raw_transaction), timeout=30, poll_latency=0.05
    )
    assert receipt["status"] == 1
    assert w3.eth.fee_history(3, "pending", [5.0])["baseFeePerGas"][-1] == 0


def test_reverts_carry_data(node: NodeProcess, emitter: Contract) -> None:
    with pytest.raises(ContractCustomError) as custom:
        emitter.functions.store(1, 10**19).call()
    selector = keccak(text="TooLarge(uint256,uint256)")[:4]
    assert str(custom.value.data).startswith("0x" + selector.hex())
    with pytest.raises(ContractLogicError, match="no such luck"):
        emitter.functions.fail("no such luck").call()
    with pytest.raises(ContractCustomError):
        emitter.functions.store(1, 10**19).estimate_gas({"from": node.admin().address})


def test_get_logs_filters(node: NodeProcess, w3: Web3, emitter: Contract) -> None:
    other = deploy_emitter(w3, node.admin())
    start = w3.eth.block_number + 1
    hashes = [store(w3, node, emitter, k, k * 10) for k in range(1, 4)]
    hashes.append(
        send(
            w3,
            node.admin(),
            {
                "to": other.address,
                "data": other.encode_abi("store", [99, 990]),
                "gas": 200_000,
            },
        )
    )
    hashes.append(
        send(
            w3,
            node.admin(),
            {
                "to": emitter.address,
                "data": emitter.encode_abi("tag", [b"t" * 32]),
                "gas": 200_000,
            },
        )
    )
    receipts = [
        w3.eth.wait_for_transaction_receipt(h, timeout=30, poll_latency=0.05) for h in hashes
    ]
    end = max(r["blockNumber"] for r in receipts)

    stored = emitter.events.Stored.get_logs(from_block=start)
    assert [e["args"]["key"] for e in stored] == [1, 2, 3]
    both = w3.eth.get_logs(
        {"fromBlock": start, "toBlock": end, "address": [emitter.address, other.address]}
    )
    assert len(both) == 5
    stored_topic = "0x" + keccak(text="Stored(address,uint256,uint256)").hex()
    by_topic = w3.eth.get_logs({"fromBlock": start, "toBlock": end, "topics": [stored_topic]})
    assert {log["address"] for log in by_topic} == {emitter.address, other.address}
    key_two = "0x" + (2).to_bytes(32, "big").hex()
    key_99 = "0x" + (99).to_bytes(32, "big").hex()
    by_key = w3.eth.get_logs(
        {"fromBlock": start, "toBlock": end, "topics": [stored_topic, None, [key_two, key_99]]}
    )
    assert sorted(int(log["topics"][2].hex(), 16) for log in by_key) == [2, 99]
    tagged = w3.eth.get_logs(
        {
            "fromBlock": start,
            "toBlock": end,
            "address": emitter.address,
            "topics": ["0x" + keccak(text="Tagged(bytes32)").hex()],
        }
    )
    assert len(tagged) == 1 and tagged[0]["transactionHash"] == hashes[-1]
    last_block = receipts[-1]["blockNumber"]
    in_last = w3.eth.get_logs({"fromBlock": last_block, "toBlock": last_block})
    assert hashes[-1] in {log["transactionHash"] for log in in_last}
    assert (
        w3.eth.get_logs({"fromBlock": end + 1, "toBlock": end + 1, "address": emitter.address})
        == []
    )
    by_hash = w3.eth.get_logs({"blockHash": receipts[0]["blockHash"], "address": emitter.address})
    assert receipts[0]["transactionHash"] in {log["transactionHash"] for log in by_hash}
    # logIndex and positions agree with the receipts
    for receipt in receipts:
        for log in receipt["logs"]:
            (same,) = [
                entry
                for entry in w3.eth.get_logs({"blockHash": receipt["blockHash"]})
                if entry["logIndex"] == log["logIndex"]
            ]
            assert same["transactionHash"] == receipt["transactionHash"]


def test_pending_nonce_and_queued_gap(node: NodeProcess, w3: Web3, emitter: Contract) -> None:
    admin = node.admin()
    base = w3.eth.get_transaction_count(admin.address, "pending")
    data = emitter.encode_abi("store", [500, 5])
    common = {
        "to": emitter.address,
        "data": data,
        "gas": 100_000,
        "maxFeePerGas": 0,
        "maxPriorityFeePerGas": 0,
        "chainId": w3.eth.chain_id,
    }
    later = admin.sign_transaction({**common, "nonce": base + 1})
    first = admin.sign_transaction({**common, "nonce": base})
    late_hash = w3.eth.send_raw_transaction(later.raw_transaction)
    assert w3.eth.get_transaction_count(admin.address, "pending") == base
    w3.eth.send_raw_transaction(first.raw_transaction)
    receipt = w3.eth.wait_for_transaction_receipt(late_hash, timeout=30, poll_latency=0.05)
    assert receipt["status"] == 1
    assert w3.eth.get_transaction_count(admin.address) == base + 2
    with pytest.raises(Web3RPCError, match="already used"):
        w3.eth.send_raw_transaction(first.raw_transaction)


def test_transaction_refusals_explain_themselves(node: NodeProcess, w3: Web3) -> None:
    stranger = Account.create()
    tx = {
        "to": stranger.address,
        "value": 0,
        "gas": 21_000,
        "maxFeePerGas": 0,
        "maxPriorityFeePerGas": 0,
        "nonce": 0,
        "chainId": w3.eth.chain_id,
    }
    with pytest.raises(Web3RPCError, match=f"sender {stranger.address} is not a registered agency"):
        w3.eth.send_raw_transaction(stranger.sign_transaction(tx).raw_transaction)
    admin = node.admin()
    nonce = w3.eth.get_transaction_count(admin.address, "pending")
    with pytest.raises(Web3RPCError, match="chain id 1"):
        w3.eth.send_raw_transaction(
            admin.sign_transaction({**tx, "nonce": nonce, "chainId": 1}).raw_transaction
        )
    with pytest.raises(Web3RPCError, match="exceeds the block gas limit"):
        w3.eth.send_raw_transaction(
            admin.sign_transaction({**tx, "nonce": nonce, "gas": 10**9}).raw_transaction
        )
    with pytest.raises(Web3RPCError, match="intrinsic"):
        w3.eth.send_raw_transaction(
            admin.sign_transaction({**tx, "nonce": nonce, "gas": 20_000}).raw_transaction
        )


def test_newly_registered_agency_can_send(node: NodeProcess, w3: Web3) -> None:
    agency = Account.create()
    consortium = w3.eth.contract(
        address=node.dev_info["systemContracts"]["Consortium"], abi=load_artifact("Consortium").abi
    )
    tx = {
        "to": agency.address,
        "value": 0,
        "gas": 21_000,
        "maxFeePerGas": 0,
        "maxPriorityFeePerGas": 0,
        "nonce": 0,
        "chainId": w3.eth.chain_id,
    }
    with pytest.raises(Web3RPCError, match="not a registered agency"):
        w3.eth.send_raw_transaction(agency.sign_transaction(tx).raw_transaction)
    register = consortium.encode_abi("registerAgency", [agency.address, "Transit Bureau", 2])
    receipt = w3.eth.wait_for_transaction_receipt(
        send(w3, node.admin(), {"to": consortium.address, "data": register, "gas": 500_000}),
        timeout=30,
        poll_latency=0.05,
    )
    assert receipt["status"] == 1
    receipt = w3.eth.wait_for_transaction_receipt(
        w3.eth.send_raw_transaction(agency.sign_transaction(tx).raw_transaction),
        timeout=30,
        poll_latency=0.05,
    )
    assert receipt["status"] == 1
    assert receipt["from"] == agency.address
