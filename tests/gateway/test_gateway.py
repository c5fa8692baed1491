"""The data gateway as a grantor runs it: a real `cityledger gateway serve` process for Jiamusi on
loopback HTTPS, in front of the 100,000-row travel trace, against a real 4-validator network.

Grantees fetch through the SDK (and, at the end, the CLI); refusals are driven with hand-made
signed requests over plain HTTPS. One network and one gateway for the module; each test makes
its own grants."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
import requests
from testnet_helpers import CITYLEDGER, PASSPHRASE, running_testnet

from cityledger.fingerprint.commitment import DeliveryCommitment, file_hash
from cityledger.fingerprint.keys import DatasetKeys
from cityledger.fingerprint.marking import Marker
from cityledger.gateway.config import DatasetSource
from cityledger.gateway.service import MAX_BODY_BYTES
from cityledger.sdk import merkle
from cityledger.sdk.delivery import (
    Condition,
    DeliveryRequest,
    SignedReceipt,
    SignedRequest,
    sign_request,
)
from cityledger.sdk.errors import GatewayRefusal
from cityledger.sdk.grants_client import dataset_id
from cityledger.sdk.ledger import Ledger
from cityledger.sdk.models import Grant, Role
from cityledger.sdk.offers import GrantOffer
from cityledger.sdk.signers import load_keystore
from cityledger.testnet import gateways
from cityledger.testnet.demo_datasets import (
    ICU_DATASET,
    ROW_GROUP_ROWS,
    TRAVEL_DATASET,
    DemoDataset,
    prepare,
)
from cityledger.testnet.network import GatewayInfo, TestnetInfo, block_number, is_running

pytestmark = pytest.mark.slow

EPIDEMIC = ("id_hash", "visit_time", "latitude", "longitude", "test_result")
# The trace ten times over (each copy two weeks later): the memory test's large delivery.
LONG_DATASET = "jiamusi/epidemic-travel-trace-long"
TWO_WEEKS = pa.scalar(14 * 86_400, pa.duration("s"))


def _long_trace(travel: DemoDataset, table: pa.Table, folder: Path) -> DatasetSource:
    column = table.schema.get_field_index("visit_time")
    copies = [
        table.set_column(
            column, "visit_time", pc.add(table["visit_time"], pc.multiply(TWO_WEEKS, i))
        )
        for i in range(10)
    ]
    source, secret = folder / "long.parquet", folder / "long.secret"
    pq.write_table(pa.concat_tables(copies), source, row_group_size=ROW_GROUP_ROWS)
    DatasetKeys.generate(LONG_DATASET).save(secret, PASSPHRASE)
    return DatasetSource(LONG_DATASET, source, travel.source.schema, secret)


@dataclass
class Scene:
    info: TestnetInfo
    gateway: GatewayInfo
    travel: DemoDataset
    original: pa.Table
    ledgers: dict[str, Ledger] = field(default_factory=dict)

    def ledger(self, name: str) -> Ledger:
        """A ledger signed by the network's key NAME ('harbin-health'), on its city's node."""
        if name not in self.ledgers:
            account = next(
                a for a in self.info.admins + self.info.agencies if Path(a.keystore).stem == name
            )
            node = next(n for n in self.info.nodes if n.city == account.city)
            self.ledgers[name] = Ledger.connect(
                node.rpc_url,
                load_keystore(Path(account.keystore), PASSPHRASE),
                consortium=self.info.system_contracts["Consortium"],
                tls_ca=self.info.tls_ca,
            )
        return self.ledgers[name]

    def grant(
        self,
        fields: tuple[str, ...] = EPIDEMIC,
        *,
        grantee: str = "harbin-health",
        quota: int = 10,
        starts: timedelta = timedelta(minutes=-1),
        lasts: timedelta = timedelta(days=1),
        accept: bool = True,
        dataset: str = TRAVEL_DATASET,
        owner: str = "jiamusi-bdc",
    ) -> Grant:
        now = datetime.now(UTC)
        schema = self.travel.schema
        offer = GrantOffer.create(
            dataset_id=dataset_id(dataset),
            grantor=self.ledger(owner).address or "",
            grantee=self.ledger(grantee).address or "",
            purpose="epidemic-control",
            purpose_text="contacts of cases",
            fields=schema.field_mask(fields) if dataset != ICU_DATASET else 0b11,
            valid_from=now + starts,
            valid_until=now + starts + lasts,
            access_quota=quota,
        )
        signed = self.ledger(owner).grants.offer_file(offer)
        if accept:
            grantee_ledger = self.ledger(grantee)
            signed = grantee_ledger.grants.countersign(signed)
        grant = self.ledger(grantee if accept else owner).grants.submit(signed)
        self.settle()
        return grant

    def settle(self) -> None:
        """Waits until the gateway's node holds every block any node holds now: the gateway
        checks grants at its own node's latest block."""
        highest = max(n for n in map(block_number, self.info.nodes) if n is not None)
        node = next(n for n in self.info.nodes if n.city == self.gateway.city)
        while (block_number(node) or 0) < highest:
            time.sleep(0.05)

    def signed(self, grant_id: str, signer: str = "harbin-health", **changes: Any) -> SignedRequest:
        ledger = self.ledger(signer)
        request = DeliveryRequest.create(
            grant_id, self.gateway.address, ["id_hash", "visit_time"], format="csv"
        ).model_copy(update=changes)
        assert ledger.chain.signer is not None
        return sign_request(ledger.chain.signer, ledger.grants.domain, request)

    def post(self, grant_id: str, body: SignedRequest | bytes) -> requests.Response:
        data = body if isinstance(body, bytes) else body.model_dump_json(by_alias=True).encode()
        return requests.post(
            f"{self.gateway.url}/v1/grants/{grant_id}/deliveries",
            data=data,
            headers={"Content-Type": "application/json"},
            verify=str(self.info.tls_ca),
            timeout=120,
        )

    def refused(self, response: requests.Response, status: int, rule: str) -> dict[str, Any]:
        """The refusal document, checked: the status, the rule, no data, no traceback."""
        assert "Traceback" not in response.text
        assert response.status_code == status, response.text
        assert response.headers["content-type"].startswith("application/json")
        error: dict[str, Any] = response.json()["error"]
        assert error["rule"] == rule, error
        assert error["message"]
        return error

    def log_entries(self) -> list[dict[str, Any]]:
        answer = requests.get(
            f"{self.gateway.url}/v1/log", verify=str(self.info.tls_ca), timeout=30
        )
        return [json.loads(line) for line in answer.text.splitlines()]

    @property
    def pid(self) -> int:
        assert self.gateway.pid is not None
        return self.gateway.pid

    def restart(self) -> None:
        gateways.start(self.info, PASSPHRASE)
        gateways.wait_until_serving(self.info)


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scene]:
    directory = tmp_path_factory.mktemp("gateway") / "net"
    with running_testnet(directory, demo=False) as info:
        datasets = prepare(directory, PASSPHRASE)
        travel = datasets[TRAVEL_DATASET]
        jiamusi = next(g for g in info.gateways if g.city == "Jiamusi")
        scene = Scene(info, jiamusi, travel, pq.read_table(travel.source.source))
        long = _long_trace(travel, scene.original, travel.source.source.parent)
        for name, schema, city in (
            (TRAVEL_DATASET, travel.schema, "Jiamusi"),
            (LONG_DATASET, travel.schema, "Jiamusi"),
            (ICU_DATASET, datasets[ICU_DATASET].schema, "Harbin"),
        ):
            owner = scene.ledger(f"{city.lower()}-bdc")
            owner.datasets.register(
                name, schema=schema.canonical_json(), field_count=len(schema.columns)
            )
            city_gateway = next(g for g in info.gateways if g.city == city)
            owner.datasets.set_gateway(name, city_gateway.address, city_gateway.url)
        gateways.configure(info, jiamusi, [travel.source, long], anchor_interval=1.0)
        scene.restart()
        try:
            yield scene
        finally:
            gateways.stop(info)


