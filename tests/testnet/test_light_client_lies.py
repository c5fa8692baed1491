"""`cityledger audit verify` trusting no node, on a real network (4 validators, an observer city
admitted by vote, then a founder removed): the honest path across both validator-set changes,
and a lying node between the CLI and the network, a small HTTP proxy that rewrites one kind of
answer each time. Every lie must be caught and named: a forged event, an event moved to another
block, a fake validator admitted, seals from non-validators, a changed storage value, a header
that does not match its certificate, validator-set changes withheld, an event left out (seen
against an honest node)."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests
from eth_abi import encode
from eth_utils import keccak, to_checksum_address
from testnet_helpers import CITYLEDGER, PASSPHRASE, running_testnet

from cityledger.node.consensus.signing import KeySigner
from cityledger.sdk import Ledger
from cityledger.sdk.block_header import BlockHeader
from cityledger.sdk.light_client import event_topic
from cityledger.sdk.signers import load_keystore
from cityledger.sdk.trust import TrustRoot
from cityledger.testnet.network import TestnetInfo

pytestmark = pytest.mark.slow

DATASET = "jiamusi/epidemic-travel-trace"
FAKE_VALIDATOR = KeySigner(keccak(b"a validator nobody admitted"))
NOT_VALIDATORS = [KeySigner(keccak(f"not a validator {i}".encode())) for i in range(3)]

# (method, params, result) -> the result the lying node answers instead
Lie = Callable[[str, list[Any], Any], Any]


class LyingProxy:
    """A JSON-RPC endpoint in front of a real node that answers through `lie`."""

    def __init__(self, upstream: str, lie: Lie) -> None:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                answer = requests.post(
                    upstream, data=body, headers={"Content-Type": "application/json"}, timeout=60
                ).json()
                request = json.loads(body)
                pairs = (
                    zip(request, answer, strict=True)
                    if isinstance(request, list)
                    else [(request, answer)]
                )
                for asked, answered in pairs:
                    if "result" in answered:
                        answered["result"] = proxy.lie(
                            asked["method"], asked.get("params", []), answered["result"]
                        )
                out = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            def log_message(self, *args: object) -> None:
                pass

        self.lie = lie
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> str:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self.url

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclass(frozen=True)
class Network:
    info: TestnetInfo
    directory: Path
    trust: Path
    grant: str
    after_admission: int  # the block of an access recorded while five cities validated
    after_removal: int  # ... and one recorded after a founder was removed
    env: dict[str, str]

    @property
    def rpc(self) -> str:
        return self.info.nodes[0].rpc_url

    def address(self, contract: str) -> str:
        return self.info.system_contracts[contract]

    def ledger(self, key: str) -> Ledger:
        signer = load_keystore(self.directory / "keys" / f"{key}.json", PASSPHRASE)
        return Ledger.connect(self.rpc, signer, consortium=self.address("Consortium"))

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(CITYLEDGER), "--json", *args],
            capture_output=True,
            text=True,
            env=self.env,
            timeout=300,
            check=False,
        )

    def verify(self, *rpcs: str, trust: Path | None = None) -> subprocess.CompletedProcess[str]:
        nodes = [arg for url in rpcs for arg in ("--rpc", url)]
        trust_file = str(trust or self.trust)
        return self.cli("audit", "verify", "--dataset", DATASET, "--trust", trust_file, *nodes)


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Network]:
    directory = tmp_path_factory.mktemp("lightclient") / "net"
    with running_testnet(directory, observers=1) as info:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CITYLEDGER_")}
        env.update(
            CITYLEDGER_CONFIG=str(directory / "cityledger.toml"), CITYLEDGER_PASSPHRASE=PASSPHRASE
        )
        grant = json.loads((directory / "demo.json").read_text())["grants"]["active"]
        net = Network(info, directory, info.trust_root, grant, 0, 0, env)
        health = net.ledger("harbin-health")
        scope = health.grants.get(grant).field_scope
        suihua = next(n for n in info.nodes if n.city == "Suihua")
        suihua_admin = next(a for a in info.admins if a.city == "Suihua")
        harbin = net.ledger("harbin-admin").consortium
        admission = harbin.propose_admit(
            "Suihua", suihua_admin.address, suihua.validator, "Heilongjiang"
        )
        for city in ("qiqihar", "mudanjiang"):
            net.ledger(f"{city}-admin").consortium.vote(admission)
        admitted = health.access.record(grant, query="five validate", records=1, fields=scope)
        removal = harbin.propose_remove("Mudanjiang")
        for city in ("qiqihar", "jiamusi"):
            net.ledger(f"{city}-admin").consortium.vote(removal)
        removed = health.access.record(grant, query="four again", records=1, fields=scope)
        assert len(health.consortium.validators()) == 4
        yield Network(
            info,
            directory,
            info.trust_root,
            grant,
            admitted.block_number,
            removed.block_number,
            env,
        )


def refusal(done: subprocess.CompletedProcess[str]) -> str:
    """The one line a failed verification prints, naming the node."""
    assert done.returncode == 1 and done.stdout == "", done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    return lines[0]


def test_the_trail_is_proven_through_honest_nodes_across_validator_set_changes(
    network: Network,
) -> None:
    jiamusi = next(n for n in network.info.nodes if n.city == "Jiamusi").rpc_url
    done = network.verify(network.rpc, jiamusi)
    assert done.returncode == 0, done.stderr
    proven = json.loads(done.stdout)
    assert [n["verified"] for n in proven["nodes"]] == [True, True]
    sets = proven["validatorSets"]
    assert [len(s["validators"]) for s in sets] == [4, 5, 4]
    assert [c["event"] for s in sets for c in s["changes"]] == ["CityAdmitted", "CityRemoved"]
    by_block = {e["blockNumber"]: e for e in proven["events"]}
    assert by_block[network.after_admission]["proof"]["validatorSet"] == 1
    assert by_block[network.after_removal]["proof"]["validatorSet"] == 2
    assert len(by_block[network.after_admission]["proof"]["sealedBy"]) >= 4
    assert {e["proof"]["validatorSet"] for e in proven["events"]} == {0, 1, 2}
    # The findings on the dataset's incidents, followed from the proven incident reports.
    assert "FindingRecorded" in {e["event"] for e in proven["events"]}
    facts = {(f["subject"], f["fact"]): f["value"] for f in proven["facts"]}
    assert facts[("grant " + network.grant, "status")] == "active"
    assert facts[("grant " + network.grant, "accesses")] == "5 of 200"
    owner = network.ledger("jiamusi-bdc").address
    dataset = next(e for e in proven["events"] if e["event"] == "DatasetRegistered")
    assert facts[("dataset " + dataset["args"]["datasetId"], "owner")] == owner


def test_a_forged_event_is_named(network: Network) -> None:
    access_log = network.address("AccessLog").lower()

    def forge(method: str, params: list[Any], result: Any) -> Any:
        if method == "eth_getLogs":
            for log in result:
                if log["address"].lower() == access_log:
                    log["data"] = log["data"][:-1] + ("0" if log["data"][-1] != "0" else "1")
                    break
        return result

    with LyingProxy(network.rpc, forge) as liar:
        line = refusal(network.verify(liar))
    assert liar in line
    assert "AccessLog.AccessRecorded at block" in line
    assert "differs from the block's certified receipts" in line


def test_an_event_moved_to_another_block_is_named(network: Network) -> None:
    moved_to = network.after_removal - 1

    def move(method: str, params: list[Any], result: Any) -> Any:
        if method == "eth_getLogs":
            for log in result:
                if int(log["blockNumber"], 16) == network.after_removal:
                    log["blockNumber"] = hex(moved_to)
        return result

    with LyingProxy(network.rpc, move) as liar:
        line = refusal(network.verify(liar))
    assert liar in line
    assert f"AccessRecorded at block {moved_to}" in line
    assert "is not in the block's certified receipts" in line


def test_a_fake_validator_admitted_is_named(network: Network) -> None:
    consortium = network.address("Consortium").lower()
    fake = to_checksum_address(FAKE_VALIDATOR.address)
    admitted = {
        "address": network.address("Consortium"),
        "topics": [
            "0x" + event_topic("Consortium", "CityAdmitted").hex(),
            "0x" + keccak(text="Fakeville").hex(),
        ],
        "data": "0x"
        + encode(
            ["string", "address", "address", "bytes32"],
            ["Fakeville", fake, fake, b"Heilongjiang".ljust(32, b"\0")],
        ).hex(),
        "blockNumber": "0x3",
        "logIndex": "0x0",
        "transactionIndex": "0x0",
        "transactionHash": "0x" + "00" * 32,
        "blockHash": "0x" + "00" * 32,
        "removed": False,
    }

    def admit(method: str, params: list[Any], result: Any) -> Any:
        if method == "eth_getLogs" and str(params[0].get("address", "")).lower() == consortium:
            return [copy.deepcopy(admitted), *result]
        if method in ("cityledger_getFinalityCertificate", "qbft_getValidatorsByBlockNumber"):
            if isinstance(result, dict):
                result["validators"].append(fake.lower())
            elif isinstance(result, list):
                result.append(fake.lower())
        return result

    with LyingProxy(network.rpc, admit) as liar:
        line = refusal(network.verify(liar))
    assert liar in line
    assert "claims a validator-set change event at block 3 log 0" in line
    assert "not in the block's certified receipts" in line


def test_seals_from_non_validators_are_named(network: Network) -> None:
    def reseal(method: str, params: list[Any], result: Any) -> Any:
        if method == "cityledger_getFinalityCertificate" and result is not None:
            block_hash = bytes.fromhex(result["blockHash"][2:])
            result["signers"] = ["0x" + s.address.hex() for s in NOT_VALIDATORS]
            result["seals"] = ["0x" + s.sign(block_hash).hex() for s in NOT_VALIDATORS]
        return result

    with LyingProxy(network.rpc, reseal) as liar:
        line = refusal(network.verify(liar))
    assert liar in line
    assert f"seal 0 is by 0x{NOT_VALIDATORS[0].address.hex()}" in line
    assert "who is not a validator at height" in line


def test_a_changed_storage_value_is_named(network: Network) -> None:
    data_grants = network.address("DataGrants").lower()

    def change(method: str, params: list[Any], result: Any) -> Any:
        if method == "eth_getProof" and params[0].lower() == data_grants:
            for entry in result["storageProof"]:
                entry["value"] = hex(int(entry["value"], 16) ^ 1)
        return result

    with LyingProxy(network.rpc, change) as liar:
        line = refusal(network.verify(liar))
    assert liar in line
    assert f"of DataGrants ({to_checksum_address(data_grants)}) at block" in line
    assert "but its own proof against the certified state root shows" in line


def test_a_header_that_does_not_match_its_certificate_is_named(network: Network) -> None:
    def retime(method: str, params: list[Any], result: Any) -> Any:
        if method == "eth_getBlockByNumber" and result and int(result["number"], 16) > 0:
            result["timestamp"] = hex(int(result["timestamp"], 16) + 1)
        return result

    with LyingProxy(network.rpc, retime) as liar:
        line = refusal(network.verify(liar))
    assert liar in line
    assert "a header that does not match its certificate" in line


def test_withheld_validator_set_changes_are_caught(network: Network) -> None:
    consortium = network.address("Consortium").lower()

    def withhold(method: str, params: list[Any], result: Any) -> Any:
        if method == "eth_getLogs" and str(params[0].get("address", "")).lower() == consortium:
            return []
        return result

    with LyingProxy(network.rpc, withhold) as liar:
        line = refusal(network.verify(liar))
        # Beside an honest node, whose claims every node's blocks are checked for, it is named
        # for exactly what it withheld.
        beside = network.verify(network.rpc, liar)
    assert liar in line
    # Blocks sealed by the new sets fail against the old one, or the state shows the change.
    assert "who is not a validator at height" in line or "withheld a validator-set change" in line
    assert beside.returncode == 1
    honest, lying = json.loads(beside.stdout)["nodes"]
    assert honest["verified"] and not lying["verified"]
    assert "withheld the validator-set change CityAdmitted at block" in lying["failure"]


def test_blocks_sealed_by_a_colluding_quorum_are_caught_by_a_second_node(
    network: Network,
) -> None:
    """Beyond the assumption: three of the four validators in force sign a block that is not
    the chain's. One node serving it cannot be caught; beside another node, both blocks are
    certified at one height, and neither node's answers are used."""
    keys = {
        bytes.fromhex(node.validator[2:]): KeySigner(
            bytes.fromhex(Path(node.data_dir, "node.key").read_text().strip()[2:])
        )
        for node in network.info.nodes
    }
    target = network.after_removal
    forged: dict[str, bytes] = {}

    def collude(method: str, params: list[Any], result: Any) -> Any:
        if method == "eth_getBlockByNumber" and result and int(result["number"], 16) == target:
            result["timestamp"] = hex(int(result["timestamp"], 16) + 1)
            forged["hash"] = BlockHeader.from_json(result).hash
            result["hash"] = "0x" + forged["hash"].hex()
        if method == "cityledger_getFinalityCertificate" and params[0] == hex(target):
            signers = [keys[bytes.fromhex(a[2:])] for a in result["validators"]][:3]
            block_hash = forged["hash"]  # the header is always asked for first
            result["blockHash"] = "0x" + block_hash.hex()
            result["signers"] = ["0x" + s.address.hex() for s in signers]
            result["seals"] = ["0x" + s.sign(block_hash).hex() for s in signers]
        return result

    with LyingProxy(network.rpc, collude) as liar:
        alone = network.verify(liar)
        beside = network.verify(network.rpc, liar)
    assert alone.returncode == 0, alone.stderr
    assert beside.returncode == 1 and beside.stdout == ""
    assert "serve different blocks" in beside.stderr and liar in beside.stderr


