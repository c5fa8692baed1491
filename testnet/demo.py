"""Demo data for a local network, told as the province's story (shared SCENARIOS.md).

Everything goes through the SDK, signed by the agencies' own keystores and sent to their own
city's node, as in a real deployment. Only hashes of texts reach the chain. The leak is real:
grantees fetch marked copies through Jiamusi's gateway, a 5 % sample of one copy is saved as a
spreadsheet (NETWORK/leak/), reported, traced and attributed from the owner's reveal; a mix of
two grantees' copies is left beside it to trace.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow.csv as pa_csv
from eth_utils import keccak

from cityledger.fingerprint.commitment import KeptCommitments
from cityledger.fingerprint.keys import DatasetKeys
from cityledger.fingerprint.matching import Reference
from cityledger.fingerprint.onchain import record_finding, reveal_grant
from cityledger.sdk.allocation import AllocationRule
from cityledger.sdk.grants_client import dataset_id
from cityledger.sdk.ledger import Ledger
from cityledger.sdk.merkle import root_hash
from cityledger.sdk.models import Grant, IncidentStatus, RoundStatus, Sensitivity
from cityledger.sdk.offers import GrantOffer
from cityledger.sdk.signers import load_keystore
from cityledger.testnet import demo_data, gateways
from cityledger.testnet.demo_data import SCHEMA as TRAVEL_SCHEMA
from cityledger.testnet.demo_datasets import (
    ICU_DATASET,
    TRAFFIC_DATASET,
    TRAVEL_DATASET,
    DemoDataset,
    prepare,
)
from cityledger.testnet.network import AccountInfo, TestnetInfo

DEMO_FILE = "demo.json"
LEAK_DIR = "leak"
# The leaked spreadsheet is this share of one grantee's copy; the mix holds this many visits.
SAMPLE_SHARE = 0.05
MIX_ROWS = 5_000
LEAK_SEED = 20261120


def _slug(city: str) -> str:
    return city.lower().replace(" ", "-")


def field_mask(*names: str) -> int:
    """The travel trace's fields by name, as a grant's field scope."""
    return TRAVEL_SCHEMA.field_mask(names)


@dataclass(frozen=True)
class DemoSummary:
    datasets: dict[str, str]
    gateways: dict[str, str]  # dataset name -> the URL of its gateway
    grants: dict[str, str]  # state -> grant id
    incident: int
    pool: int
    round: int
    leak: dict[str, str]  # the leaked spreadsheet, the two-grantee mix, the owner's reveal

    def write(self, path: Path) -> None:
        path.write_text(json.dumps(self.__dict__, indent=2) + "\n")


class _Actors:
    """Ledgers signed by named accounts of the network ('jiamusi-bdc', 'harbin-admin', ...)."""

    def __init__(self, info: TestnetInfo, passphrase: str) -> None:
        self._info = info
        self._passphrase = passphrase
        self._ledgers: dict[str, Ledger] = {}
        accounts = info.admins + info.agencies
        self._accounts = {Path(a.keystore).stem: a for a in accounts}

    def account(self, name: str) -> AccountInfo:
        return self._accounts[name]

    def __call__(self, name: str) -> Ledger:
        if name not in self._ledgers:
            account = self._accounts[name]
            node = next(n for n in self._info.nodes if n.city == account.city)
            signer = load_keystore(Path(account.keystore), self._passphrase)
            self._ledgers[name] = Ledger.connect(
                node.rpc_url,
                signer,
                consortium=self._info.system_contracts["Consortium"],
                tls_ca=self._info.tls_ca,
            )
        return self._ledgers[name]


def _offer(
    actors: _Actors,
    grantor: str,
    grantee: str,
    dataset: str,
    *,
    purpose: str,
    fields: int,
    days: float,
    quota: int,
) -> GrantOffer:
    now = datetime.now(UTC)
    return GrantOffer.create(
        dataset_id=dataset_id(dataset),
        grantor=actors.account(grantor).address,
        grantee=actors.account(grantee).address,
        purpose=purpose,
        purpose_text=f"{purpose}: {grantor} to {grantee}",
        fields=fields,
        valid_from=now - timedelta(minutes=1),
        valid_until=now + timedelta(days=days),
        access_quota=quota,
    )


def _grant(
    actors: _Actors,
    grantor: str,
    grantee: str,
    dataset: str,
    *,
    accept: bool,
    purpose: str,
    fields: int,
    days: float,
    quota: int,
) -> Grant:
    """The grantor signs an offer; with `accept` the grantee countersigns and submits it,
    otherwise the grantor puts the bare offer on chain."""
    offer = _offer(
        actors, grantor, grantee, dataset, purpose=purpose, fields=fields, days=days, quota=quota
    )
    signed = actors(grantor).grants.offer_file(offer)
    if not accept:
        return actors(grantor).grants.submit(signed)
    return actors(grantee).grants.submit(actors(grantee).grants.countersign(signed))


def populate(info: TestnetInfo, passphrase: str, say: Callable[[str], None]) -> DemoSummary:
    actors = _Actors(info, passphrase)
    cities = [n.city for n in info.nodes if n.validating]

    say("datasets: synthetic files, their schemas and the owners' dataset secrets")
    datasets = prepare(Path(info.directory), passphrase)
    say("datasets: the big-data centres register them (schemas by hash) and their gateways")
    sensitivity = {
        TRAVEL_DATASET: Sensitivity.RESTRICTED,
        ICU_DATASET: Sensitivity.CONFIDENTIAL,
        TRAFFIC_DATASET: Sensitivity.INTERNAL,
    }
    served: dict[str, str] = {}
    for dataset in datasets.values():
        owner = actors(dataset.owner)
        owner.datasets.register(
            dataset.name,
            schema=dataset.schema.canonical_json(),
            field_count=len(dataset.schema.columns),
            sensitivity=sensitivity[dataset.name],
        )
        gateway = next(g for g in info.gateways if g.city == dataset.city)
        owner.datasets.set_gateway(dataset.name, gateway.address, gateway.url)
        gateways.configure(info, gateway, [dataset.source])
        served[dataset.name] = gateway.url
    # The gateways start now and come up while the story goes on; the leak needs them.
    gateways.start(info, passphrase)

    say("grant: Jiamusi signs an offer offline, Harbin Health countersigns and submits")
    epidemic_fields = field_mask("id_hash", "visit_time", "latitude", "longitude", "test_result")
    offer = _offer(
        actors,
        "jiamusi-bdc",
        "harbin-health",
        TRAVEL_DATASET,
        purpose="epidemic-control",
        fields=epidemic_fields,
        days=30,
        quota=200,
    )
    offer_file = actors("jiamusi-bdc").grants.offer_file(offer)
    countersigned = actors("harbin-health").grants.countersign(offer_file)
    active = actors("harbin-health").grants.submit(countersigned)

    say("accesses: Harbin's epidemiology system records its queries; a log head is anchored")
    for query, records in (("contacts of case 17", 42), ("trajectories 11-01..11-14", 318)):
        actors("harbin-health").access.record(
            active.id, query=query, records=records, fields=epidemic_fields
        )
    # The off-chain log stays with the agency (here: a file beside the network); its head is
    # anchored, and entries written since then wait for the next anchor.
    log_lines = [
        f"{i}\tgrant {active.id}\tquery {keccak(text=f'query {i}').hex()[:16]}\trecords {i % 40}"
        for i in range(70)
    ]
    anchored = [line.encode() for line in log_lines[:64]]
    actors("harbin-health").access.anchor(len(anchored), root_hash(anchored))
    log_file = Path(info.directory) / "logs" / "harbin-health-access.log"
    log_file.parent.mkdir(exist_ok=True)
    log_file.write_text("\n".join(log_lines) + "\n")

    say("more grants: one awaiting acceptance, one withdrawn, one revoked, one short-lived")
    pending = _grant(
        actors,
        "harbin-bdc",
        "qiqihar-health",
        ICU_DATASET,
        accept=False,
        purpose="icu-surge-planning",
        fields=0b1111,
        days=14,
        quota=50,
    )
    withdrawn = _grant(
        actors,
        "harbin-bdc",
        "qiqihar-police",
        ICU_DATASET,
        accept=False,
        purpose="capacity-review",
        fields=0b0011,
        days=7,
        quota=5,
    )
    actors("harbin-bdc").grants.withdraw(withdrawn.id)
    revoked = _grant(
        actors,
        "qiqihar-bdc",
        "harbin-transport",
        TRAFFIC_DATASET,
        accept=True,
        purpose="congestion-study",
        fields=0b1111,
        days=90,
        quota=1000,
    )
    actors("qiqihar-bdc").grants.revoke(revoked.id, "study finished early")
    expiring = _grant(
        actors,
        "qiqihar-bdc",
        "harbin-police",
        TRAFFIC_DATASET,
        accept=True,
        purpose="event-security",
        fields=0b0011,
        days=1 / 1440,
        quota=10,
    )

    say("leak: Mudanjiang's police and Harbin Health fetch marked copies of the travel trace")
    leaked = _grant(
        actors,
        "jiamusi-bdc",
        "mudanjiang-police",
        TRAVEL_DATASET,
        accept=True,
        purpose="fugitive-search",
        fields=field_mask("id_hash", "visit_time", "latitude", "longitude", "cell_id"),
        days=30,
        quota=20,
    )
    gateways.wait_until_serving(info)
    police_copy = actors("mudanjiang-police").deliveries.fetch_table(leaked.id)
    places = ["visit_time", "latitude", "longitude"]
    health_copy = actors("harbin-health").deliveries.fetch_table(
        active.id, fields=["id_hash", *places]
    )
    say("leak: a 5 % sample of the police copy turns up as a spreadsheet; the auditor reports it")
    folder = Path(info.directory) / LEAK_DIR
    folder.mkdir(exist_ok=True)
    rows = round(SAMPLE_SHARE * police_copy.num_rows)
    sample = demo_data.write_spreadsheet(
        demo_data.sample(police_copy, rows, seed=LEAK_SEED), folder / "travel-trace-sample.xlsx"
    )
    # Two grantees' copies mixed by rows, identifiers dropped: the Tardos code names both.
    mix = folder / "two-grantee-mix.csv"
    pa_csv.write_csv(
        demo_data.collude(
            [police_copy.select(places), health_copy.select(places)], MIX_ROWS, LEAK_SEED, "rows"
        ),
        mix,
    )
    auditor = actors("harbin-audit")
    incident = auditor.leaks.report(TRAVEL_DATASET, evidence=sample.read_bytes())
    auditor.leaks.set_status(incident.id, IncidentStatus.INVESTIGATING, "tracing deliveries")
    auditor.leaks.suspend_implicated(incident.id, [leaked.id])
    say("leak: Jiamusi traces the spreadsheet and reveals the grant; the auditor records it")
    reveal = folder / "reveal.json"
    _reveal(
        actors("jiamusi-bdc"),
        datasets[TRAVEL_DATASET],
        passphrase,
        incident.id,
        leaked.id,
        sample,
        reveal,
    )
    record_finding(auditor, incident.id, sample, reveal)
    auditor.leaks.set_status(incident.id, IncidentStatus.ATTRIBUTED, "finding recorded")

    say("allocation: Harbin pools 100,000 vaccine doses; cities request; max-min fair round")
    coordinator = actors("harbin-admin")
    pool = coordinator.allocation.create_pool(
        "vaccine-doses", unit="dose", capacity=100_000, members=cities
    )
    round_ = coordinator.allocation.open_round(pool.id, 100_000, AllocationRule.MAX_MIN_FAIR)
    asks = {
        "Harbin": 30_000,
        "Qiqihar": 18_000,
        "Mudanjiang": 22_000,
        "Jiamusi": 40_000,
        "Daqing": 25_000,
    }
    for city in cities:
        actors(f"{_slug(city)}-emergency").allocation.request(
            pool.id, asks.get(city, 20_000), priority=3, justification=f"{city} cold-chain plan"
        )
    coordinator.allocation.close_round(pool.id)
    for city in cities:
        if coordinator.allocation.round(pool.id, round_.id).status == RoundStatus.APPROVED:
            break
        actors(f"{_slug(city)}-admin").allocation.approve(pool.id, round_.id)
    decided = coordinator.allocation.round(pool.id, round_.id)
    receiver = cities[-1]
    allocated = dict(decided.allocations)[coordinator.consortium.city(receiver).id]
    actors(f"{_slug(receiver)}-emergency").allocation.confirm_receipt(pool.id, round_.id, allocated)

    summary = DemoSummary(
        datasets={name: dataset_id(name) for name in datasets},
        gateways=served,
        grants={
            "active": active.id,
            "offered": pending.id,
            "withdrawn": withdrawn.id,
            "revoked": revoked.id,
            "expiring within a minute": expiring.id,
            "suspended": leaked.id,
        },
        incident=incident.id,
        pool=pool.id,
        round=decided.id,
        leak={"sample": str(sample), "mix": str(mix), "reveal": str(reveal)},
    )
    summary.write(Path(info.directory) / DEMO_FILE)
    return summary


def _reveal(
    owner: Ledger,
    dataset: DemoDataset,
    passphrase: str,
    incident_id: int,
    grant_id: str,
    evidence: Path,
    out: Path,
) -> None:
    """The owner traces the evidence against its original data and writes the grant's reveal
    (what `cityledger leak reveal` does)."""
    keys = DatasetKeys.load(dataset.source.secret, passphrase)
    reference = Reference.load(dataset.source.source, dataset.schema, keys)
    incident = owner.leaks.incident(incident_id)
    kept = KeptCommitments(dataset.source.secret)
    reveal_grant(owner, incident, grant_id, evidence, reference, kept).save(out)
