"""Every JSON-RPC method the node answers, in one table: its name, its handler, and how many
parameters it takes. The server looks methods up here and nowhere else."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from cityledger.node.rpc.cityledger_methods import CityledgerMethods
from cityledger.node.rpc.encoding import quantity
from cityledger.node.rpc.eth_methods import EthMethods

Handler = Callable[[list[Any]], Any]


@dataclass(frozen=True)
class Method:
    handler: Handler
    least_params: int
    most_params: int
    # Runs a client's EVM code: served by worker threads, never on the event loop that
    # consensus and peers share (see `cityledger.node.rpc.server.CallWorkers`).
    blocking: bool = False


MethodTable = Mapping[str, Method]


def method_table(eth: EthMethods, cityledger: CityledgerMethods | None = None) -> MethodTable:
    table = {
        "web3_clientVersion": Method(eth.client_version, 0, 0),
        "net_version": Method(eth.net_version, 0, 0),
        "net_listening": Method(lambda _: True, 0, 0),
        "eth_chainId": Method(eth.chain_id, 0, 0),
        "eth_syncing": Method(eth.syncing, 0, 0),
        "eth_accounts": Method(lambda _: [], 0, 0),
        "eth_blockNumber": Method(eth.block_number, 0, 0),
        "eth_gasPrice": Method(lambda _: quantity(0), 0, 0),
        "eth_maxPriorityFeePerGas": Method(lambda _: quantity(0), 0, 0),
        "eth_feeHistory": Method(eth.fee_history, 2, 3),
        "eth_getBlockByNumber": Method(eth.get_block_by_number, 1, 2),
        "eth_getBlockByHash": Method(eth.get_block_by_hash, 1, 2),
        "eth_getTransactionByHash": Method(eth.get_transaction_by_hash, 1, 1),
        "eth_getTransactionReceipt": Method(eth.get_transaction_receipt, 1, 1),
        "eth_getTransactionCount": Method(eth.get_transaction_count, 1, 2),
        "eth_getBalance": Method(eth.get_balance, 1, 2),
        "eth_getCode": Method(eth.get_code, 1, 2),
        "eth_getStorageAt": Method(eth.get_storage_at, 2, 3),
        "eth_getProof": Method(eth.get_proof, 2, 3),
        "eth_call": Method(eth.call, 1, 2, blocking=True),
        "eth_estimateGas": Method(eth.estimate_gas, 1, 2, blocking=True),
        "eth_simulateV1": Method(eth.simulate_v1, 1, 2, blocking=True),
        "eth_sendRawTransaction": Method(eth.send_raw_transaction, 1, 1),
        "eth_getLogs": Method(eth.get_logs, 1, 1),
        "eth_newFilter": Method(eth.new_filter, 1, 1),
        "eth_newBlockFilter": Method(eth.new_block_filter, 0, 0),
        "eth_newPendingTransactionFilter": Method(eth.new_pending_transaction_filter, 0, 0),
        "eth_getFilterChanges": Method(eth.get_filter_changes, 1, 1),
        "eth_getFilterLogs": Method(eth.get_filter_logs, 1, 1),
        "eth_uninstallFilter": Method(eth.uninstall_filter, 1, 1),
        "eth_getBlockReceipts": Method(eth.get_block_receipts, 1, 1),
        "eth_getTransactionByBlockNumberAndIndex": Method(
            eth.get_transaction_by_block_number_and_index, 2, 2
        ),
        "eth_getTransactionByBlockHashAndIndex": Method(
            eth.get_transaction_by_block_hash_and_index, 2, 2
        ),
        "eth_getRawTransactionByHash": Method(eth.get_raw_transaction_by_hash, 1, 1),
        "eth_getRawTransactionByBlockNumberAndIndex": Method(
            eth.get_raw_transaction_by_block_number_and_index, 2, 2
        ),
        "eth_getRawTransactionByBlockHashAndIndex": Method(
            eth.get_raw_transaction_by_block_hash_and_index, 2, 2
        ),
        "eth_getBlockTransactionCountByNumber": Method(
            eth.get_block_transaction_count_by_number, 1, 1
        ),
        "eth_getBlockTransactionCountByHash": Method(eth.get_block_transaction_count_by_hash, 1, 1),
        # No uncles on a BFT chain; clients still ask.
        "eth_getUncleCountByBlockNumber": Method(lambda _: quantity(0), 1, 1),
        "eth_getUncleCountByBlockHash": Method(lambda _: quantity(0), 1, 1),
        "eth_getUncleByBlockNumberAndIndex": Method(lambda _: None, 2, 2),
        "eth_getUncleByBlockHashAndIndex": Method(lambda _: None, 2, 2),
        # Blob transactions are refused, so the blob base fee stays at its EIP-4844 minimum.
        "eth_blobBaseFee": Method(lambda _: quantity(1), 0, 0),
    }
    if cityledger is not None:
        table |= {
            "cityledger_getFinalityCertificate": Method(cityledger.finality_certificate, 1, 1),
            "cityledger_validators": Method(cityledger.validators, 0, 1),
            "qbft_getValidatorsByBlockNumber": Method(cityledger.validators, 1, 1),
            "cityledger_peers": Method(cityledger.peers, 0, 0),
            "net_peerCount": Method(cityledger.peer_count, 0, 0),
            "cityledger_consensusStatus": Method(cityledger.consensus_status, 0, 0),
            "cityledger_getEvidence": Method(cityledger.evidence, 0, 0),
        }
    return table
