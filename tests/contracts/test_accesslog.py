"""AccessLog: per-access records under a grant, and anchors of agencies' off-chain RFC 9162
access logs whose consistency proofs are checked in Solidity (MerkleConsistency).

The on-chain verifier is run against every consistency vector of transparency-dev/merkle
(testdata/, Apache License 2.0; https://github.com/transparency-dev/merkle), through a call to
AccessLog.verifyConsistency. The verifier's ABI types hashes as bytes32, so a vector whose root
or proof node is not 32 bytes (the "garbage" and "don't care" values) cannot be sent as is: it is
right-padded with zeros to 32 bytes, which keeps its meaning (a node or root that is not the
right one, or two roots that are equal exactly when the vector's are). Decision, for malformed
proofs as for all wrong ones: the verifier returns false and never reverts; anchorLog turns false
into the custom error InconsistentLog.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise

import pytest
from chain_helpers import TestConsortium, reverts_with
from eth_account.signers.local import LocalAccount
from eth_utils import keccak
from grant_helpers import GrantDesk, GrantStatus
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rfc6962_vectors import ConsistencyVector, consistency_vectors
from web3.contract import Contract
from web3.logs import DISCARD

from cityledger.sdk import merkle

FIELDS = 0b1111


@dataclass
class Scene:
    desk: GrantDesk
    dataset: bytes
    grantor: LocalAccount
    grantee: LocalAccount
    auditor: LocalAccount

    def grant(self, **terms: int) -> bytes:
        offer = self.desk.make_offer(self.dataset, self.grantor, self.grantee, **terms)
        return self.desk.submit(offer, self.grantor, self.grantee, self.grantee)


@pytest.fixture
def scene(consortium: TestConsortium) -> Scene:
    desk = GrantDesk(consortium)
    grantor = desk.agency("harbin.bdc")
    return Scene(
        desk=desk,
        dataset=desk.register_dataset(grantor, "harbin/hospital-admissions"),
        grantor=grantor,
        grantee=desk.agency("jiamusi.health"),
        auditor=desk.agency("audit"),
    )


def _record(
    scene: Scene, grant_id: bytes, accessor: LocalAccount | None = None, fields: int = 0b1
) -> None:
    scene.desk.record_access(grant_id, accessor or scene.grantee, fields=fields)


def _used(scene: Scene, grant_id: bytes) -> int:
    return int(scene.desk.grants.functions.getGrant(grant_id).call()[6])


# ------------------------------------------------------------------ recordAccess


def test_grantee_records_accesses(scene: Scene) -> None:
    grant_id = scene.grant(quota=3, scope=FIELDS)
    desk = scene.desk
    for number in (1, 2):
        query = keccak(text=f"select {number}")
        receipt = desk.c.transact(
            desk.log.functions.recordAccess(grant_id, query, 40 + number, 0b101), scene.grantee
        )
        (event,) = desk.log.events.AccessRecorded().process_receipt(receipt, errors=DISCARD)
        block = desk.c.w3.eth.get_block(receipt["blockNumber"])
        assert dict(event["args"]) == {
            "grantId": grant_id,
            "accessor": scene.grantee.address,
            "datasetId": scene.dataset,
            "recordedBy": scene.grantee.address,
            "queryHash": query,
            "recordCount": 40 + number,
            "accessNumber": number,
            "timestamp": block["timestamp"],
        }
        counted = desk.grants.events.AccessCounted().process_receipt(receipt, errors=DISCARD)
        assert counted[0]["args"]["accessesUsed"] == number
    assert _used(scene, grant_id) == 2


def test_the_whole_field_scope_may_be_read_at_once(scene: Scene) -> None:
    grant_id = scene.grant(scope=FIELDS)
    _record(scene, grant_id, fields=FIELDS)
    assert _used(scene, grant_id) == 1


@pytest.mark.parametrize("key", ["jiamusi.bdc", "harbin.bdc", "qiqihar.health", "audit"])
def test_only_the_grantee_records(scene: Scene, key: str) -> None:
    grant_id = scene.grant()
    with reverts_with("DataGrants", "NotGrantee"):
        _record(scene, grant_id, scene.desk.agency(key))


def test_an_outsider_cannot_record(scene: Scene) -> None:
    with reverts_with("DataGrants", "NotGrantee"):
        _record(scene, scene.grant(), scene.desk.c.spare[3])


def test_a_grantee_that_lost_its_role_cannot_record(scene: Scene) -> None:
    grant_id = scene.grant()
    c = scene.desk.c
    c.transact(c.consortium.functions.setAgencyRoles(scene.grantee.address, 8), c.admins["Jiamusi"])
    with reverts_with("DataGrants", "MissingRole"):
        _record(scene, grant_id)


def test_a_grantee_of_a_deactivated_agency_cannot_record(scene: Scene) -> None:
    grant_id = scene.grant()
    c = scene.desk.c
    c.transact(c.consortium.functions.deactivateAgency(scene.grantee.address), c.admins["Jiamusi"])
    with reverts_with("DataGrants", "MissingRole"):
        _record(scene, grant_id)


def _remove_city(c: TestConsortium, city: str) -> None:
    """The other members vote `city` out (more than two thirds of them)."""
    voters = [other for other in c.admins if other != city]
    c.transact(c.consortium.functions.proposeRemoveCity(c.city_id(city)), c.admins[voters[0]])
    proposal = int(c.consortium.functions.proposalCount().call())
    for other in voters[1:]:
        if not c.consortium.functions.isActiveCity(c.city_id(city)).call():
            break
        c.transact(c.consortium.functions.vote(proposal), c.admins[other])
    assert not c.consortium.functions.isActiveCity(c.city_id(city)).call()


def test_a_grantee_whose_city_left_the_consortium_cannot_record(scene: Scene) -> None:
    grant_id = scene.grant()
    _remove_city(scene.desk.c, "Jiamusi")
    with reverts_with("DataGrants", "MissingRole"):
        _record(scene, grant_id)


def test_a_grant_from_a_city_that_left_the_consortium_cannot_be_used(scene: Scene) -> None:
    # Its grantor can no longer transact (not even to revoke): the grant is inert instead.
    grant_id = scene.grant()
    _record(scene, grant_id)
    _remove_city(scene.desk.c, "Harbin")
    with reverts_with("DataGrants", "MissingRole"):
        _record(scene, grant_id)


def test_unknown_grant(scene: Scene) -> None:
    with reverts_with("DataGrants", "UnknownGrant"):
        _record(scene, b"\x11" * 32)


def test_offered_but_not_accepted(scene: Scene) -> None:
    desk = scene.desk
    grant_id, _ = desk.offer(
        desk.make_offer(scene.dataset, scene.grantor, scene.grantee), scene.grantor, scene.grantor
    )
    with reverts_with("DataGrants", "WrongStatus"):
        _record(scene, grant_id)


def test_before_validity_starts(scene: Scene) -> None:
    grant_id = scene.grant(starts_in=500)
    assert scene.desk.status(grant_id) == GrantStatus.ACCEPTED
    with reverts_with("DataGrants", "WrongStatus"):
        _record(scene, grant_id)
    scene.desk.c.time_travel(500)
    _record(scene, grant_id)


def test_expired(scene: Scene) -> None:
    grant_id = scene.grant(lasts=100)
    _record(scene, grant_id)
    scene.desk.c.time_travel(100)
    with reverts_with("DataGrants", "WrongStatus"):
        _record(scene, grant_id)


def test_revoked(scene: Scene) -> None:
    grant_id = scene.grant()
    _record(scene, grant_id)
    scene.desk.c.transact(scene.desk.grants.functions.revoke(grant_id, b"\0" * 32), scene.grantor)
    with reverts_with("DataGrants", "WrongStatus"):
        _record(scene, grant_id)


def test_suspended_then_reinstated(scene: Scene) -> None:
    grant_id = scene.grant()
    fn = scene.desk.grants.functions
    scene.desk.c.transact(fn.suspend(grant_id, b"\1" * 32), scene.auditor)
    with reverts_with("DataGrants", "WrongStatus"):
        _record(scene, grant_id)
    scene.desk.c.transact(fn.reinstate(grant_id, b"\1" * 32), scene.auditor)
    _record(scene, grant_id)
    assert _used(scene, grant_id) == 1


def test_over_quota(scene: Scene) -> None:
    grant_id = scene.grant(quota=2)
    _record(scene, grant_id)
    _record(scene, grant_id)
    with reverts_with("DataGrants", "QuotaExhausted"):
        _record(scene, grant_id)
    assert _used(scene, grant_id) == 2


@pytest.mark.parametrize("fields", [0b10000, 0b11111, 1 << 255])
def test_fields_out_of_scope(scene: Scene, fields: int) -> None:
    grant_id = scene.grant(scope=FIELDS)
    with reverts_with("DataGrants", "FieldsOutOfScope"):
        _record(scene, grant_id, fields=fields)


def test_empty_field_mask(scene: Scene) -> None:
    with reverts_with("DataGrants", "EmptyFieldMask"):
        _record(scene, scene.grant(), fields=0)


# ------------------------------------------------------------------ anchors


def _entries(n: int, agency: str = "jiamusi.health") -> list[bytes]:
    return [f"{agency}|grant-7|access {i}|records 12".encode() for i in range(n)]


def _anchor(
    log: Contract,
    c: TestConsortium,
    agency: LocalAccount,
    size: int,
    root: bytes,
    proof: list[bytes],
) -> None:
    c.transact(log.functions.anchorLog(size, root, proof), agency)


def test_anchor_history_grows_by_consistency_proofs(scene: Scene) -> None:
    desk, keeper = scene.desk, scene.grantee
    entries = _entries(20)
    receipt = desk.c.transact(
        desk.log.functions.anchorLog(3, merkle.root_hash(entries[:3]), []), keeper
    )
    (event,) = desk.log.events.LogAnchored().process_receipt(receipt, errors=DISCARD)
    assert dict(event["args"]) == {
        "agency": keeper.address,
        "cityId": desk.c.city_id("Jiamusi"),
        "anchorIndex": 0,
        "treeSize": 3,
        "root": merkle.root_hash(entries[:3]),
    }
    sizes = [3, 8, 8, 13, 20]
    for old, new in pairwise(sizes):
        proof = merkle.consistency_proof(entries[:new], old)
        _anchor(desk.log, desk.c, keeper, new, merkle.root_hash(entries[:new]), proof)
    fn = desk.log.functions
    assert fn.anchorCount(keeper.address).call() == 5
    history = [fn.anchorAt(keeper.address, i).call() for i in range(5)]
    assert [(a[0], a[2]) for a in history] == [(n, merkle.root_hash(entries[:n])) for n in sizes]
    assert fn.latestAnchor(keeper.address).call() == history[-1]
    assert fn.anchorCount(scene.grantor.address).call() == 0


def test_a_grantor_keeps_its_own_log(scene: Scene) -> None:
    log = _entries(4, "harbin.bdc")
    _anchor(scene.desk.log, scene.desk.c, scene.grantor, 4, merkle.root_hash(log), [])
    _anchor(scene.desk.log, scene.desk.c, scene.grantee, 2, merkle.root_hash(_entries(2)), [])
    assert scene.desk.log.functions.latestAnchor(scene.grantor.address).call()[0] == 4
    assert scene.desk.log.functions.latestAnchor(scene.grantee.address).call()[0] == 2


@pytest.mark.parametrize("key", ["harbin.emergency", "audit"])
def test_only_grantees_and_grantors_anchor(scene: Scene, key: str) -> None:
    with reverts_with("AccessLog", "NotLogKeeper"):
        _anchor(
            scene.desk.log, scene.desk.c, scene.desk.agency(key), 1, merkle.root_hash([b"x"]), []
        )


def test_an_outsider_cannot_anchor(scene: Scene) -> None:
    with reverts_with("AccessLog", "NotLogKeeper"):
        _anchor(
            scene.desk.log, scene.desk.c, scene.desk.c.spare[4], 1, merkle.root_hash([b"x"]), []
        )


def test_anchor_refusals(scene: Scene) -> None:
    log, c, keeper = scene.desk.log, scene.desk.c, scene.grantee
    entries = _entries(10)
    root = merkle.root_hash
    with reverts_with("AccessLog", "EmptyTree"):
        _anchor(log, c, keeper, 0, root([]), [])
    with reverts_with("AccessLog", "UnexpectedProof"):
        _anchor(log, c, keeper, 5, root(entries[:5]), [root(entries[:2])])
    _anchor(log, c, keeper, 5, root(entries[:5]), [])
    with reverts_with("AccessLog", "TreeShrank"):
        _anchor(log, c, keeper, 4, root(entries[:4]), [])
    with reverts_with("AccessLog", "InconsistentLog"):
        _anchor(log, c, keeper, 5, root(entries[1:6]), [])
    proof = merkle.consistency_proof(entries, 5)
    with reverts_with("AccessLog", "InconsistentLog"):
        _anchor(log, c, keeper, 10, root(entries), proof[:-1])
    forked = [*entries[:2], b"rewritten", *entries[3:]]
    with reverts_with("AccessLog", "InconsistentLog"):
        _anchor(log, c, keeper, 10, root(forked), merkle.consistency_proof(forked, 5))
    with reverts_with("AccessLog", "InconsistentLog"):
        _anchor(log, c, keeper, 10, root(entries), [])
    _anchor(log, c, keeper, 10, root(entries), proof)
    with reverts_with("AccessLog", "NoAnchor"):
        log.functions.anchorAt(keeper.address, 2).call()
    with reverts_with("AccessLog", "NoAnchor"):
        log.functions.latestAnchor(scene.grantor.address).call()


# ------------------------------------------------------------------ the Solidity verifier


def _word(value: bytes) -> bytes:
    """A vector's hash as the bytes32 the ABI carries (see the module docstring)."""
    return value.ljust(32, b"\0")


