"""Scenario 4 through the SDK on anvil: Harbin's vaccine pool, requests from the regional
centres, a max-min fair round, approval by quorum, receipts, history."""

from __future__ import annotations

import pytest
from anvil_helpers import Deployed, role_key

from cityledger.sdk import Ledger, errors
from cityledger.sdk.allocation import AllocationRequest, AllocationRule, allocate
from cityledger.sdk.consortium_client import city_id
from cityledger.sdk.models import RoundStatus


def ledger(deployed: Deployed, key: str) -> Ledger:
    return Ledger.connect(deployed.anvil.url, role_key(key), manifest=deployed.manifest_path)


def test_max_min_fair_round_approved_by_quorum(deployed: Deployed) -> None:
    harbin = ledger(deployed, "harbin.admin")
    pool = harbin.allocation.create_pool(
        "vaccine-doses",
        unit="doses",
        capacity=100_000,
        members=["Harbin", "Qiqihar", "Jiamusi", "Daqing"],
    )
    assert pool.coordinator_city == city_id("Harbin") and pool.default_rule == "MAX_MIN_FAIR"
    opened = harbin.allocation.open_round(pool.id, 60_000)
    assert opened.status is RoundStatus.OPEN

    asks = {
        "qiqihar.emergency": (30_000, 3),
        "jiamusi.admin": (10_000, 5),
        "daqing.admin": (45_000, 2),
    }
    for key, (amount, priority) in asks.items():
        ledger(deployed, key).allocation.request(
            pool.id, amount, priority=priority, justification=f"{key} outbreak plan"
        )
    with pytest.raises(errors.RequestAlreadyFiled):
        ledger(deployed, "daqing.admin").allocation.request(pool.id, 1)

    closed = harbin.allocation.close_round(pool.id)
    assert closed.status is RoundStatus.VOTING
    expected = allocate(
        AllocationRule.MAX_MIN_FAIR, 60_000, [AllocationRequest(a, p) for a, p in asks.values()]
    )
    assert [amount for _, amount in closed.allocations] == expected == [25_000, 10_000, 25_000]
    assert harbin.allocation.expected_allocation(pool.id, closed.id) == expected

    for key in ("harbin.admin", "qiqihar.admin"):
        assert ledger(deployed, key).allocation.approve(pool.id, closed.id).status is (
            RoundStatus.VOTING
        )
    approved = ledger(deployed, "jiamusi.admin").allocation.approve(pool.id, closed.id)
    assert approved.status is RoundStatus.APPROVED and approved.approvals == 3
    ledger(deployed, "jiamusi.admin").allocation.confirm_receipt(pool.id, closed.id, 10_000)
    assert harbin.allocation.pool(pool.id).allocated == 60_000

    history = [e.event for e in harbin.audit.trace(city="Jiamusi")]
    assert {"RequestFiled", "AllocationComputed", "RoundVoted", "ReceiptConfirmed"} <= set(history)
    with pytest.raises(errors.NoOpenRound) as no_round:
        ledger(deployed, "daqing.admin").allocation.request(pool.id, 5)
    assert "no open round" in str(no_round.value)