# ------------------------------------------------------------------ deliveries


def test_a_grantee_gets_a_marked_copy_recorded_before_it_was_sent(scene: Scene) -> None:
    grant = scene.grant()
    harbin = scene.ledger("harbin-health")
    where = [Condition.parse("test_result = positive")]
    fetched = harbin.deliveries.fetch_table(grant.id, where=where)

    # Exactly the granted columns of the matching rows, marked for this grant: what the owner's
    # marker makes of the original rows (about 1 % of them left out, ids pseudonymised).
    keys = DatasetKeys.load(scene.travel.source.secret, PASSPHRASE)
    matching = scene.original.filter(pc.equal(scene.original["test_result"], "positive"))
    expected = Marker(scene.travel.schema, keys, grant.id).mark_table(matching, EPIDEMIC)
    assert fetched.column_names == list(EPIDEMIC)
    assert 0.97 * matching.num_rows < fetched.num_rows < matching.num_rows
    assert fetched.cast(expected.schema).equals(expected)
    assert not set(fetched["id_hash"].to_pylist()) & set(matching["id_hash"].to_pylist())

    # On chain: one access by the grantee recorded by the gateway, and the commitment.
    (delivery,) = harbin.leaks.deliveries(grant.id)
    assert delivery.recorded_by == scene.gateway.address
    assert delivery.grantor == grant.grantor
    assert harbin.grants.get(grant.id).accesses_used == 1
    (access,) = [e for e in harbin.audit.trace(grant=grant.id) if e.event == "AccessRecorded"]
    assert access.args["accessor"] == grant.grantee
    assert access.args["recordedBy"] == scene.gateway.address
    assert access.args["recordCount"] == fetched.num_rows


