"""Reads at scale: traces by dataset, grant, agency and city through indexed topics, in small block
chunks and time ranges; contract discovery from the Consortium address alone."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterable, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from anvil_helpers import CITIES, Deployed, role_key
from eth_keys import keys
from eth_typing import HexStr
from eth_utils import to_checksum_address

from cityledger.contracts.artifacts import SYSTEM_CONTRACTS
from cityledger.sdk import Ledger, Signer, untrusted_rpc
from cityledger.sdk.audit import AuditClient
from cityledger.sdk.consortium_client import city_id
from cityledger.sdk.directory import Directory, UnknownName
from cityledger.sdk.errors import LedgerError, LedgerTransportError
from cityledger.sdk.finality import FinalityError
from cityledger.sdk.grants_client import dataset_id
from cityledger.sdk.history import History, TopicFilter, topic_for
from cityledger.sdk.manifest import Manifest
from cityledger.sdk.models import GrantStatus, HistoryEvent, IncidentStatus, RoundStatus, utc
from cityledger.sdk.offers import GrantOffer

DATASET = "jiamusi/hospital-capacity"


def ledger(deployed: Deployed, key: str | None = None) -> Ledger:
    signer = role_key(key) if key else None
    return Ledger.connect(deployed.anvil.url, signer, manifest=deployed.manifest_path)


@pytest.fixture(scope="module")
def activity(deployed: Deployed) -> str:
    """A dataset, a grant, three accesses an hour apart, and an anchored log; the grant id."""
    jiamusi, harbin = ledger(deployed, "jiamusi.bdc"), ledger(deployed, "harbin.health")
    dataset = jiamusi.datasets.register(DATASET, schema="ward,beds,free", field_count=3)
    chain_now = utc(jiamusi.history.timestamp(jiamusi.history.latest_block()))
    offer = GrantOffer.create(
        dataset_id=dataset.id,
        grantor=jiamusi.address or "",
        grantee=harbin.address or "",
        purpose="surge-planning",
        purpose_text="ICU surge planning",
        fields=0b111,
        valid_from=chain_now - timedelta(minutes=1),
        valid_until=chain_now + timedelta(days=2),
        access_quota=10,
    )
    grant = harbin.grants.submit(harbin.grants.countersign(jiamusi.grants.offer_file(offer)))
    for hour in range(3):
        deployed.anvil.advance(3600)
        harbin.access.record(grant.id, query=f"hour {hour}", records=hour + 1, fields=0b1)
    harbin.access.anchor_log([b"entry 1", b"entry 2"])
    harbin.access.anchor_log([b"entry 1", b"entry 2", b"entry 3"])
    return grant.id


def events(items: Iterable[HistoryEvent]) -> list[str]:
    return [e.event for e in items]


def test_traces_by_each_key(deployed: Deployed, activity: str) -> None:
    reader = ledger(deployed)
    by_grant = list(reader.audit.trace(grant=activity))
    assert events(by_grant) == ["GrantOffered", "GrantAccepted"] + ["AccessRecorded"] * 3
    assert events(reader.audit.trace(dataset=DATASET)) == ["DatasetRegistered", *events(by_grant)]
    by_agency = events(reader.audit.trace(agency=role_key("harbin.health").address))
    assert by_agency.count("AccessRecorded") == 3 and by_agency.count("LogAnchored") == 2
    assert "GrantAccepted" in by_agency and "AgencyRegistered" in by_agency
    by_city = events(reader.audit.trace(city="Harbin"))
    assert by_city[0] == "CityAdmitted" and by_city.count("LogAnchored") == 2
    blocks = [(e.block_number, e.log_index) for e in reader.audit.trace(city="Harbin")]
    assert blocks == sorted(blocks)


def test_time_range_and_chunks(deployed: Deployed, activity: str) -> None:
    reader = ledger(deployed)
    accesses = [e for e in reader.audit.trace(grant=activity) if e.event == "AccessRecorded"]
    second = accesses[1].timestamp
    window = list(reader.audit.trace(grant=activity, since=second, until=second))
    assert [e.args["recordCount"] for e in window] == [2]
    later = list(reader.audit.trace(grant=activity, since=second + timedelta(seconds=1)))
    assert [e.args["recordCount"] for e in later] == [3]

    everything = list(reader.audit.trace(dataset=DATASET))
    small_chunks = History(reader.chain, deployed.manifest.first_block, chunk_blocks=2)
    assert list(AuditClient(small_chunks, reader.consortium).trace(dataset=DATASET)) == everything


def test_pages(deployed: Deployed, activity: str) -> None:
    reader = ledger(deployed)
    filters = [TopicFilter("AccessLog", ("AccessRecorded",), 1, topic_for(activity))]
    pages = [reader.history.page(filters, offset=o, limit=2) for o in (0, 2, 4)]
    assert [[e.args["recordCount"] for e in page] for page in pages] == [[1, 2], [3], []]


def test_discovery_from_consortium_address(deployed: Deployed, activity: str) -> None:
    found = Ledger.connect(deployed.anvil.url, consortium=deployed.manifest.consortium)
    assert found.chain.addresses == deployed.manifest.contracts
    assert found.grants.get(activity).purpose_code == "surge-planning"
    assert [c.name for c in found.consortium.cities()] == ["Harbin", "Qiqihar", "Jiamusi", "Daqing"]


def test_verify_finality_checks_seals_against_consortium_validators(
    deployed: Deployed, activity: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The glue around the verifier: block hash from the node, validators from Consortium at the
    parent block. Anvil serves no certificates, so this one is made with the validator keys."""
    reader = ledger(deployed)
    number = reader.history.latest_block()
    with pytest.raises(LedgerTransportError, match="cityledger_getFinalityCertificate"):
        reader.verify_finality(number)
    block = reader.chain.w3.eth.get_block(number)
    validators = [role_key(f"{city.lower()}.validator") for city in CITIES]

    def certificate(sealers: list[Signer]) -> dict[str, object]:
        seals = [
            keys.PrivateKey(s.private_key).sign_msg_hash(bytes(block["hash"])) for s in sealers
        ]
        return {
            "blockNumber": hex(number),
            "blockHash": "0x" + bytes(block["hash"]).hex(),
            "round": 0,
            "validators": [v.address for v in validators],
            "signers": [s.address for s in sealers],
            "seals": ["0x" + seal.to_bytes().hex() for seal in seals],
        }

    served = certificate(validators[:3])
    monkeypatch.setattr(reader.chain, "raw_request", lambda method, params: served)
    proof = reader.verify_finality(number)
    assert proof.quorum == 3 and proof.signers == tuple(v.address for v in validators[:3])
    served = certificate(validators[:2])
    with pytest.raises(FinalityError, match="only 2 of 4"):
        reader.verify_finality(number)


