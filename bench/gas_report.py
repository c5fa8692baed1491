"""Gas used by the main calls of the five system contracts, as a markdown table.

    .venv/bin/python bench/gas_report.py

Deploys the founding consortium (five cities, three agencies each, one audit office) on an
in-process py-evm chain (eth-tester), then walks each contract through its life cycle and prints
one row per call: contract, call, gas used (from the receipts, the 21,000 base cost of a
transaction included; a range where repeated runs differed). docs/contracts.md quotes the
output. Every call must succeed: a reverted call stops the script, so the table always describes
the paths it names.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_tester import EthereumTester, PyEVMBackend
from eth_typing import ChecksumAddress
from eth_utils import keccak
from web3 import EthereumTesterProvider, Web3
from web3.contract.contract import ContractFunction

from cityledger.contracts.artifacts import SYSTEM_CONTRACTS, load_artifact
from cityledger.contracts.deployment import (
    ConsortiumSpec,
    FoundingAgency,
    FoundingCity,
    city_id,
    deploy_with_web3,
    deployment_plan,
    text32,
)
from cityledger.sdk import merkle
from cityledger.sdk.offers import Domain, GrantOffer, OfferFile, countersign, sign_offer
from cityledger.sdk.signers import Signer

GRANTOR, GRANTEE, AUDITOR, ALLOCATOR, GATEWAY = 1, 2, 4, 8, 16
CITIES = ("Harbin", "Qiqihar", "Mudanjiang", "Jiamusi", "Daqing")
AGENCIES = (
    ("bdc", "Big Data Center", GRANTOR | GRANTEE),
    ("health", "Health Commission", GRANTEE),
    ("emergency", "Emergency Management Bureau", ALLOCATOR),
)
RULES = ("Proportional", "PriorityWeighted", "MaxMinFair")
# Four requests per round (amount, priority), more than the round's amount in total, so every
# rule caps some requests and splits a remainder.
REQUESTS = ((100, 5), (300, 3), (500, 2), (700, 1))
ROUND_AMOUNT = 1001


class Bench:
    """The deployed consortium, its accounts, and the gas measured so far."""

    def __init__(self) -> None:
        backend = PyEVMBackend(genesis_state=PyEVMBackend.generate_genesis_state(num_accounts=40))
        self.w3 = Web3(EthereumTesterProvider(EthereumTester(backend)))
        keys = iter(Account.from_key(k.to_bytes()) for k in backend.account_keys)
        deployer = next(keys)
        self.admins = {city: next(keys) for city in CITIES}
        validators = {city: next(keys) for city in CITIES}
        self.agencies: dict[str, LocalAccount] = {}
        founding = []
        for city in CITIES:
            for suffix, name, roles in AGENCIES:
                account = self.agencies[f"{city.lower()}.{suffix}"] = next(keys)
                founding.append(FoundingAgency(account.address, city, f"{city} {name}", roles))
        self.agencies["audit"] = next(keys)
        founding.append(
            FoundingAgency(self.agencies["audit"].address, "Harbin", "Data Audit Office", AUDITOR)
        )
        self.spare = list(keys)
        spec = ConsortiumSpec(
            tuple(
                FoundingCity(c, self.admins[c].address, validators[c].address, "HLJ")
                for c in CITIES
            ),
            tuple(founding),
        )
        addresses = deploy_with_web3(self.w3, deployer.address, spec)
        self.contracts = {
            name: self.w3.eth.contract(address=address, abi=load_artifact(name).abi)
            for name, address in addresses.items()
        }
        # (contract, call) -> gas of every time it ran, in first-run order
        self.gas: dict[tuple[str, str], list[int]] = {}
        self._record_deployment(spec, deployer.address)

    def _record_deployment(self, spec: ConsortiumSpec, deployer: ChecksumAddress) -> None:
        """Rows for the five contract creations, read back from the deployment's blocks (a fresh
        chain mines one block per transaction, from block 1)."""
        _, steps = deployment_plan(spec, deployer)
        for block, step in enumerate(steps, start=1):
            if step.to is None:
                name = step.description.removeprefix("create ")
                (tx_hash,) = self.w3.eth.get_block(block)["transactions"]
                receipt = self.w3.eth.get_transaction_receipt(tx_hash)  # type: ignore[arg-type]
                self.gas[(name, "deployment (contract creation)")] = [int(receipt["gasUsed"])]

    def send(self, call: ContractFunction, sender: LocalAccount) -> tuple[Any, int]:
        """Sends `call` from `sender`; returns what it returned and the gas it used."""
        result = call.call({"from": sender.address})
        receipt = self.w3.eth.wait_for_transaction_receipt(call.transact({"from": sender.address}))
        if receipt["status"] != 1:
            raise RuntimeError(f"{call.fn_name} from {sender.address} failed")
        return result, int(receipt["gasUsed"])

    def run(self, contract: str, label: str, call: ContractFunction, sender: LocalAccount) -> Any:
        """Sends `call` and records its gas under (contract, label)."""
        result, gas = self.send(call, sender)
        self.gas.setdefault((contract, label), []).append(gas)
        return result

    def fn(self, contract: str) -> Any:
        return self.contracts[contract].functions

    def now(self) -> int:
        return int(self.w3.eth.get_block("latest")["timestamp"])

    def _table_order(self, item: tuple[tuple[str, str], list[int]]) -> tuple[int, int]:
        """Contracts in deployment order; within one, functions in the order they first ran."""
        contract, call = item[0]
        functions = [label.split()[0] for c, label in self.gas if c == contract]
        return SYSTEM_CONTRACTS.index(contract), functions.index(call.split()[0])

    def table(self) -> str:
        """One row per (contract, call); a range where runs of the same call differed."""
        lines = ["| contract | call | gas used |", "|---|---|---:|"]
        for (contract, call), runs in sorted(self.gas.items(), key=self._table_order):
            low, high = min(runs), max(runs)
            used = f"{low:,}" if low == high else f"{low:,} to {high:,}"
            lines.append(f"| {contract} | {call} | {used} |")
        return "\n".join(lines)


class Grants:
    """Offers signed offline with the SDK (EIP-712), as a grantor and grantee would."""

    def __init__(
        self, bench: Bench, dataset: bytes, grantor: LocalAccount, grantee: LocalAccount
    ) -> None:
        self.bench, self.dataset = bench, dataset
        self.grantor, self.grantee = Signer(grantor), Signer(grantee)
        self.domain = Domain(bench.w3.eth.chain_id, bench.contracts["DataGrants"].address)

    def signed(self) -> OfferFile:
        """A fresh offer (random salt) signed by the grantor and countersigned by the grantee."""
        now = datetime.fromtimestamp(self.bench.now(), tz=UTC)
        offer = GrantOffer.create(
            dataset_id="0x" + self.dataset.hex(),
            grantor=self.grantor.address,
            grantee=self.grantee.address,
            purpose="EPI-TRACE",
            purpose_text="epidemic contact tracing, case 2026-117",
            fields=0b1111,
            valid_from=now,
            valid_until=now + timedelta(days=30),
            access_quota=100,
            conditions="no onward transfer; delete after 30 days",
        )
        return countersign(self.grantee, sign_offer(self.grantor, self.domain, offer))


def consortium_calls(b: Bench) -> None:
    fn = b.fn("Consortium")
    harbin = b.admins["Harbin"]
    agency = b.spare.pop()
    b.run(
        "Consortium",
        "registerAgency",
        fn.registerAgency(agency.address, "Harbin Transport Bureau", GRANTEE),
        harbin,
    )
    admin, validator = b.spare.pop(), b.spare.pop()
    proposal = b.run(
        "Consortium",
        "proposeAdmitCity (includes the proposer's vote)",
        fn.proposeAdmitCity("Suihua", admin.address, validator.address, text32("HLJ")),
        harbin,
    )
    # Five members: more than 2/3 is four votes, so the second and third are ordinary.
    b.run("Consortium", "vote (ordinary)", fn.vote(proposal), b.admins["Qiqihar"])
    b.run("Consortium", "vote (ordinary)", fn.vote(proposal), b.admins["Mudanjiang"])
    b.run("Consortium", "vote (deciding: admits the city)", fn.vote(proposal), b.admins["Jiamusi"])


def grant_and_access_calls(b: Bench) -> tuple[bytes, list[bytes]]:
    """Returns the dataset and grants that the LeakRegistry calls then implicate."""
    fn, log = b.fn("DataGrants"), b.fn("AccessLog")
    grantor, grantee, auditor = (
        b.agencies["jiamusi.bdc"],
        b.agencies["harbin.health"],
        b.agencies["audit"],
    )
    relayer = b.agencies["harbin.bdc"]
    name = "jiamusi/epidemic-travel-trace"
    dataset = keccak(text=name)
    b.run(
        "DataGrants",
        "registerDataset",
        fn.registerDataset(dataset, name, keccak(text="schema"), 2, 24),
        grantor,
    )
    desk = Grants(b, dataset, grantor, grantee)

    def submit(label: str, signed: OfferFile) -> bytes:
        offer, sigs = signed.offer.as_tuple(), (signed.grantor_signature, signed.grantee_signature)
        b.run("DataGrants", label, fn.submitGrant(offer, *sigs), relayer)
        return bytes.fromhex(signed.grant_id[2:])

    first_id = submit(
        "submitGrant (offer + accept; first grant of dataset, grantor, grantee)", desk.signed()
    )
    signed = desk.signed()
    offer_call = fn.offerGrant(signed.offer.as_tuple(), signed.grantor_signature)
    grant_id = b.run("DataGrants", "offerGrant", offer_call, relayer)
    b.run("DataGrants", "acceptGrant", fn.acceptGrant(grant_id, signed.grantee_signature), relayer)
    third_id = submit("submitGrant (offer + accept)", desk.signed())
    withdrawn = desk.signed()
    withdrawn_id, _ = b.send(
        fn.offerGrant(withdrawn.offer.as_tuple(), withdrawn.grantor_signature), relayer
    )
    b.run("DataGrants", "withdrawOffer", fn.withdrawOffer(withdrawn_id), grantor)

    for query in ("select 1", "select 2"):
        call = log.recordAccess(grant_id, keccak(text=query), 40, 0b101)
        b.run("AccessLog", "recordAccess", call, grantee)
    b.run("DataGrants", "suspend", fn.suspend(grant_id, keccak(text="case 2026-31")), auditor)
    b.run("DataGrants", "reinstate", fn.reinstate(grant_id, keccak(text="cleared")), auditor)
    b.run("DataGrants", "revoke", fn.revoke(first_id, keccak(text="purpose fulfilled")), grantor)

    entries = [f"access {i}".encode() for i in range(5000)]
    b.run(
        "AccessLog",
        "anchorLog (first head, no proof)",
        log.anchorLog(1000, merkle.root_hash(entries[:1000]), []),
        grantee,
    )
    for old, new in ((1000, 1500), (1500, 5000)):
        proof = merkle.consistency_proof(entries[:new], old)
        b.run(
            "AccessLog",
            f"anchorLog ({old} -> {new} entries, {len(proof)}-node consistency proof)",
            log.anchorLog(new, merkle.root_hash(entries[:new]), proof),
            grantee,
        )
    return dataset, [grant_id, third_id]


def leak_calls(b: Bench, dataset: bytes, grants: list[bytes]) -> None:
    fn = b.fn("LeakRegistry")
    grantor, auditor = b.agencies["jiamusi.bdc"], b.agencies["audit"]
    for label in ("registerDelivery (first of the grant)", "registerDelivery"):
        b.run(
            "LeakRegistry",
            label,
            fn.registerDelivery(grants[0], keccak(text=label), text32("canary+ak-v1"), 12_000),
            grantor,
        )
    incident = b.run(
        "LeakRegistry",
        "reportIncident",
        fn.reportIncident(dataset, keccak(text="leaked.csv")),
        auditor,
    )
    b.run(
        "LeakRegistry",
        "setIncidentStatus (Open -> Investigating)",
        fn.setIncidentStatus(incident, 2, keccak(text="triage")),
        auditor,
    )
    b.run(
        "LeakRegistry",
        "recordFinding",
        fn.recordFinding(
            incident, grants[0], 12_000, text32("canary+ak-v1"), keccak(text="report")
        ),
        auditor,
    )
    b.run(
        "LeakRegistry",
        "suspendImplicatedGrants (2 grants)",
        fn.suspendImplicatedGrants(incident, grants),
        auditor,
    )
    b.run(
        "LeakRegistry",
        "setIncidentStatus (Investigating -> Attributed)",
        fn.setIncidentStatus(incident, 3, keccak(text="done")),
        auditor,
    )


def allocation_calls(b: Bench) -> None:
    fn = b.fn("ResourceAllocation")
    harbin = b.admins["Harbin"]
    members = [city_id(c) for c in CITIES]
    pool = b.run(
        "ResourceAllocation",
        "createPool (5 member cities)",
        fn.createPool(text32("vaccine-doses"), text32("dose"), 10_000, members, 0),
        harbin,
    )
    for rule, rule_name in enumerate(RULES):
        round_id = b.run(
            "ResourceAllocation", "openRound", fn.openRound(pool, rule, ROUND_AMOUNT), harbin
        )
        for city, (amount, priority) in zip(CITIES[1:], REQUESTS, strict=True):
            b.run(
                "ResourceAllocation",
                "fileRequest",
                fn.fileRequest(pool, amount, priority, keccak(text=f"need of {city}")),
                b.agencies[f"{city.lower()}.emergency"],
            )
        b.run(
            "ResourceAllocation",
            f"closeRound (4 requests, {rule_name})",
            fn.closeRound(pool),
            harbin,
        )
        # Five members: approval needs more than 2/3, four approvals.
        for voter in CITIES[:3]:
            b.run(
                "ResourceAllocation",
                "approveRound (ordinary)",
                fn.approveRound(pool, round_id),
                b.admins[voter],
            )
        b.run(
            "ResourceAllocation",
            "approveRound (deciding: approves the round)",
            fn.approveRound(pool, round_id),
            b.admins[CITIES[3]],
        )
        b.run(
            "ResourceAllocation",
            "confirmReceipt",
            fn.confirmReceipt(pool, round_id, 90),
            b.agencies["qiqihar.emergency"],
        )


def gateway_calls(b: Bench, dataset: bytes, grant_id: bytes) -> None:
    """Jiamusi's data gateway: registered by the city admin, designated by the dataset's owner,
    then recording deliveries (quota, access record and commitment in one transaction)."""
    gateway = b.spare.pop()
    b.send(
        b.fn("Consortium").registerAgency(gateway.address, "Jiamusi Data Gateway", GATEWAY),
        b.admins["Jiamusi"],
    )
    b.run(
        "DataGrants",
        "setGateway",
        b.fn("DataGrants").setGateway(dataset, gateway.address, "https://gateway.jiamusi.example"),
        b.agencies["jiamusi.bdc"],
    )
    for label in (
        "recordDelivery (first of the grant: access, commitment)",
        "recordDelivery (access, commitment)",
    ):
        call = b.fn("AccessLog").recordDelivery(
            grant_id,
            keccak(text=label),
            980,
            0b1011,
            keccak(text=f"copy {label}"),
            text32("cityledger-fp/1"),
        )
        b.run("AccessLog", label, call, gateway)


def main() -> None:
    bench = Bench()
    consortium_calls(bench)
    dataset, grants = grant_and_access_calls(bench)
    gateway_calls(bench, dataset, grants[1])
    leak_calls(bench, dataset, grants)
    allocation_calls(bench)
    print(bench.table())


if __name__ == "__main__":
    main()
