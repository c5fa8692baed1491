"""A real 4-validator network (plus one observer) on loopback: finality certificates, crashes,
loss of quorum, and validator changes by governance. One network for the module; the tests
run in order and each leaves every node running again."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from byzantine_proposer import STRANGER, UNPROTECTED
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_typing import Hash32
from eth_utils import keccak, to_checksum_address
from testnet_helpers import CITYLEDGER
from web3 import Web3
from web3.contract import Contract
from web3.types import RPCEndpoint

from cityledger.contracts.artifacts import load_artifact
from cityledger.contracts.deployment import city_id, text32
from cityledger.node.consensus.messages import (
    MessageKind,
    SignedMessage,
    sign_message,
    signature_is_valid,
)
from cityledger.node.consensus.signing import KeySigner, recover_signer
from cityledger.node.p2p.transport import TOPIC_CONSENSUS, TOPIC_PREVIEW, Envelope
from cityledger.node.production.preview import BlockPreview
from cityledger.sdk import Ledger, Signer
from cityledger.sdk.errors import LedgerTimeout
from cityledger.testnet.network import (
    DEFAULT_PASSPHRASE,
    NodeInfo,
    TestnetInfo,
    block_number,
    create,
    node_command,
    start,
    start_node,
    stop,
    stop_node,
    wait_for_block,
    write_cli_config,
)

pytestmark = pytest.mark.slow
MAX_ROUND_TIMEOUT = 4.0
GRANTEE = 2


class Network:
    def __init__(self, info: TestnetInfo) -> None:
        self.info = info
        self._nonces: dict[str, int] = {}

    def node(self, city: str) -> NodeInfo:
        return next(n for n in self.info.nodes if n.city == city)

    def w3(self, city: str) -> Web3:
        return Web3(Web3.HTTPProvider(self.node(city).rpc_url, request_kwargs={"timeout": 10}))

    def admin(self, city: str) -> LocalAccount:
        entry = next(a for a in self.info.admins if a.city == city)
        keystore = json.loads(Path(entry.keystore).read_text())
        account: LocalAccount = Account.from_key(Account.decrypt(keystore, DEFAULT_PASSPHRASE))
        return account

    def consortium(self, w3: Web3) -> Contract:
        address = to_checksum_address(self.info.system_contracts["Consortium"])
        return w3.eth.contract(address=address, abi=load_artifact("Consortium").abi)

    def send(self, via: str, admin_city: str, build: str, *args: object) -> bytes:
        """Sends Consortium.<build>(*args) from `admin_city`'s admin through `via`'s node."""
        w3, account = self.w3(via), self.admin(admin_city)
        if account.address not in self._nonces:
            self._nonces[account.address] = w3.eth.get_transaction_count(account.address)
        nonce = self._nonces[account.address]
        self._nonces[account.address] += 1
        tx = getattr(self.consortium(w3).functions, build)(*args).build_transaction(
            {
                "from": account.address,
                "nonce": nonce,
                "gas": 1_000_000,
                "maxFeePerGas": 0,
                "maxPriorityFeePerGas": 0,
                "chainId": self.info.chain_id,
            }
        )
        return bytes(w3.eth.send_raw_transaction(account.sign_transaction(tx).raw_transaction))

    def sent_elsewhere(self, admin_city: str) -> None:
        """`admin_city`'s admin sent through other means (the SDK): read its nonce afresh."""
        self._nonces.pop(self.admin(admin_city).address, None)

    def register_agency(self, via: str, admin_city: str) -> bytes:
        return self.send(
            via, admin_city, "registerAgency", Account.create().address, "Bureau", GRANTEE
        )

    def receipt(self, city: str, tx_hash: bytes, timeout: float = 60.0) -> int:
        receipt = self.w3(city).eth.wait_for_transaction_receipt(Hash32(tx_hash), timeout=timeout)
        assert receipt["status"] == 1
        return int(receipt["blockNumber"])

    def signers(self, city: str, number: int) -> tuple[set[bytes], set[bytes]]:
        """(who sealed block `number`, recovered independently; the validators of that block)."""
        certificate = self.w3(city).provider.make_request(
            RPCEndpoint("cityledger_getFinalityCertificate"), [hex(number)]
        )["result"]
        block_hash = bytes.fromhex(certificate["blockHash"][2:])
        block = self.w3(city).eth.get_block(number)
        assert bytes(block["hash"]) == block_hash
        recovered = {recover_signer(block_hash, bytes.fromhex(s[2:])) for s in certificate["seals"]}
        assert None not in recovered
        validators = {bytes.fromhex(v[2:]) for v in certificate["validators"]}
        return {r for r in recovered if r is not None}, validators

    def address(self, city: str) -> bytes:
        return bytes.fromhex(self.node(city).validator[2:])


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Network]:
    directory = tmp_path_factory.mktemp("testnet")
    info = create(directory, validators=4, observers=1, max_round_timeout=MAX_ROUND_TIMEOUT)
    start(info)
    try:
        wait_for_block(info, 1)
        yield Network(info)
    finally:
        stop(info)