class CappingProxy:
    """Stands in front of a real node and refuses, as geth does, any eth_getLogs whose answer
    would hold more than `cap` logs: the way providers' caps look to a client."""

    def __init__(self, upstream: str, cap: int) -> None:
        self.upstream, self.cap, self.refused, self.answered = upstream, cap, 0, 0
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                answer = requests.post(
                    proxy.upstream,
                    data=body,
                    timeout=30,
                    headers={"Content-Type": "application/json"},
                ).json()
                request = json.loads(body)
                if isinstance(request, list):  # a batch: each call capped alone
                    by_id = {a["id"]: a for a in answer}
                    answer = [proxy.capped(r, by_id[r["id"]]) for r in request]
                else:
                    answer = proxy.capped(request, answer)
                encoded = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(encoded)))
                self.end_headers()
                self.wfile.write(encoded)

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def capped(self, request: Any, answer: Any) -> Any:
        logs = isinstance(request, dict) and request.get("method") == "eth_getLogs"
        self.answered += logs
        if not logs or len(answer.get("result") or []) <= self.cap:
            return answer
        self.refused += 1
        self.answered -= 1
        message = f"query returned more than {self.cap} results"
        return {
            "jsonrpc": "2.0",
            "id": request["id"],
            "error": {"code": -32005, "message": message},
        }


def test_a_trace_larger_than_the_nodes_cap_is_read_whole_and_in_order(
    deployed: Deployed, activity: str
) -> None:
    direct = list(ledger(deployed).audit.trace(dataset=DATASET))
    proxy = CappingProxy(deployed.anvil.url, cap=2)
    try:
        capped = Ledger.connect(proxy.url, manifest=deployed.manifest_path)
        history = History(capped.chain, deployed.manifest.first_block, chunk_blocks=1_000_000)
        events = AuditClient(history, capped.consortium).trace(dataset=DATASET)
        traced = [next(events)]
        answered_before_the_first = proxy.answered
        traced += events
    finally:
        proxy.server.shutdown()
    assert traced == direct and len(traced) > 2
    assert proxy.refused > 0  # the ranges were narrowed until each answer fit
    # ...one range at a time: the first events were handed on before the rest were read.
    assert answered_before_the_first < proxy.answered, (answered_before_the_first, proxy.answered)


