"""State read by proof (cityledger.sdk.light_client, validator_set, state_facts), against the
real contracts on anvil, another client than ours: the storage slots derived from the compiler's
layout must give what the contracts' own getters give, through cities admitted, removed and
given a new validator, and grants in several states. anvil serves no finality certificates, so
each block is taken as a trust root here: what is tested is the layout and the proofs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from anvil_helpers import Deployed, role_key
from eth_utils import keccak, to_checksum_address

from cityledger.contracts.deployment import city_id
from cityledger.sdk import Ledger, Signer
from cityledger.sdk.block_header import BlockHeader
from cityledger.sdk.errors import LedgerError
from cityledger.sdk.light_client import CertifiedHeader, LightClient, ProofFailure
from cityledger.sdk.models import GrantStatus
from cityledger.sdk.offers import GrantOffer
from cityledger.sdk.state_facts import dataset_query, grant_query
from cityledger.sdk.storage_layout import LayoutError, layout
from cityledger.sdk.trust import TrustRoot
from cityledger.sdk.untrusted_rpc import UntrustedNode

DATASET = "jiamusi/proven-state"


def ledger(deployed: Deployed, key: str) -> Ledger:
    return Ledger.connect(deployed.anvil.url, role_key(key), manifest=deployed.manifest_path)


def latest_as_trust_root(deployed: Deployed) -> tuple[LightClient, CertifiedHeader]:
    """A light client opened on anvil's latest block, taking anvil's word for the block and
    getValidators(): `open` proves the set from storage and refuses a different one."""
    reader = ledger(deployed, "harbin.health")
    block = deployed.anvil.rpc("eth_getBlockByNumber", ["latest", False])
    assert isinstance(block, dict)
    header = BlockHeader.from_json(block)
    assert "0x" + header.hash.hex() == block["hash"]  # our header hash is anvil's too
    root = TrustRoot(
        deployed.manifest.chain_id,
        header.number,
        header.hash,
        tuple(reader.consortium.validators(header.number)),
        deployed.manifest.consortium,
    )
    client = LightClient(UntrustedNode(deployed.anvil.url), root)
    return client, client.open()


def test_the_validator_set_proven_from_storage_is_get_validators_through_governance(
    deployed: Deployed,
) -> None:
    latest_as_trust_root(deployed)  # the four founders
    suihua_admin, suihua_validator = Signer.generate(), Signer.generate()
    harbin = ledger(deployed, "harbin.admin")
    proposal = harbin.consortium.propose_admit(
        "Suihua", suihua_admin.address, suihua_validator.address, "Heilongjiang"
    )
    for admin in ("qiqihar.admin", "jiamusi.admin"):
        ledger(deployed, admin).consortium.vote(proposal)
    client, _ = latest_as_trust_root(deployed)
    assert client.epochs[0].validators[-1] == suihua_validator.address

    proposal = harbin.consortium.propose_remove("Qiqihar")
    for admin in ("jiamusi.admin", "daqing.admin"):
        ledger(deployed, admin).consortium.vote(proposal)
    replacement = Signer.generate()
    consortium = harbin.chain.contract("Consortium")
    harbin.chain.transact(
        consortium.functions.proposeChangeValidator(
            city_id("Daqing"), to_checksum_address(replacement.address)
        )
    )
    proposal = harbin.consortium.proposals()[-1].id
    for admin in ("jiamusi.admin", "suihua.admin"):
        voter = suihua_admin if admin == "suihua.admin" else role_key(admin)
        Ledger.connect(deployed.anvil.url, voter, manifest=deployed.manifest_path).consortium.vote(
            proposal
        )
    client, _ = latest_as_trust_root(deployed)
    validators = client.epochs[0].validators
    assert role_key("qiqihar.validator").address not in validators
    assert replacement.address in validators and len(validators) == 4


def test_a_trust_root_whose_validators_differ_from_the_state_is_refused(
    deployed: Deployed,
) -> None:
    client, root = latest_as_trust_root(deployed)
    wrong = TrustRoot(
        client.trust.chain_id,
        root.number,
        root.header.hash,
        (*client.trust.validators, to_checksum_address(keccak(b"stranger")[:20])),
        client.trust.consortium,
    )
    with pytest.raises(LedgerError, match="the trust file is wrong"):
        LightClient(UntrustedNode(deployed.anvil.url), wrong).open()
    other_block = TrustRoot(
        client.trust.chain_id,
        root.number,
        keccak(b"another block"),
        client.trust.validators,
        client.trust.consortium,
    )
    with pytest.raises(ProofFailure, match="not the trust root's"):
        LightClient(UntrustedNode(deployed.anvil.url), other_block).open()
    other_chain = TrustRoot(
        client.trust.chain_id + 1,
        root.number,
        root.header.hash,
        client.trust.validators,
        client.trust.consortium,
    )
    with pytest.raises(ProofFailure, match="serves chain"):
        LightClient(UntrustedNode(deployed.anvil.url), other_chain).open()


def test_system_contracts_are_proven_from_the_consortium_registry(deployed: Deployed) -> None:
    client, _ = latest_as_trust_root(deployed)
    assert client.system_contracts() == dict(deployed.manifest.contracts)


def test_dataset_and_grant_facts_proven_from_storage_are_what_the_getters_say(
    deployed: Deployed, tmp_path: Path
) -> None:
    owner = ledger(deployed, "jiamusi.bdc")
    grantee = ledger(deployed, "harbin.health")
    dataset = owner.datasets.register(DATASET, schema="a,b,c", field_count=3)
    now = datetime.now(UTC)

    def grant(valid_from: datetime, days: int) -> str:
        offer = GrantOffer.create(
            dataset_id=dataset.id,
            grantor=owner.address or "",
            grantee=grantee.address or "",
            purpose="proof",
            purpose_text="state read by proof",
            fields=0b011,
            valid_from=valid_from,
            valid_until=valid_from + timedelta(days=days),
            access_quota=7,
        )
        return grantee.grants.submit(
            grantee.grants.countersign(owner.grants.offer_file(offer, tmp_path / "o.json"))
        ).id

    active = grant(now - timedelta(minutes=5), 30)
    grantee.access.record(active, query="q", records=3, fields=0b001)
    revoked = grant(now - timedelta(minutes=5), 30)
    owner.grants.revoke(revoked, reason="done")
    not_yet = grant(now + timedelta(days=2), 30)
    deployed.anvil.advance(1)

    client, at = latest_as_trust_root(deployed)
    queries = [dataset_query(bytes.fromhex(dataset.id[2:]))] + [
        grant_query(bytes.fromhex(g[2:])) for g in (active, revoked, not_yet)
    ]
    words = client.prove_storage(
        deployed.manifest.contracts["DataGrants"], [s for q in queries for s in q.slots], at
    )
    facts = {
        (f.subject, f.name): f.value for q in queries for f in q.read(words, at.header.timestamp)
    }
    assert facts[("dataset " + dataset.id, "owner")] == owner.address
    for grant_id, status in ((active, "active"), (revoked, "revoked"), (not_yet, "accepted")):
        onchain = grantee.grants.get(grant_id)
        assert facts[("grant " + grant_id, "status")] == status
        assert grantee.grants.status(grant_id) is GrantStatus[status.upper()]
        assert facts[("grant " + grant_id, "grantee")] == onchain.grantee
        assert facts[("grant " + grant_id, "accesses")] == (
            f"{onchain.accesses_used} of {onchain.access_quota}"
        )
    assert facts[("grant " + active, "accesses")] == "1 of 7"


def test_a_path_the_layout_does_not_have_is_named() -> None:
    consortium = layout("Consortium")
    with pytest.raises(LayoutError, match="no state variable"):
        consortium.locate("_nonexistent")
    with pytest.raises(LayoutError, match="has no member"):
        consortium.locate("_cities", b"\0" * 32, "mayor")
    assert consortium.locate("_cities", b"\0" * 32, "status").size == 1