def test_transactions_sent_to_every_node_are_final_with_verifiable_certificates(
    network: Network,
) -> None:
    founding = ["Harbin", "Qiqihar", "Mudanjiang", "Jiamusi"]
    hashes = [(city, network.register_agency(city, city)) for city in founding]
    blocks = {network.receipt(city, tx) for city, tx in hashes}
    head = max(blocks)
    founding_addresses = {network.address(c) for c in founding}
    for number in range(1, head + 1):
        signers, validators = network.signers("Harbin", number)
        assert validators == founding_addresses
        assert len(signers) >= 3 and signers <= validators
    # The observer follows the same chain.
    wait_for_block(network.info, head)
    observer = network.w3("Suihua")
    assert observer.eth.get_block(head)["hash"] == network.w3("Harbin").eth.get_block(head)["hash"]


def test_a_killed_validator_is_not_missed_and_catches_up(network: Network) -> None:
    jiamusi = network.node("Jiamusi")
    stop_node(network.info, jiamusi, signal.SIGKILL)
    during = [
        network.receipt("Harbin", network.register_agency("Harbin", "Harbin")) for _ in range(3)
    ]
    start_node(network.info, jiamusi)
    wait_for_block(network.info, max(during))
    # With Qiqihar down, no block can be final without Jiamusi's vote: it votes again.
    qiqihar = network.node("Qiqihar")
    stop_node(network.info, qiqihar)
    try:
        number = network.receipt("Harbin", network.register_agency("Harbin", "Harbin"))
        signers, _ = network.signers("Harbin", number)
        assert network.address("Jiamusi") in signers
    finally:
        start_node(network.info, qiqihar)
    wait_for_block(network.info, number)


