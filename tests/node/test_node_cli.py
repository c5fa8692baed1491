"""The node's command line: init from a genesis file, refusals, the heartbeat and block period."""

from __future__ import annotations

import time
from pathlib import Path

from eth_account import Account
from node_helpers import NodeProcess, free_port, send
from typer.testing import CliRunner

from cityledger.contracts.deployment import ConsortiumSpec, FoundingCity
from cityledger.node.cli import app
from cityledger.node.genesis import build_genesis

runner = CliRunner()


def test_init_needs_a_genesis_or_dev(tmp_path: Path) -> None:
    result = runner.invoke(app, ["init", "--data-dir", str(tmp_path / "data")])
    assert result.exit_code == 1
    assert "--genesis FILE" in result.output


def test_start_refuses_an_uninitialized_dir(tmp_path: Path) -> None:
    result = runner.invoke(app, ["start", "--data-dir", str(tmp_path / "data")])
    assert result.exit_code == 1
    assert "not initialized" in result.output


def test_network_genesis_file_starts_a_node(tmp_path: Path) -> None:
    admin, validator = Account.create(), Account.create()
    spec = ConsortiumSpec(cities=(FoundingCity("Harbin", admin.address, validator.address, "HLJ"),))
    genesis = build_genesis(777, spec)
    genesis_file = tmp_path / "network.json"
    genesis.write(genesis_file)
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / "node.key").write_text(validator.key.hex())  # this node is Harbin's validator
    result = runner.invoke(
        app, ["init", "--data-dir", str(data_dir), "--genesis", str(genesis_file)]
    )
    assert result.exit_code == 0, result.output
    assert genesis.system_contracts["Consortium"] in result.output
    again = runner.invoke(
        app, ["init", "--data-dir", str(data_dir), "--genesis", str(genesis_file)]
    )
    assert again.exit_code == 1
    assert "already initialized" in again.output
    wrong_id = runner.invoke(
        app,
        [
            "init",
            "--data-dir",
            str(tmp_path / "other"),
            "--genesis",
            str(genesis_file),
            "--chain-id",
            "5",
        ],
    )
    assert wrong_id.exit_code == 1
    assert "differs" in wrong_id.output

    node = NodeProcess(data_dir, free_port(), options=("--heartbeat", "0.2"))
    node.start()
    try:
        w3 = node.web3()
        assert w3.eth.chain_id == 777
        deadline = time.monotonic() + 30
        while w3.eth.block_number < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert w3.eth.block_number >= 2, "heartbeat blocks did not appear"
        assert w3.eth.get_block(1)["transactions"] == []
    finally:
        node.stop()


def test_block_period_spaces_blocks(tmp_path: Path) -> None:
    def two_blocks_apart(options: tuple[str, ...]) -> int:
        """Seconds between the blocks of two calls sent one right after the other is final."""
        node = NodeProcess(tmp_path / options[-1], free_port(), options=options)
        node.start()
        try:
            w3, admin = node.web3(), node.admin()
            receipts = [
                w3.eth.wait_for_transaction_receipt(
                    send(w3, admin, {"to": admin.address, "gas": 21_000}), timeout=30
                )
                for _ in range(2)
            ]
            first, second = (w3.eth.get_block(r["blockNumber"]) for r in receipts)
            assert second["number"] == first["number"] + 1
            return int(second["timestamp"] - first["timestamp"])
        finally:
            node.stop()

    # Timestamps are whole seconds: 3 s apart on the clock is at least 2 apart on the chain.
    assert two_blocks_apart(("--dev", "--block-period", "3")) >= 2