def test_an_event_left_out_is_named_against_an_honest_node(network: Network) -> None:
    def drop(method: str, params: list[Any], result: Any) -> Any:
        if method == "eth_getLogs":
            return [log for log in result if int(log["blockNumber"], 16) != network.after_removal]
        return result

    with LyingProxy(network.rpc, drop) as liar:
        done = network.verify(network.rpc, liar)
    assert done.returncode == 1
    proven = json.loads(done.stdout)  # what the honest node proved is still reported
    honest, lying = proven["nodes"]
    assert honest["verified"] and not lying["verified"], proven["nodes"]
    assert network.after_removal in {e["blockNumber"] for e in proven["events"]}
    assert (
        f"left out 1 events other nodes proved, the first AccessLog.AccessRecorded at block "
        f"{network.after_removal}" in lying["failure"]
    )
    assert liar in done.stderr.strip()


def test_a_trace_with_proofs_and_a_later_checkpoint(network: Network, tmp_path: Path) -> None:
    traced = network.cli(
        "audit", "trace", "--grant", network.grant, "--verify", "--trust", str(network.trust)
    )
    assert traced.returncode == 0, traced.stderr
    events = json.loads(traced.stdout)["events"]
    assert [e["event"] for e in events][:2] == ["GrantOffered", "GrantAccepted"]
    assert all(e["proof"]["receiptsRoot"].startswith("0x") for e in events)
    since = next(e["timestamp"] for e in events if e["blockNumber"] == network.after_admission)
    recent = network.cli(
        "audit",
        "trace",
        "--grant",
        network.grant,
        "--verify",
        "--since",
        since,
        "--trust",
        str(network.trust),
    )
    assert recent.returncode == 0, recent.stderr
    later = json.loads(recent.stdout)["events"]
    assert network.after_admission in [e["blockNumber"] for e in later]
    assert min(e["timestamp"] for e in later) == since

    checkpoint = tmp_path / "checkpoint.json"
    written = network.cli(
        "audit", "checkpoint", "--out", str(checkpoint), "--trust", str(network.trust)
    )
    assert written.returncode == 0, written.stderr
    root = TrustRoot.read(checkpoint)
    assert root.block_number >= network.after_removal and len(root.validators) == 4
    health = network.ledger("harbin-health")
    later = health.access.record(
        network.grant,
        query="after the checkpoint",
        records=1,
        fields=health.grants.get(network.grant).field_scope,
    )
    done = network.verify(network.rpc, trust=checkpoint)
    assert done.returncode == 0, done.stderr
    proven = json.loads(done.stdout)
    assert [len(s["validators"]) for s in proven["validatorSets"]] == [4]  # no set to follow
    assert [e["blockNumber"] for e in proven["events"]] == [later.block_number]


def test_the_trust_root_written_by_testnet_is_the_genesis_file_s(
    network: Network, tmp_path: Path
) -> None:
    computed = tmp_path / "trust.json"
    done = network.cli(
        "audit",
        "trust-root",
        "--genesis",
        str(network.directory / "genesis.json"),
        "--out",
        str(computed),
    )
    assert done.returncode == 0, done.stderr
    assert TrustRoot.read(computed) == TrustRoot.read(network.trust)