def test_a_range_whose_answer_is_too_long_to_read_is_narrowed_like_a_capped_one(
    deployed: Deployed, activity: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # anvil has no log cap: an answer over the client's byte bound is what narrows its ranges.
    reader = ledger(deployed)
    direct = list(reader.audit.trace(dataset=DATASET))
    monkeypatch.setattr(untrusted_rpc, "MAX_RESPONSE_BYTES", 3_000)
    refused: list[str] = []
    answers = untrusted_rpc.UntrustedNode.answers

    def counted(node: untrusted_rpc.UntrustedNode) -> list[dict[str, Any]]:
        try:
            return answers(node)
        except untrusted_rpc.AnswerTooLarge as refusal:
            refused.append(str(refusal))
            raise

    monkeypatch.setattr(untrusted_rpc.UntrustedNode, "answers", counted)
    history = History(reader.chain, deployed.manifest.first_block, chunk_blocks=1_000_000)
    narrowed = list(AuditClient(history, reader.consortium).trace(dataset=DATASET))
    assert narrowed == direct
    assert refused and "answered more than 3,000 bytes" in refused[0]


def test_events_decode_as_web3_decodes_them(deployed: Deployed, activity: str) -> None:
    # Two independent paths: web3's event processing of the same logs, made plain as the SDK
    # shows values (bytes as hex, addresses checksummed, structs as dicts).
    reader = ledger(deployed)

    def plain(value: Any) -> Any:
        if isinstance(value, bytes):
            return "0x" + value.hex()
        if isinstance(value, Mapping):
            return {k: plain(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [plain(v) for v in value]
        return value

    for event in reader.audit.trace(dataset=DATASET):
        receipt = reader.chain.w3.eth.get_transaction_receipt(HexStr(event.tx_hash))
        contract = reader.chain.contract(event.contract)
        (log,) = [r for r in receipt["logs"] if int(r["logIndex"]) == event.log_index]
        expected = contract.events[event.event]().process_log(log)
        assert event.args == plain(dict(expected["args"])), event.event


def test_the_directory_names_ids_and_refuses_unknown_names(
    deployed: Deployed, activity: str
) -> None:
    reader = ledger(deployed)
    directory = Directory(reader.consortium, reader.history)
    jiamusi_bdc = role_key("jiamusi.bdc").address
    assert directory.dataset(DATASET) == dataset_id(DATASET)
    assert directory.dataset_name(dataset_id(DATASET)) == DATASET
    assert str(directory.agency_name(jiamusi_bdc)) == "Jiamusi Big Data Center"
    assert str(directory.agency_name(role_key("harbin.health").address)) == (
        "Harbin Health Commission"
    )
    assert directory.agency("harbin health commission") == role_key("harbin.health").address
    assert directory.agency("Harbin admin") == role_key("harbin.admin").address
    assert directory.city("harbin") == directory.city(str(city_id("Harbin")))
    with pytest.raises(UnknownName, match="did you mean 'jiamusi/hospital-capacity'"):
        directory.dataset("jiamusi/hospital-capacty")
    with pytest.raises(UnknownName, match="did you mean 'Harbin'"):
        directory.city("Harbn")
    with pytest.raises(UnknownName, match="did you mean 'Harbin Health Commission'"):
        directory.agency("Harbin Health Comission")
    with pytest.raises(UnknownName, match="agency or city admin"):
        directory.agency(Signer.generate().address)
    # A grant by id, by a prefix, or as tables shorten it; a mistyped id offers the right one.
    assert directory.grant(activity.upper().replace("0X", "0x")) == activity
    assert directory.grant(activity[:12]) == activity
    assert directory.grant(activity[:10] + "…" + activity[-4:]) == activity
    typo = activity[:-1] + ("0" if activity[-1] != "0" else "1")
    with pytest.raises(UnknownName, match=f"did you mean '{activity}'"):
        directory.grant(typo)
    with pytest.raises(LedgerError, match="not a grant id"):
        directory.grant("grant-1")


def test_a_networks_testnet_json_reads_as_a_manifest_and_manifest_errors_are_ledger_errors(
    tmp_path: Path,
) -> None:
    network = {
        "chain_id": 4242,
        "directory": str(tmp_path),
        "nodes": [],
        "system_contracts": {
            name: "0x" + f"{i + 1:040x}" for i, name in enumerate(SYSTEM_CONTRACTS)
        },
        "admins": [],
        "agencies": [],
    }
    (tmp_path / "testnet.json").write_text(json.dumps(network))
    manifest = Manifest.read(tmp_path / "testnet.json")
    assert manifest.chain_id == 4242 and manifest.first_block == 0
    assert manifest.consortium == to_checksum_address("0x" + "1".rjust(40, "0"))
    (tmp_path / "other.json").write_text("{}")
    with pytest.raises(LedgerError, match=r"nor a network's testnet\.json"):
        Manifest.read(tmp_path / "other.json")


def test_statuses_print_as_names_and_compare_as_numbers() -> None:
    assert str(GrantStatus.ACTIVE) == "active" and f"{IncidentStatus.OPEN:>6}" == "  open"
    assert int(GrantStatus.ACTIVE) == 3 and RoundStatus(3) is RoundStatus.APPROVED


def test_a_datasets_trace_holds_the_findings_on_its_incidents(
    deployed: Deployed, activity: str
) -> None:
    auditor = ledger(deployed, "harbin.audit")
    incident = auditor.leaks.report(DATASET, evidence=b"rows seen in a chat group")
    auditor.leaks.attribute(incident.id, activity, score=40, method="cityledger-fp/1")
    events = [e.event for e in ledger(deployed).audit.trace(dataset=DATASET)]
    assert events[-2:] == ["IncidentReported", "FindingRecorded"]
