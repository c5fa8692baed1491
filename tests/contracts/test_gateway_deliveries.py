"""A dataset's gateway: the owner designates it (DataGrants.setGateway), and only it records
deliveries (AccessLog.recordDelivery), each one counted against the grant, recorded as an access
by the grantee and registered with its fingerprint commitment in LeakRegistry, all or nothing."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from chain_helpers import ROLE_GRANTEE, TestConsortium, reverts_with
from eth_account.signers.local import LocalAccount
from eth_utils import keccak
from grant_helpers import GrantDesk, GrantStatus
from web3.contract import Contract
from web3.logs import DISCARD
from web3.types import TxReceipt

from cityledger.contracts.deployment import text32
from cityledger.sdk import merkle

ROLE_GATEWAY = 16
URL = "https://gateway.jiamusi.example:8443"
METHOD = text32("cityledger-fp/1")
FIELDS = 0b0111


@dataclass
class Scene:
    desk: GrantDesk
    dataset: bytes
    owner: LocalAccount
    grantee: LocalAccount
    gateway: LocalAccount
    auditor: LocalAccount

    @property
    def c(self) -> TestConsortium:
        return self.desk.c

    @property
    def registry(self) -> Contract:
        return self.c.contracts["LeakRegistry"]

    def grant(self, **terms: int) -> bytes:
        offer = self.desk.make_offer(self.dataset, self.owner, self.grantee, **terms)
        return self.desk.submit(offer, self.owner, self.grantee, self.grantee)

    def designate(self, gateway: str, url: str = URL, sender: LocalAccount | None = None) -> None:
        call = self.desk.grants.functions.setGateway(self.dataset, gateway, url)
        self.c.transact(call, sender or self.owner)

    def deliver(
        self,
        grant_id: bytes,
        *,
        sender: LocalAccount | None = None,
        fields: int = 0b011,
        records: int = 980,
        commitment: bytes | None = None,
    ) -> TxReceipt:
        call = self.desk.log.functions.recordDelivery(
            grant_id,
            keccak(text=f"signed request {records}"),
            records,
            fields,
            commitment if commitment is not None else keccak(text=f"copy {records} {fields}"),
            METHOD,
        )
        return self.c.transact(call, sender or self.gateway)

    def used(self, grant_id: bytes) -> int:
        return int(self.desk.grants.functions.getGrant(grant_id).call()[6])


def _register_agency(c: TestConsortium, city: str, account: LocalAccount, roles: int) -> None:
    c.transact(
        c.consortium.functions.registerAgency(account.address, f"{city} Data Gateway", roles),
        c.admins[city],
    )


@pytest.fixture
def scene(consortium: TestConsortium) -> Scene:
    desk = GrantDesk(consortium)
    owner = desk.agency("jiamusi.bdc")
    gateway = consortium.spare[0]
    _register_agency(consortium, "Jiamusi", gateway, ROLE_GATEWAY)
    scene = Scene(
        desk=desk,
        dataset=desk.register_dataset(owner, "jiamusi/epidemic-travel-trace"),
        owner=owner,
        grantee=desk.agency("harbin.health"),
        gateway=gateway,
        auditor=desk.agency("audit"),
    )
    scene.designate(gateway.address)
    return scene


# ------------------------------------------------------------------ designation


def test_the_owner_designates_and_withdraws_its_gateway(scene: Scene) -> None:
    fn = scene.desk.grants.functions
    assert fn.gatewayOf(scene.dataset).call() == (scene.gateway.address, URL)
    assert fn.datasetGateway(scene.dataset).call() == scene.gateway.address
    receipt = scene.c.transact(fn.setGateway(scene.dataset, "0x" + "00" * 20, ""), scene.owner)
    (event,) = scene.desk.grants.events.GatewayDesignated().process_receipt(receipt, errors=DISCARD)
    assert dict(event["args"]) == {
        "datasetId": scene.dataset,
        "owner": scene.owner.address,
        "gateway": "0x" + "00" * 20,
        "url": "",
    }
    assert fn.gatewayOf(scene.dataset).call() == ("0x" + "00" * 20, "")
    with reverts_with("AccessLog", "NotDatasetGateway"):
        scene.deliver(scene.grant())


def test_only_the_owner_designates(scene: Scene) -> None:
    with reverts_with("DataGrants", "NotDatasetOwner"):
        scene.designate(scene.gateway.address, sender=scene.desk.agency("harbin.bdc"))
    with reverts_with("DataGrants", "NotDatasetOwner"):
        scene.designate(scene.gateway.address, sender=scene.gateway)
    with reverts_with("DataGrants", "UnknownDataset"):
        scene.c.transact(
            scene.desk.grants.functions.setGateway(b"\x42" * 32, scene.gateway.address, URL),
            scene.owner,
        )


def test_the_gateway_is_a_gateway_agency_of_the_owners_city(scene: Scene) -> None:
    harbin_gateway = scene.c.spare[1]
    _register_agency(scene.c, "Harbin", harbin_gateway, ROLE_GATEWAY)
    for account in (harbin_gateway.address, scene.desk.agency("jiamusi.health").address):
        with reverts_with("DataGrants", "NotGatewayOfCity"):
            scene.designate(account)
    with reverts_with("DataGrants", "NotGatewayOfCity"):
        scene.designate(scene.c.spare[2].address)  # not an agency at all


@pytest.mark.parametrize("url", ["", "https://" + "g" * 249])
def test_a_designation_needs_a_url_of_at_most_256_bytes(scene: Scene, url: str) -> None:
    with reverts_with("DataGrants", "InvalidGatewayUrl"):
        scene.designate(scene.gateway.address, url)


def test_a_withdrawal_carries_no_url(scene: Scene) -> None:
    with reverts_with("DataGrants", "InvalidGatewayUrl"):
        scene.designate("0x" + "00" * 20, URL)


# ------------------------------------------------------------------ recordDelivery


def test_a_delivery_is_counted_recorded_and_committed_in_one_transaction(scene: Scene) -> None:
    grant_id = scene.grant(quota=5, scope=FIELDS)
    commitment = keccak(text="marked copy 1")
    receipt = scene.deliver(grant_id, fields=0b101, records=980, commitment=commitment)

    log, grants = scene.desk.log, scene.desk.grants
    (counted,) = grants.events.AccessCounted().process_receipt(receipt, errors=DISCARD)
    assert (counted["args"]["grantee"], counted["args"]["accessesUsed"]) == (
        scene.grantee.address,
        1,
    )
    (access,) = log.events.AccessRecorded().process_receipt(receipt, errors=DISCARD)
    block = scene.c.w3.eth.get_block(receipt["blockNumber"])
    assert dict(access["args"]) == {
        "grantId": grant_id,
        "accessor": scene.grantee.address,
        "datasetId": scene.dataset,
        "recordedBy": scene.gateway.address,
        "queryHash": keccak(text="signed request 980"),
        "recordCount": 980,
        "accessNumber": 1,
        "timestamp": block["timestamp"],
    }
    (registered,) = scene.registry.events.DeliveryRegistered().process_receipt(
        receipt, errors=DISCARD
    )
    assert dict(registered["args"]) == {
        "grantId": grant_id,
        "datasetId": scene.dataset,
        "grantor": scene.owner.address,
        "deliveryIndex": 0,
        "commitment": commitment,
        "method": METHOD,
        "deliveredRecords": 980,
        "recordedBy": scene.gateway.address,
    }
    ((stored, method, records, _, grantor, recorded_by),) = scene.registry.functions.deliveriesOf(
        grant_id
    ).call()
    assert (stored, method, records, grantor, recorded_by) == (
        commitment,
        METHOD,
        980,
        scene.owner.address,
        scene.gateway.address,
    )
    assert scene.used(grant_id) == 1


def test_the_call_returns_the_access_number_and_the_delivery_index(scene: Scene) -> None:
    grant_id = scene.grant(quota=5)
    scene.desk.record_access(grant_id, scene.grantee)  # the grantee's own records count too
    call = scene.desk.log.functions.recordDelivery(
        grant_id, b"\1" * 32, 10, 0b1, keccak(text="copy"), METHOD
    )
    assert call.call({"from": scene.gateway.address}) == [2, 0]


@pytest.mark.parametrize("key", ["owner", "grantee", "other gateway", "auditor"])
def test_only_the_designated_gateway_records(scene: Scene, key: str) -> None:
    other = scene.c.spare[3]
    _register_agency(scene.c, "Jiamusi", other, ROLE_GATEWAY)
    sender = {
        "owner": scene.owner,
        "grantee": scene.grantee,
        "other gateway": other,
        "auditor": scene.auditor,
    }[key]
    grant_id = scene.grant()
    with reverts_with("AccessLog", "NotDatasetGateway"):
        scene.deliver(grant_id, sender=sender)
    assert scene.used(grant_id) == 0


def test_a_gateway_that_lost_its_role_records_nothing(scene: Scene) -> None:
    grant_id = scene.grant()
    scene.c.transact(
        scene.c.consortium.functions.setAgencyRoles(scene.gateway.address, ROLE_GRANTEE),
        scene.c.admins["Jiamusi"],
    )
    with reverts_with("AccessLog", "NotDatasetGateway"):
        scene.deliver(grant_id)


def test_a_replaced_gateway_records_nothing(scene: Scene) -> None:
    grant_id = scene.grant()
    successor = scene.c.spare[4]
    _register_agency(scene.c, "Jiamusi", successor, ROLE_GATEWAY)
    scene.designate(successor.address, "https://gateway-2.jiamusi.example")
    with reverts_with("AccessLog", "NotDatasetGateway"):
        scene.deliver(grant_id)
    scene.deliver(grant_id, sender=successor)
    assert scene.used(grant_id) == 1


def test_unknown_grant(scene: Scene) -> None:
    with reverts_with("AccessLog", "UnknownGrant"):
        scene.deliver(b"\x11" * 32)


def test_refused_unless_active(scene: Scene) -> None:
    desk, fn = scene.desk, scene.desk.grants.functions
    offered, _ = desk.offer(
        desk.make_offer(scene.dataset, scene.owner, scene.grantee), scene.owner, scene.owner
    )
    not_yet = scene.grant(starts_in=500)
    revoked = scene.grant()
    scene.c.transact(fn.revoke(revoked, b"\0" * 32), scene.owner)
    suspended = scene.grant()
    scene.c.transact(fn.suspend(suspended, b"\1" * 32), scene.auditor)
    expiring = scene.grant(lasts=100)
    scene.c.time_travel(100)
    for grant_id, status in (
        (offered, GrantStatus.OFFERED),
        (not_yet, GrantStatus.ACCEPTED),
        (revoked, GrantStatus.REVOKED),
        (suspended, GrantStatus.SUSPENDED),
        (expiring, GrantStatus.EXPIRED),
    ):
        assert desk.status(grant_id) == status
        with reverts_with("DataGrants", "WrongStatus"):
            scene.deliver(grant_id)


def test_fields_outside_the_scope(scene: Scene) -> None:
    grant_id = scene.grant(scope=0b011)
    with reverts_with("DataGrants", "FieldsOutOfScope"):
        scene.deliver(grant_id, fields=0b100)
    with reverts_with("DataGrants", "EmptyFieldMask"):
        scene.deliver(grant_id, fields=0)


def test_the_quota_counts_gateway_deliveries_and_the_grantees_records(scene: Scene) -> None:
    grant_id = scene.grant(quota=3)
    scene.deliver(grant_id, records=1)
    scene.desk.record_access(grant_id, scene.grantee)
    scene.deliver(grant_id, records=2)
    with reverts_with("DataGrants", "QuotaExhausted"):
        scene.deliver(grant_id, records=3)
    assert scene.used(grant_id) == 3
    assert len(scene.registry.functions.deliveriesOf(grant_id).call()) == 2


def test_a_grantee_that_lost_its_role_gets_nothing(scene: Scene) -> None:
    grant_id = scene.grant()
    scene.c.transact(
        scene.c.consortium.functions.setAgencyRoles(scene.grantee.address, 8),
        scene.c.admins["Harbin"],
    )
    with reverts_with("DataGrants", "MissingRole"):
        scene.deliver(grant_id)


def test_a_refused_commitment_undoes_the_count(scene: Scene) -> None:
    grant_id = scene.grant(quota=5)
    with reverts_with("LeakRegistry", "ZeroCommitment"):
        scene.deliver(grant_id, commitment=b"\0" * 32)
    assert scene.used(grant_id) == 0
    assert scene.registry.functions.deliveriesOf(grant_id).call() == []


def test_the_same_copy_delivered_twice_is_registered_twice(scene: Scene) -> None:
    grant_id = scene.grant(quota=5)
    scene.deliver(grant_id)
    scene.deliver(grant_id)
    commitments = [d[0] for d in scene.registry.functions.deliveriesOf(grant_id).call()]
    assert commitments == [keccak(text="copy 980 3")] * 2
    assert scene.used(grant_id) == 2
    with reverts_with("LeakRegistry", "CommitmentAlreadyRegistered"):  # the grantor's own: once
        scene.c.transact(
            scene.registry.functions.registerDelivery(grant_id, commitments[0], METHOD, 1),
            scene.owner,
        )


def test_only_access_log_registers_gateway_deliveries(scene: Scene) -> None:
    grant_id = scene.grant()
    call = scene.registry.functions.registerGatewayDelivery(
        grant_id, keccak(text="forged"), METHOD, 10, scene.gateway.address
    )
    for sender in (scene.gateway, scene.owner):
        with reverts_with("LeakRegistry", "NotAccessLog"):
            scene.c.transact(call, sender)


def test_a_gateway_anchors_its_own_log(scene: Scene) -> None:
    entries = [f"attempt {i}".encode() for i in range(5)]
    scene.c.transact(
        scene.desk.log.functions.anchorLog(5, merkle.root_hash(entries), []), scene.gateway
    )
    assert scene.desk.log.functions.latestAnchor(scene.gateway.address).call()[0] == 5
