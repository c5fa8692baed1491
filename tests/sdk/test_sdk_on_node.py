"""The SDK against our own node (a one-city dev chain): the same JSON-RPC client that runs on
anvil finds the genesis system contracts, sends transactions, reads history and checks the
finality certificates the node serves."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from devnode_helpers import DevNode, dev_node

from cityledger.sdk import Ledger, Signer, errors
from cityledger.sdk.models import GrantStatus, Role
from cityledger.sdk.offers import GrantOffer


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevNode]:
    with dev_node(tmp_path_factory.mktemp("devnode")) as started:
        yield started


def test_grant_flow_and_finality_on_our_node(node: DevNode, tmp_path: Path) -> None:
    admin = Ledger.connect(node.url, node.admin, consortium=node.consortium)
    grantor_key, grantee_key = Signer.generate(), Signer.generate()
    admin.consortium.register_agency(
        grantor_key.address, "Dev Big Data Center", Role.GRANTOR | Role.GRANTEE
    )
    admin.consortium.register_agency(grantee_key.address, "Dev Health Commission", Role.GRANTEE)
    grantor = Ledger.connect(node.url, grantor_key, consortium=node.consortium)
    grantee = Ledger.connect(node.url, grantee_key, consortium=node.consortium)

    dataset = grantor.datasets.register("dev/travel-trace", schema="a,b,c", field_count=3)
    now = datetime.fromtimestamp(grantor.chain.block_timestamp(), UTC)
    offer = GrantOffer.create(
        dataset_id=dataset.id,
        grantor=grantor_key.address,
        grantee=grantee_key.address,
        purpose="epidemic-control",
        purpose_text="contacts",
        fields=0b11,
        valid_from=now - timedelta(minutes=1),
        valid_until=now + timedelta(days=1),
        access_quota=5,
    )
    offer_path = tmp_path / "offer.json"
    grantor.grants.offer_file(offer, offer_path)
    grant = grantee.grants.submit(grantee.grants.countersign(offer_path))
    assert grant.status is GrantStatus.ACTIVE
    access = grantee.access.record(grant.id, query="q", records=4, fields=0b01)
    events = [e.event for e in admin.audit.trace(grant=grant.id)]
    assert events == ["GrantOffered", "GrantAccepted", "AccessRecorded"]

    grantor.grants.revoke(grant.id)
    with pytest.raises(errors.WrongStatus, match="revoked"):
        grantee.access.record(grant.id, query="q", records=1, fields=0b01)

    proof = admin.verify_finality(access.block_number)
    assert proof.signers == tuple(admin.consortium.validators(access.block_number - 1))