def test_the_receipt_verifies_against_the_file_and_the_chain(scene: Scene, tmp_path: Path) -> None:
    grant = scene.grant()
    harbin = scene.ledger("harbin-health")
    out = tmp_path / "copy.csv"
    fetched = harbin.deliveries.fetch(grant.id, out, fields=["id_hash", "visit_time"])
    receipt = fetched.receipt
    assert receipt.content_hash == file_hash(out)
    assert receipt.rows == len(out.read_text().splitlines()) - 1
    assert (receipt.access_number, receipt.delivery_index) == (1, 0)
    assert receipt.checked_at_block < receipt.recorded_at_block
    # The owner recomputes the commitment from the delivered file: it is what the chain holds.
    keys = DatasetKeys.load(scene.travel.source.secret, PASSPHRASE)
    commitment = DeliveryCommitment.of(
        keys,
        grant.id,
        scene.travel.schema,
        file_hash=file_hash(out),
        rows=receipt.rows,
        columns=("id_hash", "visit_time"),
    )
    assert (
        commitment.digest() == receipt.commitment == harbin.leaks.deliveries(grant.id)[0].commitment
    )
    # A receipt is the gateway's signature over exactly these values.
    signed = scene.post(grant.id, scene.signed(grant.id))
    header = SignedReceipt.from_header(signed.headers["Cityledger-Receipt"])
    assert header.signer(harbin.grants.domain) == scene.gateway.address
    tampered = header.model_copy(update={"receipt": header.receipt.model_copy(update={"rows": 7})})
    assert tampered.signer(harbin.grants.domain) != scene.gateway.address


def test_a_sealed_copy_opens_only_for_the_grantee(scene: Scene, tmp_path: Path) -> None:
    grant = scene.grant()
    harbin = scene.ledger("harbin-health")
    plain = harbin.deliveries.fetch(grant.id, tmp_path / "plain.jsonl", fields=["id_hash"])
    sealed = harbin.deliveries.fetch(
        grant.id, tmp_path / "sealed.jsonl", fields=["id_hash"], sealed=True
    )
    assert sealed.receipt.sealed and sealed.receipt.content_hash == plain.receipt.content_hash
    assert (tmp_path / "sealed.jsonl").read_bytes() == (tmp_path / "plain.jsonl").read_bytes()
    on_the_wire = scene.post(grant.id, scene.signed(grant.id, fields=("id_hash",), sealed=True))
    assert on_the_wire.status_code == 200
    assert on_the_wire.content.startswith(b"cityledger-sealed/1\n")
    assert b"PY1K" not in on_the_wire.content  # no pseudonym, no row, readable in transit


