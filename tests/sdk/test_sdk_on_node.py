"""The SDK against our own nodes: a one-city dev chain, and a real 4-validator testnet
(`cityledger testnet up`) whose agencies sign with the network's keystores, each through its own
city's node. The same JSON-RPC client that runs on anvil finds the genesis system contracts,
sends transactions, reads history and checks the finality certificates the nodes serve."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from devnode_helpers import dev_node
from testnet_helpers import PASSPHRASE, running_testnet

from cityledger.sdk import Ledger, Signer, errors
from cityledger.sdk.models import GrantStatus, Role
from cityledger.sdk.offers import GrantOffer
from cityledger.sdk.signers import load_keystore
from cityledger.testnet.network import TestnetInfo

CATCH_UP_SECONDS = 30


@dataclass(frozen=True)
class Agencies:
    """A grantor and a grantee, each connected to its own city's node."""

    grantor: Ledger
    grantee: Ledger
    validators: int  # in the network's validator set
    quorum: int  # seals that make a block final
    dataset: str  # a dataset name the grantor may register


def _dev_node_agencies(url: str, consortium: str, admin: Signer) -> Agencies:
    city_admin = Ledger.connect(url, admin, consortium=consortium)
    grantor_key, grantee_key = Signer.generate(), Signer.generate()
    city_admin.consortium.register_agency(
        grantor_key.address, "Dev Big Data Center", Role.GRANTOR | Role.GRANTEE
    )
    city_admin.consortium.register_agency(
        grantee_key.address, "Dev Health Commission", Role.GRANTEE
    )
    return Agencies(
        Ledger.connect(url, grantor_key, consortium=consortium),
        Ledger.connect(url, grantee_key, consortium=consortium),
        validators=1,
        quorum=1,
        dataset="dev/travel-trace",
    )


def _on_own_node(info: TestnetInfo, key_name: str) -> Ledger:
    account = next(a for a in info.agencies if Path(a.keystore).stem == key_name)
    node = next(n for n in info.nodes if n.city == account.city)
    signer = load_keystore(Path(account.keystore), PASSPHRASE)
    return Ledger.connect(node.rpc_url, signer, consortium=info.system_contracts["Consortium"])


@pytest.fixture(
    scope="module", params=["dev node", pytest.param("testnet", marks=pytest.mark.slow)]
)
def agencies(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Agencies]:
    if request.param == "dev node":
        with dev_node(tmp_path_factory.mktemp("devnode")) as node:
            yield _dev_node_agencies(node.url, node.consortium, node.admin)
        return
    with running_testnet(tmp_path_factory.mktemp("testnet") / "net", demo=False) as info:
        yield Agencies(
            _on_own_node(info, "jiamusi-bdc"),
            _on_own_node(info, "harbin-health"),
            validators=4,
            quorum=3,
            dataset="jiamusi/epidemic-travel-trace",
        )


def caught_up(reader: Ledger, writer: Ledger) -> None:
    """A block is final on the writer's node first; the reader's node imports it a moment later."""
    target = writer.chain.w3.eth.block_number
    deadline = time.monotonic() + CATCH_UP_SECONDS
    while reader.chain.w3.eth.block_number < target:
        assert time.monotonic() < deadline, f"the reader's node never reached block {target}"
        time.sleep(0.1)


def test_grant_flow_and_finality(agencies: Agencies, tmp_path: Path) -> None:
    grantor, grantee = agencies.grantor, agencies.grantee
    assert grantor.address is not None and grantee.address is not None
    dataset = grantor.datasets.register(agencies.dataset, schema="a,b,c", field_count=3)
    now = datetime.fromtimestamp(grantor.chain.block_timestamp(), UTC)
    offer = GrantOffer.create(
        dataset_id=dataset.id,
        grantor=grantor.address,
        grantee=grantee.address,
        purpose="epidemic-control",
        purpose_text="contacts",
        fields=0b11,
        valid_from=now - timedelta(minutes=1),
        valid_until=now + timedelta(days=1),
        access_quota=5,
    )
    offer_path = tmp_path / "offer.json"
    grantor.grants.offer_file(offer, offer_path)
    countersigned = grantee.grants.countersign(offer_path)
    caught_up(grantee, grantor)
    grant = grantee.grants.submit(countersigned)
    assert grant.status is GrantStatus.ACTIVE
    access = grantee.access.record(grant.id, query="q", records=4, fields=0b01)
    events = list(grantee.audit.trace(grant=grant.id))
    assert [e.event for e in events] == ["GrantOffered", "GrantAccepted", "AccessRecorded"]

    for block in sorted({e.block_number for e in events}):
        proof = grantee.verify_finality(block)
        validators = grantee.consortium.validators(block - 1)
        assert len(validators) == agencies.validators
        assert proof.quorum == agencies.quorum
        assert len(proof.signers) >= proof.quorum
        assert set(proof.signers) <= set(validators)
    assert access.block_number in {e.block_number for e in events}

    grantor.grants.revoke(grant.id)
    caught_up(grantee, grantor)
    with pytest.raises(errors.WrongStatus, match="revoked"):
        grantee.access.record(grant.id, query="q", records=1, fields=0b01)