def test_two_of_four_down_stops_finality_until_one_returns(
    network: Network, tmp_path: Path
) -> None:
    down = [network.node("Mudanjiang"), network.node("Jiamusi")]
    for node in down:
        stop_node(network.info, node)
    time.sleep(2)  # a heartbeat block may have been deciding as they stopped
    before = block_number(network.node("Harbin"))
    assert before is not None
    # An integrator's write meanwhile: the SDK says why it is not final and that it may still be
    # included, and the same call sent again is recognised rather than doubled.
    ledger = Ledger.connect(
        network.node("Harbin").rpc_url,
        Signer.from_key(network.admin("Harbin").key),
        manifest=network.info.manifest,
        receipt_timeout=2,
        pending_file=tmp_path / "pending.json",
    )
    agency = Account.create().address
    cli_agency, cli_terms = Account.create().address, ("--name", "Bureau 2", "--roles", "grantee")
    try:
        tx = network.register_agency("Harbin", "Harbin")
        time.sleep(3 * MAX_ROUND_TIMEOUT)
        assert block_number(network.node("Harbin")) == before, "2 of 4 validators finalized a block"
        assert block_number(network.node("Qiqihar")) == before
        with pytest.raises(LedgerTimeout) as waiting:
            ledger.consortium.register_agency(agency, "Bureau", GRANTEE)
        assert "only 2 of 4 validators answer" in str(waiting.value)
        assert "3 are needed" in str(waiting.value) and "may still be included" in str(
            waiting.value
        )
        with pytest.raises(LedgerTimeout, match="not sent twice"):
            ledger.consortium.register_agency(agency, "Bureau", GRANTEE)
        # The same through the CLI: one line that says why, that it may still be included and
        # how to check; the command run again waits for that transaction instead of resending.
        waited = cli(network, "--wait", "2", "agency", "register", cli_agency, *cli_terms)
        assert waited.returncode == 1 and waited.stdout == ""
        (line,) = waited.stderr.splitlines()
        assert "only 2 of 4 validators answer this node and 3 are needed" in line
        assert "may still be included" in line and "cityledger tx show 0x" in line
        cli_tx = line.split("cityledger tx show ")[1][:66]
        shown = cli(network, "--json", "tx", "show", cli_tx)
        assert json.loads(shown.stdout)["status"] == "waiting", shown.stderr
        again = cli(network, "--wait", "2", "agency", "register", cli_agency, *cli_terms)
        assert again.returncode == 1 and "is not sent twice" in again.stderr
        assert again.stderr.count("\n") == 1 and cli_tx in again.stderr
        start_node(network.info, down[0])
        returned = time.monotonic()
        number = network.receipt("Harbin", tx, timeout=60)
        resumed_after = time.monotonic() - returned
    finally:
        for node in down:
            start_node(network.info, node)
    assert number > before  # the returning proposer's first block may be empty: its pool was
    # Node start-up (a few seconds) plus at most a few capped round timeouts.
    assert resumed_after < 30 + 3 * MAX_ROUND_TIMEOUT
    wait_for_block(network.info, number)
    # Once final, sending the same call again returns what the first one did.
    registered = ledger.consortium.register_agency(agency, "Bureau", GRANTEE)
    assert registered.address == agency and registered.name == "Bureau"
    done = cli(network, "--json", "agency", "register", cli_agency, *cli_terms)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["name"] == "Bureau 2"
    network.sent_elsewhere("Harbin")


