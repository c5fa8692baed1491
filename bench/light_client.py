"""Proving an audit trail trusting no node: a dataset's trace of about 1,000 events over 1,000
blocks, across a validator-set change, read three ways in one run.

    .venv/bin/python bench/light_client.py [--events 1000] [--runs 3]

Setup, fresh every run: a 4-validator testnet on loopback with one observer city (no demo
data); a dataset registered by Jiamusi's Big Data Center and a grant to Harbin Health; then
--events access records, each sent once the one before is final, so each is in a block of its
own. Half way, the observer city is admitted by vote (a fifth validator).

Then, on Harbin's node, the median of --runs of each:
- read: the trace without verification (`ledger.audit.trace`, the `audit trace` path);
- trusting the node: the trace, then each block's finality certificate checked against the
  validator set the node reports at its parent (`ledger.verify_finality`: `eth_getBlockByNumber`,
  `cityledger_getFinalityCertificate`, `eth_call` of `getValidators()`), the `audit verify` of
  before the light client;
- proven: `prove_trace` from the genesis trust root (the `audit verify` path): each block
  certified by the set in force, the set change followed through proven Consortium storage, the
  receipts and transactions tries rebuilt, the grant's and dataset's state by storage proofs.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from eth_utils import keccak
from web3.types import Nonce, TxParams, Wei

from cityledger.sdk.audit import key_filters
from cityledger.sdk.grants_client import dataset_id
from cityledger.sdk.ledger import Ledger
from cityledger.sdk.offers import GrantOffer
from cityledger.sdk.proven_trace import prove_trace
from cityledger.sdk.signers import load_keystore
from cityledger.sdk.trust import TrustRoot
from cityledger.testnet import network

PASSPHRASE = network.DEFAULT_PASSPHRASE
DATASET = "bench/light-client"


@contextmanager
def running_network(directory: Path) -> Iterator[network.TestnetInfo]:
    info = network.create(directory / "net", validators=4, observers=1)
    network.start(info)
    try:
        network.wait_for_block(info, 1)
        yield info
    finally:
        network.stop(info)


def ledger(info: network.TestnetInfo, name: str) -> Ledger:
    account = next(a for a in info.admins + info.agencies if Path(a.keystore).stem == name)
    return Ledger.connect(
        info.nodes[0].rpc_url,
        load_keystore(Path(account.keystore), PASSPHRASE),
        consortium=info.system_contracts["Consortium"],
    )


def fill(info: network.TestnetInfo, events: int) -> tuple[str, int]:
    """The dataset, its grant and `events` accesses, one a block; the observer admitted half way.
    Returns the grant and the chain's head."""
    owner, health = ledger(info, "jiamusi-bdc"), ledger(info, "harbin-health")
    assert owner.address is not None and health.address is not None
    dataset = owner.datasets.register(DATASET, schema="a,b", field_count=2)
    now = datetime.now(UTC)
    offer = GrantOffer.create(
        dataset_id=dataset.id,
        grantor=owner.address,
        grantee=health.address,
        purpose="benchmark",
        purpose_text="benchmark",
        fields=0b11,
        valid_from=now - timedelta(minutes=1),
        valid_until=now + timedelta(days=1),
        access_quota=events + 1,
    )
    grant = health.grants.submit(health.grants.countersign(owner.grants.offer_file(offer))).id
    # Signed here and sent one at a time, each once the last is final: one access a block.
    w3, signer = health.chain.w3, health.chain.require_signer()
    record = health.chain.contract("AccessLog").functions.recordAccess
    nonce = int(w3.eth.get_transaction_count(signer.address))
    blocks = set()
    for i in range(events):
        if i == events // 2:
            admit(info)
            nonce = int(w3.eth.get_transaction_count(signer.address))
        params: TxParams = {
            "from": signer.address,
            "nonce": Nonce(nonce),
            "gas": 300_000,
            "chainId": info.chain_id,
            "maxFeePerGas": Wei(0),
            "maxPriorityFeePerGas": Wei(0),
        }
        tx = record(bytes.fromhex(grant[2:]), keccak(text=f"query {i}"), 1, 1).build_transaction(
            params
        )
        nonce += 1
        sent = w3.eth.send_raw_transaction(signer.sign_transaction(dict(tx)))
        receipt = w3.eth.wait_for_transaction_receipt(sent, poll_latency=0.01)
        assert receipt["status"] == 1
        blocks.add(int(receipt["blockNumber"]))
    assert len(blocks) == events, "two accesses shared a block"
    return grant, health.history.latest_block()


def admit(info: network.TestnetInfo) -> None:
    observer = next(n for n in info.nodes if not n.validating)
    admin = next(a for a in info.admins if a.city == observer.city)
    proposal = ledger(info, "harbin-admin").consortium.propose_admit(
        observer.city, admin.address, observer.validator, "Heilongjiang"
    )
    for city in ("qiqihar", "mudanjiang"):
        ledger(info, f"{city}-admin").consortium.vote(proposal)


@dataclass(frozen=True)
class Measured:
    seconds: float
    cpu: float  # this process's CPU seconds
    events: int


def measure(action: Callable[[], int]) -> Measured:
    wall, cpu = time.perf_counter(), time.process_time()
    events = action()
    return Measured(time.perf_counter() - wall, time.process_time() - cpu, events)


def median_of(runs: int, action: Callable[[], int]) -> Measured:
    results = [measure(action) for _ in range(runs)]
    return sorted(results, key=lambda m: m.seconds)[len(results) // 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--events", type=int, default=1_000, help="access records, one a block")
    parser.add_argument("--runs", type=int, default=3, help="runs of each measurement")
    options = parser.parse_args()

    with (
        tempfile.TemporaryDirectory(prefix="cityledger-bench-light-") as folder,
        running_network(Path(folder)) as info,
    ):
        started = time.perf_counter()
        grant, head = fill(info, options.events)
        print(
            f"setup: {options.events} accesses in {time.perf_counter() - started:.0f} s, "
            f"head {head}"
        )
        url = info.nodes[0].rpc_url
        trust = TrustRoot.read(info.trust_root)
        reader = ledger(info, "harbin-health")

        def read() -> int:
            return len(list(reader.audit.trace(dataset=DATASET)))

        def trusting() -> int:
            events = list(reader.audit.trace(dataset=DATASET))
            for block in sorted({e.block_number for e in events}):
                reader.verify_finality(block)
            return len(events)

        def proven() -> int:
            result = prove_trace(
                [url],
                trust,
                key_filters(dataset=DATASET),
                subjects=[("datasetId", dataset_id(DATASET)), ("grantId", grant)],
            )
            assert not result.failures, result.failures
            assert len(result.epochs) == 2, "the admission was not followed"
            return len(result.events)

        rows = [
            ("read, no verification (`audit trace`)", median_of(options.runs, read)),
            (
                "seals checked against the node's validator set",
                median_of(options.runs, trusting),
            ),
            ("proven from the trust root (`audit verify`)", median_of(options.runs, proven)),
        ]
    print(f"median of {options.runs} runs")
    print("| path | events | seconds | events/s | client CPU s |")
    print("|---|--:|--:|--:|--:|")
    for what, m in rows:
        print(
            f"| {what} | {m.events:,} | {m.seconds:.2f} | {m.events / m.seconds:,.0f} | "
            f"{m.cpu:.2f} |"
        )


if __name__ == "__main__":
    main()