def test_a_100000_row_delivery_passes_through_bounded_memory(scene: Scene, tmp_path: Path) -> None:
    harbin = scene.ledger("harbin-health")
    trace = harbin.deliveries.fetch(scene.grant().id, tmp_path / "trace.csv")
    assert trace.receipt.rows > 98_000
    after_trace = _memory(scene.pid)["VmHWM"]
    # Ten times the rows: holding the copy would raise the gateway's peak by at least its size;
    # batch by batch, the peak hardly moves.
    long = scene.grant(dataset=LONG_DATASET)
    out = tmp_path / "long.csv"
    fetched = harbin.deliveries.fetch(long.id, out)
    assert fetched.receipt.rows > 980_000
    grown = _memory(scene.pid)["VmHWM"] - after_trace
    assert grown < out.stat().st_size // 2, (grown, out.stat().st_size)


def _memory(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak) of a process, in bytes."""
    found = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            found[key] = int(value.split()[0]) * 1024
    return found


# ------------------------------------------------------------------ refusals


@pytest.mark.parametrize("state", ["revoked", "suspended", "offered", "not yet valid"])
def test_a_grant_that_is_not_active_delivers_nothing(scene: Scene, state: str) -> None:
    if state == "offered":
        grant = scene.grant(accept=False)
    elif state == "not yet valid":
        grant = scene.grant(starts=timedelta(hours=1))
    else:
        grant = scene.grant()
    if state == "revoked":
        scene.ledger("jiamusi-bdc").grants.revoke(grant.id, "study over")
    if state == "suspended":
        scene.ledger("harbin-audit").grants.suspend(grant.id, "incident review")
    scene.settle()
    error = scene.refused(scene.post(grant.id, scene.signed(grant.id)), 403, "WrongStatus")
    shown = "accepted" if state == "not yet valid" else state
    assert error["grantId"] == grant.id and shown in error["message"]
    assert scene.ledger("harbin-health").grants.get(grant.id).accesses_used == 0


def test_an_expired_grant_delivers_nothing(scene: Scene, tmp_path: Path) -> None:
    grant = scene.grant(starts=timedelta(seconds=-1), lasts=timedelta(seconds=6))
    while datetime.now(UTC) <= grant.valid_until + timedelta(seconds=1):
        time.sleep(0.5)
    harbin = scene.ledger("harbin-health")
    with pytest.raises(GatewayRefusal) as refused:
        harbin.deliveries.fetch(grant.id, tmp_path / "late.csv")
    assert refused.value.rule == "WrongStatus" and "expired" in str(refused.value)
    assert harbin.leaks.deliveries(grant.id) == []


def test_another_agency_gets_nothing(scene: Scene) -> None:
    grant = scene.grant()
    error = scene.refused(
        scene.post(grant.id, scene.signed(grant.id, signer="qiqihar-health")), 403, "NotGrantee"
    )
    assert scene.ledger("qiqihar-health").address in error["message"]


@pytest.mark.parametrize(
    ("fields", "where"),
    [(("phone",), ()), (("id_hash", "name"), ()), (("id_hash",), ("phone = +86 100 0000 0001",))],
)
def test_fields_outside_the_grant_deliver_nothing(
    scene: Scene, fields: tuple[str, ...], where: tuple[str, ...]
) -> None:
    grant = scene.grant()
    signed = scene.signed(grant.id, fields=fields, filter=tuple(Condition.parse(w) for w in where))
    error = scene.refused(scene.post(grant.id, signed), 403, "FieldsOutOfScope")
    assert "outside" in error["message"]


def test_the_quota_is_reached_exactly_under_concurrent_requests(scene: Scene) -> None:
    grant = scene.grant(quota=3)
    answers: list[requests.Response] = []
    bodies = [scene.signed(grant.id, fields=("id_hash",)) for _ in range(8)]

    def fetch(body: SignedRequest) -> None:
        answers.append(scene.post(grant.id, body))

    threads = [threading.Thread(target=fetch, args=(b,)) for b in bodies]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    delivered = [a for a in answers if a.status_code == 200]
    assert len(delivered) == 3
    for answer in answers:
        if answer.status_code != 200:
            scene.refused(answer, 403, "QuotaExhausted")
    harbin = scene.ledger("harbin-health")
    assert harbin.grants.get(grant.id).accesses_used == 3
    assert len(harbin.leaks.deliveries(grant.id)) == 3


def test_a_replayed_request_is_refused(scene: Scene) -> None:
    grant = scene.grant()
    signed = scene.signed(grant.id)
    assert scene.post(grant.id, signed).status_code == 200
    error = scene.refused(scene.post(grant.id, signed), 409, "RequestReplayed")
    assert signed.request.nonce in error["message"]
    assert scene.ledger("harbin-health").grants.get(grant.id).accesses_used == 1


@pytest.mark.parametrize("expiry", ["past", "too far"])
def test_an_expired_or_overlong_request_is_refused(scene: Scene, expiry: str) -> None:
    grant = scene.grant()
    at = int(time.time()) + (-5 if expiry == "past" else 3600)
    scene.refused(scene.post(grant.id, scene.signed(grant.id, expiry=at)), 400, "RequestExpired")


def test_requests_for_other_gateways_grants_or_datasets_are_refused(scene: Scene) -> None:
    grant = scene.grant()
    other = scene.signed(grant.id, gateway="0x" + "11" * 20)
    scene.refused(scene.post(grant.id, other), 421, "WrongGateway")
    unknown = "0x" + "ab" * 32
    scene.refused(scene.post(unknown, scene.signed(unknown)), 404, "UnknownGrant")
    icu = scene.grant(dataset=ICU_DATASET, owner="harbin-bdc", grantee="jiamusi-health")
    error = scene.refused(
        scene.post(icu.id, scene.signed(icu.id, signer="jiamusi-health")), 404, "DatasetNotServed"
    )
    assert error["args"]["datasetId"] == dataset_id(ICU_DATASET)


def test_a_signature_that_is_not_the_grantees_is_refused(scene: Scene) -> None:
    grant = scene.grant()
    signed = scene.signed(grant.id)
    altered = SignedRequest(
        request=signed.request.model_copy(update={"fields": ("id_hash",)}),
        signature=signed.signature,
    )
    scene.refused(scene.post(grant.id, altered), 403, "NotGrantee")
    raw = bytes.fromhex(signed.signature[2:])
    odd_v = SignedRequest(request=signed.request, signature="0x" + (raw[:64] + b"\x05").hex())
    error = scene.refused(scene.post(grant.id, odd_v), 401, "BadSignature")
    assert error["field"] == "signature"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"not json", "body"),
        (b"{}", "request"),
        (b'{"request": {}, "signature": "0x00"}', "request.grantId"),
        (b"[" * 5000 + b"]" * 5000, "body"),
    ],
)
def test_malformed_bodies_name_the_field(scene: Scene, body: bytes, field: str) -> None:
    grant_id = "0x" + "cd" * 32
    error = scene.refused(scene.post(grant_id, body), 422, "MalformedRequest")
    assert error["field"] == field and error["grantId"] in (grant_id, None)


def test_a_malformed_request_names_the_field(scene: Scene) -> None:
    grant = scene.grant()
    wire = json.loads(scene.signed(grant.id).model_dump_json(by_alias=True))
    wire["request"]["format"] = "xlsx"
    error = scene.refused(scene.post(grant.id, json.dumps(wire).encode()), 422, "MalformedRequest")
    assert error["field"] == "request.format"
    mismatch = scene.signed(grant.id)
    other = "0x" + "ef" * 32
    assert scene.refused(scene.post(other, mismatch), 422, "GrantMismatch")["field"] == (
        "request.grantId"
    )
    unknown = scene.signed(grant.id, fields=("id_hash", "trajectory"))
    assert scene.refused(scene.post(grant.id, unknown), 422, "UnknownField")["field"] == (
        "request.fields[1]"
    )


def test_an_oversized_body_is_refused(scene: Scene) -> None:
    grant = "0x" + "cd" * 32
    too_large = b" " * (MAX_BODY_BYTES + 1)
    scene.refused(scene.post(grant, too_large), 413, "BodyTooLarge")  # declared
    chunked = requests.post(  # not declared: counted as it arrives
        f"{scene.gateway.url}/v1/grants/{grant}/deliveries",
        data=iter([too_large[:40_000], too_large[40_000:]]),
        headers={"Content-Type": "application/json"},
        verify=str(scene.info.tls_ca),
        timeout=60,
    )
    scene.refused(chunked, 413, "BodyTooLarge")


@pytest.mark.parametrize(
    "value",
    [
        "positive' OR '1'='1",
        "x'); DROP VIEW dataset_0; --",
        '" OR 1=1 --',
        "positive\x00",
    ],
)
def test_filter_values_are_values_never_sql(scene: Scene, value: str, tmp_path: Path) -> None:
    grant = scene.grant()
    harbin = scene.ledger("harbin-health")
    where = [Condition(column="test_result", op="eq", values=(value,))]
    fetched = harbin.deliveries.fetch(grant.id, tmp_path / "x.csv", where=where)
    assert fetched.receipt.rows == 0  # no row holds that text
    typed = [Condition(column="visit_time", op="ge", values=(value,))]
    with pytest.raises(GatewayRefusal) as refused:
        harbin.deliveries.fetch(grant.id, tmp_path / "y.csv", where=typed)
    assert refused.value.rule == "BadFilterValue"
    # The source is intact and still served.
    everything = harbin.deliveries.fetch(grant.id, tmp_path / "z.csv", fields=["test_result"])
    assert everything.receipt.rows > 98_000


def test_refused_attempts_are_in_the_anchored_log(scene: Scene) -> None:
    grant = scene.grant()
    scene.ledger("jiamusi-bdc").grants.revoke(grant.id, "ended")
    signed = scene.signed(grant.id)
    scene.refused(scene.post(grant.id, signed), 403, "WrongStatus")
    entries = scene.log_entries()
    index, entry = next(
        (i, e)
        for i, e in enumerate(entries)
        if e.get("requestHash")
        == signed.request.request_hash(scene.ledger("harbin-health").grants.domain)
    )
    assert (entry["outcome"], entry["rule"], entry["grantId"]) == (
        "refused",
        "WrongStatus",
        grant.id,
    )
    assert entry["signer"] == grant.grantee
    access = scene.ledger("harbin-audit").access
    while access.latest_anchor(scene.gateway.address).tree_size <= index:
        time.sleep(0.5)
    anchor = access.latest_anchor(scene.gateway.address)
    lines = [
        line.encode()
        for line in requests.get(
            f"{scene.gateway.url}/v1/log", verify=str(scene.info.tls_ca), timeout=30
        ).text.splitlines()
    ]
    assert "0x" + merkle.root_hash(lines[: anchor.tree_size]).hex() == anchor.root


# ------------------------------------------------------------------ failures


def test_a_delivery_whose_record_cannot_be_written_delivers_nothing(scene: Scene) -> None:
    grant = scene.grant()
    # Jiamusi's admin takes the GATEWAY role from the gateway's key: the check passes (it reads
    # the grant, not the gateway's own role), the record is refused on chain.
    admin = scene.ledger("jiamusi-admin")
    consortium = admin.chain.contract("Consortium")
    admin.chain.transact(consortium.functions.setAgencyRoles(scene.gateway.address, Role.GRANTEE))
    try:
        error = scene.refused(scene.post(grant.id, scene.signed(grant.id)), 503, "RecordFailed")
        assert "NotDatasetGateway" in error["message"]
    finally:
        admin.chain.transact(
            consortium.functions.setAgencyRoles(scene.gateway.address, Role.GATEWAY)
        )
    harbin = scene.ledger("harbin-health")
    assert harbin.grants.get(grant.id).accesses_used == 0
    assert harbin.leaks.deliveries(grant.id) == []


def test_kill_9_mid_delivery_leaves_no_delivery_without_its_record(scene: Scene) -> None:
    grant = scene.grant(quota=10)
    spool = Path(scene.gateway.config).parent / "state" / "spool"
    received: list[SignedReceipt] = []

    # Killed while preparing the copy (a spool file is being written), then killed while
    # streaming it (the client read its first bytes and stops reading).
    for moment in ("preparing", "streaming"):
        signed = scene.signed(grant.id, fields=(), format="jsonl")
        body = signed.model_dump_json(by_alias=True).encode()
        answer: dict[str, Any] = {}

        def fetch(body: bytes = body, answer: dict[str, Any] = answer) -> None:
            try:
                response = requests.post(
                    f"{scene.gateway.url}/v1/grants/{grant.id}/deliveries",
                    data=body,
                    headers={"Content-Type": "application/json"},
                    verify=str(scene.info.tls_ca),
                    timeout=120,
                    stream=True,
                )
                answer["headers"] = dict(response.headers)
                answer["first"] = response.raw.read(1 << 16)
                answer["event"].wait()
            except requests.RequestException as exc:
                answer["error"] = exc

        answer["event"] = threading.Event()
        thread = threading.Thread(target=fetch)
        thread.start()
        if moment == "preparing":
            while not any(spool.iterdir()):
                time.sleep(0.01)
        else:
            while "first" not in answer:
                time.sleep(0.01)
        os.kill(scene.pid, signal.SIGKILL)
        while is_running(scene.pid):
            time.sleep(0.05)
        answer["event"].set()
        thread.join()
        if "headers" in answer and answer.get("first"):
            received.append(SignedReceipt.from_header(answer["headers"]["cityledger-receipt"]))
        scene.restart()

    # The copy cut off mid-stream had been recorded, with its commitment, before it left; every
    # access counted has its commitment (one transaction); nothing left without both.
    assert len(received) == 1
    harbin = scene.ledger("harbin-health")
    recorded = harbin.leaks.deliveries(grant.id)
    assert harbin.grants.get(grant.id).accesses_used == len(recorded) >= len(received)
    for signed_receipt in received:
        receipt = signed_receipt.receipt
        assert recorded[receipt.delivery_index].commitment == receipt.commitment
    assert not any(spool.iterdir())  # the restarted gateway cleared what the killed one left


def test_a_schema_that_does_not_hash_to_the_registered_one_stops_the_gateway(
    scene: Scene, tmp_path: Path
) -> None:
    schema = json.loads(scene.travel.source.schema.read_text())
    schema["columns"][4]["precision"] = "0.001"
    altered = tmp_path / "altered.schema.json"
    altered.write_text(json.dumps(schema))
    config = (
        Path(scene.gateway.config)
        .read_text()
        .replace(json.dumps(str(scene.travel.source.schema.resolve())), json.dumps(str(altered)))
    )
    bad = tmp_path / "gateway.toml"
    bad.write_text(config)
    started = subprocess.run(
        [str(CITYLEDGER), "gateway", "serve", "--config", str(bad)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "CITYLEDGER_PASSPHRASE": PASSPHRASE},
        check=False,
    )
    assert started.returncode == 1
    assert (
        "hashes to" in started.stderr and "serve the schema that was registered" in started.stderr
    )
    assert "Traceback" not in started.stderr


def test_the_api_is_described_for_integrators(scene: Scene) -> None:
    api = requests.get(
        f"{scene.gateway.url}/openapi.json", verify=str(scene.info.tls_ca), timeout=30
    )
    paths = api.json()["paths"]
    assert "/v1/grants/{grant_id}/deliveries" in paths and "/v1/log" in paths
    info = requests.get(f"{scene.gateway.url}/v1/info", verify=str(scene.info.tls_ca), timeout=30)
    assert info.json()["datasets"][0]["schemaHash"] == scene.travel.schema.schema_hash