@pytest.mark.parametrize("vector", consistency_vectors(), ids=lambda v: v.name)
def test_solidity_verifier_on_vector(consortium: TestConsortium, vector: ConsistencyVector) -> None:
    verify = consortium.contracts["AccessLog"].functions.verifyConsistency
    verdict = verify(
        vector.size1,
        vector.size2,
        _word(vector.root1),
        _word(vector.root2),
        [_word(p) for p in vector.proof],
    ).call()
    assert verdict is not vector.want_err


@st.composite
def _consistency_cases(draw: st.DrawFn) -> tuple[int, int, bytes, bytes, list[bytes]]:
    """An honest proof between two heads of a random log, often altered in one random way."""
    entries = draw(st.lists(st.binary(max_size=8), min_size=1, max_size=80))
    new_size = len(entries)
    old_size = draw(st.integers(1, new_size))
    proof = merkle.consistency_proof(entries, old_size)
    old_root, new_root = merkle.root_hash(entries[:old_size]), merkle.root_hash(entries)
    alteration = draw(st.sampled_from(["none", "flip", "drop", "extra", "sizes", "roots"]))
    if alteration == "flip" and proof:
        i = draw(st.integers(0, len(proof) - 1))
        proof[i] = bytes([proof[i][0] ^ 1]) + proof[i][1:]
    elif alteration == "drop" and proof:
        del proof[draw(st.integers(0, len(proof) - 1))]
    elif alteration == "extra":
        proof.insert(draw(st.integers(0, len(proof))), draw(st.binary(min_size=32, max_size=32)))
    elif alteration == "sizes":
        old_size = draw(st.integers(0, new_size + 2))
        new_size = draw(st.integers(0, new_size + 2))
    elif alteration == "roots":
        old_root, new_root = new_root, old_root
    return old_size, new_size, old_root, new_root, proof


# verifyConsistency is pure: the shared chain is only read, so reusing the fixture is safe.
@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(case=_consistency_cases())
def test_solidity_verifier_agrees_with_python(
    consortium: TestConsortium, case: tuple[int, int, bytes, bytes, list[bytes]]
) -> None:
    old_size, new_size, old_root, new_root, proof = case
    on_chain = (
        consortium.contracts["AccessLog"]
        .functions.verifyConsistency(old_size, new_size, old_root, new_root, proof)
        .call()
    )
    assert on_chain is merkle.verify_consistency(old_size, new_size, proof, old_root, new_root)
