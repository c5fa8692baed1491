"""Regional resource pools (ResourceAllocation): pools, rounds, requests, approvals, receipts,
and the local re-computation (cityledger.sdk.allocation) that checks what the chain decided."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from eth_utils import keccak, to_checksum_address

from cityledger.contracts.deployment import text32
from cityledger.sdk.allocation import AllocationRequest, AllocationRule, allocate
from cityledger.sdk.chain import Chain
from cityledger.sdk.consortium_client import city_id
from cityledger.sdk.models import (
    CityId,
    Pool,
    Request,
    Round,
    RoundStatus,
    hex32,
    label,
    raw32,
    utc,
)
from cityledger.sdk.receipts import emitted_once


class AllocationClient:
    def __init__(self, chain: Chain) -> None:
        self.chain = chain
        self.contract = chain.contract("ResourceAllocation")

    # ------------------------------------------------------------------ writes

    def create_pool(
        self,
        resource: str,
        *,
        unit: str,
        capacity: int,
        members: Sequence[str],
        rule: AllocationRule = AllocationRule.MAX_MIN_FAIR,
    ) -> Pool:
        """A city admin creates a pool its city coordinates; `members` are city names or ids."""
        fn = self.contract.functions.createPool(
            text32(resource),
            text32(unit),
            capacity,
            [raw32(city_id(m)) for m in members],
            int(rule),
        )
        receipt = self.chain.transact(fn)
        return self.pool(
            int(emitted_once(self.chain, receipt, "ResourceAllocation", "PoolCreated")["poolId"])
        )

    def open_round(self, pool_id: int, amount: int, rule: AllocationRule | None = None) -> Round:
        chosen = self.pool(pool_id).default_rule if rule is None else rule.name
        fn = self.contract.functions.openRound(pool_id, int(AllocationRule[chosen]), amount)
        receipt = self.chain.transact(fn)
        return self.round(
            pool_id,
            int(emitted_once(self.chain, receipt, "ResourceAllocation", "RoundOpened")["roundId"]),
        )

    def request(
        self, pool_id: int, amount: int, *, priority: int = 1, justification: str = ""
    ) -> Request:
        """Files the signer's city's request in the pool's open round (justification hashed)."""
        fn = self.contract.functions.fileRequest(
            pool_id, amount, priority, keccak(text=justification)
        )
        receipt = self.chain.transact(fn)
        event = emitted_once(self.chain, receipt, "ResourceAllocation", "RequestFiled")
        requests = self.requests(pool_id, int(event["roundId"]))
        return next(r for r in requests if r.city_id == hex32(bytes(event["cityId"])))

    def close_round(self, pool_id: int) -> Round:
        receipt = self.chain.transact(self.contract.functions.closeRound(pool_id))
        return self.round(
            pool_id,
            int(emitted_once(self.chain, receipt, "ResourceAllocation", "RoundClosed")["roundId"]),
        )

    def approve(self, pool_id: int, round_id: int) -> Round:
        self.chain.transact(self.contract.functions.approveRound(pool_id, round_id))
        return self.round(pool_id, round_id)

    def reject(self, pool_id: int, round_id: int) -> Round:
        self.chain.transact(self.contract.functions.rejectRound(pool_id, round_id))
        return self.round(pool_id, round_id)

    def cancel_round(self, pool_id: int) -> Round:
        receipt = self.chain.transact(self.contract.functions.cancelRound(pool_id))
        return self.round(
            pool_id,
            int(
                emitted_once(self.chain, receipt, "ResourceAllocation", "RoundCancelled")["roundId"]
            ),
        )

    def confirm_receipt(self, pool_id: int, round_id: int, received: int) -> None:
        self.chain.transact(self.contract.functions.confirmReceipt(pool_id, round_id, received))

    # ------------------------------------------------------------------ reads

    def pool(self, pool_id: int) -> Pool:
        pool = self.chain.call_named(self.contract.functions.getPool(pool_id))
        return Pool(
            id=pool_id,
            resource_type=label(bytes(pool["resourceType"])),
            unit=label(bytes(pool["unit"])),
            capacity=int(pool["capacity"]),
            allocated=int(pool["allocated"]),
            coordinator_city=CityId(hex32(bytes(pool["coordinatorCity"]))),
            default_rule=AllocationRule(int(pool["defaultRule"])).name,
            created_at=utc(int(pool["createdAt"])),
            round_count=int(pool["roundCount"]),
            members=tuple(CityId(hex32(bytes(m))) for m in pool["members"]),
        )

    def pools(self, *, offset: int = 0, limit: int | None = None) -> list[Pool]:
        """Pools in the order they were created, from the `offset`-th, at most `limit`."""
        count = int(self.chain.call(self.contract.functions.poolCount()))
        last = count if limit is None else min(count, offset + limit)
        return [self.pool(i) for i in range(offset + 1, last + 1)]

    def round(self, pool_id: int, round_id: int) -> Round:
        round_ = self.chain.call_named(self.contract.functions.getRound(pool_id, round_id))
        return self._round(pool_id, round_id, round_)

    def _round(self, pool_id: int, round_id: int, round_: Mapping[str, Any]) -> Round:
        given = self.chain.call_named(self.contract.functions.allocationsOf(pool_id, round_id))
        return Round(
            pool_id=pool_id,
            id=round_id,
            rule=AllocationRule(int(round_["rule"])).name,
            status=RoundStatus(int(round_["status"])),
            amount=int(round_["amount"]),
            total_requested=int(round_["totalRequested"]),
            total_allocated=int(round_["totalAllocated"]),
            opened_at=utc(int(round_["openedAt"])),
            approvals=int(round_["approvals"]),
            rejections=int(round_["rejections"]),
            allocations=tuple(
                (CityId(hex32(bytes(c))), int(a))
                for c, a in zip(given["cityIds"], given["amounts"], strict=True)
            ),
        )

    def rounds(self, pool_id: int) -> list[Round]:
        return [
            self._round(pool_id, index + 1, round_)
            for index, round_ in enumerate(
                self.chain.call_named(self.contract.functions.roundsOf(pool_id))
            )
        ]

    def requests(self, pool_id: int, round_id: int) -> list[Request]:
        return [
            Request(
                pool_id=pool_id,
                round_id=round_id,
                city_id=CityId(hex32(bytes(r["cityId"]))),
                requester=to_checksum_address(r["requester"]),
                amount=int(r["amount"]),
                priority=int(r["priority"]),
                justification_hash=hex32(bytes(r["justificationHash"])),
                filed_at=utc(int(r["filedAt"])),
            )
            for r in self.chain.call_named(self.contract.functions.requestsOf(pool_id, round_id))
        ]

    def expected_allocation(self, pool_id: int, round_id: int) -> list[int]:
        """The round's allocation recomputed locally from its requests and rule, independently of
        the contract, to check what the chain decided."""
        round_ = self.round(pool_id, round_id)
        requests = [
            AllocationRequest(r.amount, r.priority) for r in self.requests(pool_id, round_id)
        ]
        return allocate(AllocationRule[round_.rule], round_.amount, requests)
