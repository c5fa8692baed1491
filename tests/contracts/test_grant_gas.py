"""The main DataGrants and AccessLog calls, end to end, with the gas each one used.

Run with `-s` to see the table (docs/contracts.md quotes it); nothing asserts on gas, only that
every call went through and left the state it should.
"""

from __future__ import annotations

from chain_helpers import TestConsortium
from eth_utils import keccak
from grant_helpers import GrantDesk, GrantStatus
from web3.types import TxReceipt

from cityledger.sdk import merkle


def test_main_calls_and_their_gas(consortium: TestConsortium) -> None:
    desk = GrantDesk(consortium)
    fn, log = desk.grants.functions, desk.log.functions
    grantor, grantee = desk.agency("jiamusi.bdc"), desk.agency("harbin.health")
    auditor, relayer = desk.agency("audit"), consortium.spare[0]
    gas: dict[str, int] = {}

    def run(label: str, receipt: TxReceipt) -> None:
        gas[label] = int(receipt["gasUsed"])

    name = "jiamusi/epidemic-travel-trace"
    run(
        "DataGrants.registerDataset",
        consortium.transact(
            fn.registerDataset(keccak(text=name), name, keccak(text="schema"), 2, 24), grantor
        ),
    )
    dataset = keccak(text=name)

    # The first grant of a dataset and of a pair of agencies starts three grant lists.
    second = desk.make_offer(dataset, grantor, grantee)
    second_id = desk.grant_id(second)
    run(
        "DataGrants.submitGrant (offer + accept, first grant of the dataset)",
        consortium.transact(
            fn.submitGrant(
                second.as_tuple(),
                desk.sign_offer(second, grantor),
                desk.sign_acceptance(second_id, grantee),
            ),
            relayer,
        ),
    )
    offer = desk.make_offer(dataset, grantor, grantee, quota=100)
    grant_id, receipt = desk.offer(offer, grantor, relayer)
    run("DataGrants.offerGrant", receipt)
    run("DataGrants.acceptGrant", desk.accept(grant_id, grantee, relayer))
    third = desk.make_offer(dataset, grantor, grantee)
    run(
        "DataGrants.submitGrant (offer + accept)",
        consortium.transact(
            fn.submitGrant(
                third.as_tuple(),
                desk.sign_offer(third, grantor),
                desk.sign_acceptance(desk.grant_id(third), grantee),
            ),
            relayer,
        ),
    )
    withdrawn, _ = desk.offer(desk.make_offer(dataset, grantor, grantee), grantor, relayer)
    run("DataGrants.withdrawOffer", consortium.transact(fn.withdrawOffer(withdrawn), grantor))

    run("AccessLog.recordAccess", desk.record_access(grant_id, grantee))
    run("AccessLog.recordAccess", desk.record_access(grant_id, grantee))
    run(
        "DataGrants.suspend",
        consortium.transact(fn.suspend(grant_id, keccak(text="case")), auditor),
    )
    run(
        "DataGrants.reinstate",
        consortium.transact(fn.reinstate(grant_id, keccak(text="ok")), auditor),
    )
    run(
        "DataGrants.revoke", consortium.transact(fn.revoke(second_id, keccak(text="done")), grantor)
    )

    entries = [f"access {i}".encode() for i in range(5000)]
    run(
        "AccessLog.anchorLog (first, no proof)",
        consortium.transact(log.anchorLog(1000, merkle.root_hash(entries[:1000]), []), grantee),
    )
    proof = merkle.consistency_proof(entries[:1500], 1000)
    run(
        f"AccessLog.anchorLog (1000 -> 1500, {len(proof)}-node proof)",
        consortium.transact(log.anchorLog(1500, merkle.root_hash(entries[:1500]), proof), grantee),
    )
    proof = merkle.consistency_proof(entries, 1500)
    run(
        f"AccessLog.anchorLog (1500 -> 5000, {len(proof)}-node proof)",
        consortium.transact(log.anchorLog(5000, merkle.root_hash(entries), proof), grantee),
    )

    assert desk.status(grant_id) == GrantStatus.ACTIVE
    assert desk.status(second_id) == GrantStatus.REVOKED
    assert desk.status(withdrawn) == GrantStatus.WITHDRAWN
    assert fn.getGrant(grant_id).call()[6] == 2
    assert log.anchorCount(grantee.address).call() == 3
    width = max(map(len, gas))
    print("\n" + "\n".join(f"| {label:<{width}} | {used:>9,} |" for label, used in gas.items()))