def cli(network: Network, *args: str) -> subprocess.CompletedProcess[str]:
    """`cityledger --key harbin-admin ARGS` against the network, as `testnet up` configures it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CITYLEDGER_")}
    env.update(
        CITYLEDGER_CONFIG=str(write_cli_config(network.info)),
        CITYLEDGER_PASSPHRASE=DEFAULT_PASSPHRASE,
    )
    return subprocess.run(
        [str(CITYLEDGER), "--key", "harbin-admin", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def start_byzantine(info: TestnetInfo, node: NodeInfo) -> None:
    """Runs `node` as byzantine_proposer.py: it proposes blocks with forbidden transactions."""
    command = node_command(info, node)
    assert command[1:3] == ["-m", "cityledger.node"]
    command[1:3] = [str(Path(__file__).parent / "byzantine_proposer.py")]
    with open(node.log_file, "ab") as log:
        process = subprocess.Popen(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "BYZANTINE_CHAIN_ID": str(info.chain_id)},
            start_new_session=True,
        )
    node.pid = process.pid
    info.write()


def refusals(node: NodeInfo) -> list[str]:
    """The reasons `node` logged for the proposed blocks it refused."""
    lines = Path(node.log_file).read_text().splitlines()
    return [
        str(entry.get("reason"))
        for entry in map(json.loads, (line for line in lines if line.startswith("{")))
        if entry.get("msg") == "invalid block"
    ]


def test_a_proposer_of_forbidden_transactions_is_refused_and_the_network_goes_on(
    network: Network,
) -> None:
    qiqihar = network.node("Qiqihar")
    stop_node(network.info, qiqihar)
    start_byzantine(network.info, qiqihar)
    try:
        # Qiqihar (validator 1 of 4) proposes round 0 of every fourth height: drive past two.
        first = block_number(network.node("Harbin"))
        assert first is not None
        while (block_number(network.node("Harbin")) or 0) < first + 8:
            network.receipt("Harbin", network.register_agency("Harbin", "Harbin"))
        head = block_number(network.node("Harbin"))
        assert head is not None
    finally:
        stop_node(network.info, qiqihar)
        start_node(network.info, qiqihar)
    strangers = {a.lower() for a in (STRANGER.address, UNPROTECTED.address)}
    for number in range(first + 1, head + 1):
        block = network.w3("Harbin").eth.get_block(number, full_transactions=True)
        senders = {str(tx["from"]).lower() for tx in block["transactions"] if isinstance(tx, dict)}
        assert not senders & strangers
    # Every honest validator refused the forbidden blocks by the admission rule they broke.
    for city in ("Harbin", "Mudanjiang", "Jiamusi"):
        reasons = refusals(network.node(city))
        assert any("not a registered agency" in r for r in reasons), (city, reasons)
    wait_for_block(network.info, head)


def test_heavy_calls_on_one_node_leave_the_network_and_cheap_requests_going(
    network: Network,
) -> None:
    harbin = network.node("Harbin")
    endless: dict[str, Any] = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "eth_call",
        "params": [{"data": "0x5b600056"}],
    }
    stop_calls = time.monotonic() + 15
    answers: list[dict[str, Any]] = []

    def call_forever() -> None:
        while time.monotonic() < stop_calls:
            answers.append(requests.post(harbin.rpc_url, json=endless, timeout=60).json())

    callers = [threading.Thread(target=call_forever) for _ in range(6)]
    for caller in callers:
        caller.start()
    try:
        time.sleep(1)
        latencies = []
        for _ in range(10):
            started = time.monotonic()
            assert requests.post(
                harbin.rpc_url,
                json={"jsonrpc": "2.0", "id": 2, "method": "eth_chainId", "params": []},
                timeout=30,
            ).json()["result"] == hex(network.info.chain_id)
            latencies.append(time.monotonic() - started)
            time.sleep(0.2)
        # Transactions sent to the busy node are final meanwhile.
        number = network.receipt("Harbin", network.register_agency("Harbin", "Harbin"), 60)
    finally:
        for caller in callers:
            caller.join()
    # A functional bound, far above the few milliseconds it takes: nothing waited for the calls.
    assert max(latencies) < 2.0, latencies
    assert answers and all(
        a["error"]["message"] == "execution aborted (timeout = 5 s)"
        or "busy" in a["error"]["message"]
        for a in answers
    ), answers[:3]
    wait_for_block(network.info, number)


def test_governance_admits_a_validator_and_removes_one(network: Network) -> None:
    # Suihua's node has followed the chain as an observer; the consortium admits the city.
    suihua_admin = network.admin("Suihua")
    propose = network.send(
        "Harbin",
        "Harbin",
        "proposeAdmitCity",
        "Suihua",
        suihua_admin.address,
        network.node("Suihua").validator,
        text32("Heilongjiang"),
    )
    network.receipt("Harbin", propose)
    consortium = network.consortium(network.w3("Harbin"))
    proposal = int(consortium.functions.proposalCount().call())
    for city in ("Qiqihar", "Mudanjiang"):
        admitted = network.receipt("Harbin", network.send("Harbin", city, "vote", proposal))
    assert consortium.functions.isActiveCity(city_id("Suihua")).call()
    # From the next block on, five validators: quorum 4. With Harbin down, the three other
    # founders cannot finalize alone, so a final block proves Suihua votes.
    harbin = network.node("Harbin")
    stop_node(network.info, harbin)
    try:
        number = network.receipt("Qiqihar", network.register_agency("Qiqihar", "Qiqihar"))
        signers, validators = network.signers("Qiqihar", number)
        assert number > admitted
        assert network.address("Suihua") in validators and network.address("Suihua") in signers
    finally:
        start_node(network.info, harbin)
    wait_for_block(network.info, number)

    # Remove Jiamusi: 3 of the 4 other members (it does not vote on its own removal). Its node
    # keeps running, but no longer counts.
    network.receipt(
        "Harbin", network.send("Harbin", "Harbin", "proposeRemoveCity", city_id("Jiamusi"))
    )
    proposal = int(consortium.functions.proposalCount().call())
    for city in ("Qiqihar", "Mudanjiang"):
        removed = network.receipt("Harbin", network.send("Harbin", city, "vote", proposal))
    assert not consortium.functions.isActiveCity(city_id("Jiamusi")).call()
    later = [
        network.receipt("Harbin", network.register_agency("Harbin", "Harbin")) for _ in range(3)
    ]
    for number in range(removed + 1, max(later) + 1):
        signers, validators = network.signers("Harbin", number)
        assert network.address("Jiamusi") not in validators | signers
        assert len(validators) == 4 and len(signers) >= 3


def test_conflicting_votes_from_one_validator_are_kept_as_evidence(network: Network) -> None:
    qiqihar = network.node("Qiqihar")
    key = Path(qiqihar.data_dir, "node.key").read_text().strip().removeprefix("0x")
    signer = KeySigner(bytes.fromhex(key))
    harbin = network.node("Harbin")
    head = block_number(harbin)
    assert head is not None
    chain_id = network.info.chain_id
    for block_hash in (keccak(b"one block"), keccak(b"another block")):
        vote = sign_message(signer, chain_id, MessageKind.PREPARE, head + 1, 0, block_hash)
        envelope = Envelope.seal(signer, chain_id, TOPIC_CONSENSUS, vote.encode())
        response = requests.post(f"{harbin.p2p_url}/p2p", data=envelope.encode(), timeout=10)
        assert response.status_code == 200, response.text
    evidence: list[dict[str, object]] = []
    deadline = time.monotonic() + 30
    while not evidence and time.monotonic() < deadline:
        evidence = network.w3("Harbin").provider.make_request(
            RPCEndpoint("cityledger_getEvidence"), []
        )["result"]
        time.sleep(0.2)
    assert evidence, "the node kept no evidence"
    offence = evidence[0]
    assert offence["validator"] == qiqihar.validator.lower()
    assert offence["kind"] == "PREPARE" and int(str(offence["height"]), 16) == head + 1
    for side in ("first", "second"):
        message = SignedMessage.decode(bytes.fromhex(str(offence[side]["encoded"])[2:]))  # type: ignore[index]
        assert signature_is_valid(message, chain_id) and message.sender == signer.address


def test_an_unknown_node_is_refused_by_peers(network: Network) -> None:
    stranger = KeySigner(keccak(b"not a member of this network"))
    envelope = Envelope.seal(stranger, network.info.chain_id, TOPIC_CONSENSUS, b"")
    response = requests.post(
        f"{network.node('Harbin').p2p_url}/p2p", data=envelope.encode(), timeout=10
    )
    assert response.status_code == 403
    assert "not a peer" in response.text


def test_malformed_and_stray_block_previews_change_nothing(network: Network) -> None:
    qiqihar = network.node("Qiqihar")
    key = Path(qiqihar.data_dir, "node.key").read_text().strip().removeprefix("0x")
    signer = KeySigner(bytes.fromhex(key))
    harbin = network.node("Harbin")
    chain_id = network.info.chain_id

    def post(payload: bytes) -> requests.Response:
        envelope = Envelope.seal(signer, chain_id, TOPIC_PREVIEW, payload)
        return requests.post(f"{harbin.p2p_url}/p2p", data=envelope.encode(), timeout=10)

    refused = post(b"\x01\x02")
    assert refused.status_code == 400 and "not RLP" in refused.text
    head = block_number(harbin)
    assert head is not None
    parent = bytes(network.w3("Harbin").eth.get_block(head)["hash"])
    # Well formed, for the next block, naming a transaction nobody holds: taken, and ignored
    # whether or not Qiqihar is that block's proposer.
    stray = BlockPreview(head + 1, parent, signer.address, int(time.time()), (keccak(b"?"),))
    assert post(stray.encode()).status_code == 200
    network.receipt("Harbin", network.register_agency("Harbin", "Harbin"))
