// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IConsortium, Roles} from "./IConsortium.sol";

/// Regional resource pools (vaccine doses, ICU beds, supplies, budget): a coordinating city opens
/// allocation rounds, member cities file requests, the contract computes the allocation by a
/// deterministic rule, more than 2/3 of the pool's member cities approve it, and each city
/// confirms what it received. Everything stays on chain as history.
///
/// Life cycle of a round: Open -> (closeRound) Voting -> Approved | Rejected; the coordinator may
/// cancel a round that is Open or Voting. A pool has at most one round Open or Voting at a time,
/// so a round's amount, checked against the pool's remaining capacity when it opens, is still
/// available when the round is approved.
contract ResourceAllocation {
    /// The rules. All three are one algorithm, capped weighted water-filling, with different
    /// weights: Proportional w = amount, PriorityWeighted w = amount * priority, MaxMinFair w = 1.
    enum AllocationRule {
        Proportional,
        PriorityWeighted,
        MaxMinFair
    }

    enum RoundStatus {
        None,
        Open,
        Voting,
        Approved,
        Rejected,
        Cancelled
    }

    struct Pool {
        bytes32 resourceType;
        bytes32 unit;
        uint256 capacity;
        uint256 allocated; // sum of the allocations of approved rounds
        bytes32 coordinatorCity;
        AllocationRule defaultRule;
        uint64 createdAt;
        uint32 roundCount;
        bytes32[] members;
    }

    struct Round {
        AllocationRule rule;
        RoundStatus status;
        uint256 amount; // what the round may hand out
        uint256 totalRequested;
        uint256 totalAllocated;
        uint64 openedAt;
        uint64 closedAt;
        uint64 decidedAt;
        uint32 approvals;
        uint32 rejections;
    }

    /// Packed into four slots: amounts never exceed MAX_AMOUNT, which fits in 96 bits.
    struct Request {
        bytes32 cityId;
        bytes32 justificationHash;
        address requester;
        uint96 amount;
        uint64 filedAt;
        uint8 priority;
    }

    struct Receipt {
        bytes32 cityId;
        address confirmer;
        uint96 allocated;
        uint256 received; // as reported, unbounded: a receipt records, it does not check
        uint64 confirmedAt;
    }

    /// Bounds that keep the on-chain computation cheap and its products far from overflow:
    /// amount * priority * members * amount < 2^96 * 5 * 2^6 * 2^96 < 2^256.
    uint256 public constant MAX_MEMBERS = 64;
    uint256 public constant MAX_AMOUNT = type(uint96).max;
    uint8 public constant MIN_PRIORITY = 1;
    uint8 public constant MAX_PRIORITY = 5;

    IConsortium public immutable consortium;

    uint256 public poolCount;
    mapping(uint256 poolId => Pool) private _pools;
    mapping(uint256 poolId => mapping(bytes32 cityId => bool)) public isPoolMember;
    mapping(bytes32 cityId => uint256[]) private _poolsOfCity;
    mapping(uint256 poolId => mapping(uint256 roundId => Round)) private _rounds;
    mapping(uint256 poolId => mapping(uint256 roundId => Request[])) private _requests;
    mapping(uint256 poolId => mapping(uint256 roundId => uint256[])) private _allocations;
    mapping(uint256 poolId => mapping(uint256 roundId => Receipt[])) private _receipts;
    mapping(uint256 poolId => mapping(uint256 roundId => mapping(bytes32 cityId => uint256))) private
        _requestSlot; // index + 1 of the city's request in the round, 0 if none
    mapping(uint256 poolId => mapping(uint256 roundId => mapping(bytes32 cityId => bool))) public hasVoted;
    mapping(uint256 poolId => mapping(uint256 roundId => mapping(bytes32 cityId => bool))) public
        hasConfirmedReceipt;

    event PoolCreated(
        uint256 indexed poolId,
        bytes32 indexed coordinatorCity,
        bytes32 indexed resourceType,
        bytes32 unit,
        uint256 capacity,
        AllocationRule defaultRule,
        bytes32[] members
    );
    event RoundOpened(
        uint256 indexed poolId, uint256 indexed roundId, bytes32 indexed coordinatorCity, AllocationRule rule, uint256 amount
    );
    event RequestFiled(
        uint256 indexed poolId,
        uint256 indexed roundId,
        bytes32 indexed cityId,
        address requester,
        uint256 amount,
        uint8 priority,
        bytes32 justificationHash
    );
    event RoundClosed(
        uint256 indexed poolId, uint256 indexed roundId, AllocationRule rule, uint256 totalRequested, uint256 totalAllocated
    );
    event AllocationComputed(
        uint256 indexed poolId, uint256 indexed roundId, bytes32 indexed cityId, uint256 requested, uint256 allocated
    );
    event RoundVoted(
        uint256 indexed poolId,
        uint256 indexed roundId,
        bytes32 indexed cityId,
        address voter,
        bool approve,
        uint32 approvals,
        uint32 rejections
    );
    event RoundApproved(uint256 indexed poolId, uint256 indexed roundId, uint256 totalAllocated, uint256 poolAllocated);
    event RoundRejected(uint256 indexed poolId, uint256 indexed roundId, uint32 rejections);
    event RoundCancelled(uint256 indexed poolId, uint256 indexed roundId, RoundStatus previousStatus);
    event ReceiptConfirmed(
        uint256 indexed poolId,
        uint256 indexed roundId,
        bytes32 indexed cityId,
        address confirmer,
        uint256 allocated,
        uint256 received
    );

    error NotCityAdmin(address caller);
    error NotCoordinator(uint256 poolId, address caller);
    error NotAllocator(address caller);
    error NotPoolMember(uint256 poolId, bytes32 cityId);
    error UnknownPool(uint256 poolId);
    error UnknownRound(uint256 poolId, uint256 roundId);
    error InvalidMembers(uint256 count);
    error InactiveCity(bytes32 cityId);
    error DuplicateMember(bytes32 cityId);
    error CoordinatorNotMember(bytes32 coordinatorCity);
    error ZeroAmount();
    error AmountTooLarge(uint256 amount, uint256 maximum);
    error InvalidPriority(uint8 priority);
    error RoundInProgress(uint256 poolId, uint256 roundId);
    error AmountExceedsRemaining(uint256 poolId, uint256 amount, uint256 remaining);
    error NoOpenRound(uint256 poolId);
    error RequestAlreadyFiled(uint256 poolId, uint256 roundId, bytes32 cityId);
    error NoRequests(uint256 poolId, uint256 roundId);
    error RoundNotVoting(uint256 poolId, uint256 roundId, RoundStatus status);
    error RoundNotApproved(uint256 poolId, uint256 roundId, RoundStatus status);
    error RoundNotCancellable(uint256 poolId, uint256 roundId, RoundStatus status);
    error AlreadyVoted(uint256 poolId, uint256 roundId, bytes32 cityId);
    error NothingAllocated(uint256 poolId, uint256 roundId, bytes32 cityId);
    error ReceiptAlreadyConfirmed(uint256 poolId, uint256 roundId, bytes32 cityId);
    error LengthMismatch(uint256 amounts, uint256 priorities);

    constructor(IConsortium consortium_) {
        consortium = consortium_;
    }

    // ---------------------------------------------------------------- pools and rounds

    /// Creates a pool coordinated by the caller's city (the caller must be an active city's
    /// admin). `memberCities` are the cities that may request and that vote on allocations; the
    /// coordinating city must be one of them.
    function createPool(
        bytes32 resourceType,
        bytes32 unit,
        uint256 capacity,
        bytes32[] calldata memberCities,
        AllocationRule rule
    ) external returns (uint256 poolId) {
        bytes32 coordinator = _adminCity(msg.sender);
        if (capacity == 0) revert ZeroAmount();
        _checkAmount(capacity);
        if (memberCities.length == 0 || memberCities.length > MAX_MEMBERS) revert InvalidMembers(memberCities.length);
        poolId = ++poolCount;
        Pool storage pool = _pools[poolId];
        for (uint256 i = 0; i < memberCities.length; ++i) {
            bytes32 city = memberCities[i];
            if (!consortium.isActiveCity(city)) revert InactiveCity(city);
            if (isPoolMember[poolId][city]) revert DuplicateMember(city);
            isPoolMember[poolId][city] = true;
            _poolsOfCity[city].push(poolId);
        }
        if (!isPoolMember[poolId][coordinator]) revert CoordinatorNotMember(coordinator);
        pool.resourceType = resourceType;
        pool.unit = unit;
        pool.capacity = capacity;
        pool.coordinatorCity = coordinator;
        pool.defaultRule = rule;
        pool.createdAt = uint64(block.timestamp);
        pool.members = memberCities;
        emit PoolCreated(poolId, coordinator, resourceType, unit, capacity, rule, memberCities);
    }

    /// Opens the next round of a pool (coordinator's admin only). `amount` must fit in the pool's
    /// remaining capacity; `rule` may differ from the pool's default and is part of what members
    /// approve.
    function openRound(uint256 poolId, AllocationRule rule, uint256 amount) external returns (uint256 roundId) {
        Pool storage pool = _coordinatedPool(poolId);
        uint256 current = pool.roundCount;
        if (current != 0) {
            RoundStatus status = _rounds[poolId][current].status;
            if (status == RoundStatus.Open || status == RoundStatus.Voting) revert RoundInProgress(poolId, current);
        }
        if (amount == 0) revert ZeroAmount();
        uint256 remaining = pool.capacity - pool.allocated;
        if (amount > remaining) revert AmountExceedsRemaining(poolId, amount, remaining);
        roundId = current + 1;
        pool.roundCount = uint32(roundId);
        Round storage round = _rounds[poolId][roundId];
        round.rule = rule;
        round.status = RoundStatus.Open;
        round.amount = amount;
        round.openedAt = uint64(block.timestamp);
        emit RoundOpened(poolId, roundId, pool.coordinatorCity, rule, amount);
    }

    /// Files the caller's city's request in the pool's open round. The caller is an ALLOCATOR
    /// agency of a member city or that city's admin; one request per city per round.
    function fileRequest(uint256 poolId, uint256 amount, uint8 priority, bytes32 justificationHash)
        external
        returns (uint256 roundId)
    {
        Pool storage pool = _existingPool(poolId);
        bytes32 city = _allocatorCity(msg.sender);
        if (!isPoolMember[poolId][city]) revert NotPoolMember(poolId, city);
        roundId = pool.roundCount;
        if (roundId == 0 || _rounds[poolId][roundId].status != RoundStatus.Open) revert NoOpenRound(poolId);
        if (_requestSlot[poolId][roundId][city] != 0) revert RequestAlreadyFiled(poolId, roundId, city);
        if (amount == 0) revert ZeroAmount();
        _checkAmount(amount);
        if (priority < MIN_PRIORITY || priority > MAX_PRIORITY) revert InvalidPriority(priority);
        Request[] storage requests = _requests[poolId][roundId];
        requests.push(
            Request({
                cityId: city,
                justificationHash: justificationHash,
                requester: msg.sender,
                amount: uint96(amount),
                filedAt: uint64(block.timestamp),
                priority: priority
            })
        );
        _requestSlot[poolId][roundId][city] = requests.length;
        _rounds[poolId][roundId].totalRequested += amount;
        emit RequestFiled(poolId, roundId, city, msg.sender, amount, priority, justificationHash);
    }

    /// Closes the open round (coordinator's admin only), computes the allocation with the round's
    /// rule and puts it to the member cities' vote.
    function closeRound(uint256 poolId) external returns (uint256 roundId) {
        Pool storage pool = _coordinatedPool(poolId);
        roundId = pool.roundCount;
        Round storage round = _rounds[poolId][roundId];
        if (roundId == 0 || round.status != RoundStatus.Open) revert NoOpenRound(poolId);
        Request[] storage requests = _requests[poolId][roundId];
        uint256 n = requests.length;
        if (n == 0) revert NoRequests(poolId, roundId);
        uint256[] memory amounts = new uint256[](n);
        uint8[] memory priorities = new uint8[](n);
        for (uint256 i = 0; i < n; ++i) {
            amounts[i] = requests[i].amount;
            priorities[i] = requests[i].priority;
        }
        uint256[] memory allocation = computeAllocation(round.rule, round.amount, amounts, priorities);
        uint256 total;
        for (uint256 i = 0; i < n; ++i) {
            total += allocation[i];
            emit AllocationComputed(poolId, roundId, requests[i].cityId, amounts[i], allocation[i]);
        }
        _allocations[poolId][roundId] = allocation;
        round.totalAllocated = total;
        round.status = RoundStatus.Voting;
        round.closedAt = uint64(block.timestamp);
        emit RoundClosed(poolId, roundId, round.rule, round.totalRequested, total);
    }

    /// Cancels a round that is Open or Voting (coordinator's admin only), for example when a
    /// member city left the consortium and the quorum can no longer be reached.
    function cancelRound(uint256 poolId) external returns (uint256 roundId) {
        Pool storage pool = _coordinatedPool(poolId);
        roundId = pool.roundCount;
        if (roundId == 0) revert UnknownRound(poolId, roundId);
        Round storage round = _rounds[poolId][roundId];
        RoundStatus previous = round.status;
        if (previous != RoundStatus.Open && previous != RoundStatus.Voting) {
            revert RoundNotCancellable(poolId, roundId, previous);
        }
        round.status = RoundStatus.Cancelled;
        round.decidedAt = uint64(block.timestamp);
        emit RoundCancelled(poolId, roundId, previous);
    }

    // ---------------------------------------------------------------- approval and receipts

    /// The caller, admin of a member city, approves the computed allocation of a round. With
    /// approvals from more than 2/3 of the pool's member cities the round is Approved and its
    /// allocation counts against the pool's capacity.
    function approveRound(uint256 poolId, uint256 roundId) external {
        _vote(poolId, roundId, true);
    }

    /// The caller, admin of a member city, rejects the computed allocation. Once approval can no
    /// longer reach more than 2/3 (at least a third of the members rejected), the round is Rejected.
    function rejectRound(uint256 poolId, uint256 roundId) external {
        _vote(poolId, roundId, false);
    }

    /// Records what the caller's city actually received from an approved round (an ALLOCATOR
    /// agency of the city or its admin; once per city per round). A `amountReceived` that differs
    /// from the allocation is recorded as is: the receipt is evidence, not a check.
    function confirmReceipt(uint256 poolId, uint256 roundId, uint256 amountReceived) external {
        Round storage round = _existingRound(poolId, roundId);
        bytes32 city = _allocatorCity(msg.sender);
        if (round.status != RoundStatus.Approved) revert RoundNotApproved(poolId, roundId, round.status);
        uint256 slot = _requestSlot[poolId][roundId][city];
        uint256 allocated = slot == 0 ? 0 : _allocations[poolId][roundId][slot - 1];
        if (allocated == 0) revert NothingAllocated(poolId, roundId, city);
        if (hasConfirmedReceipt[poolId][roundId][city]) revert ReceiptAlreadyConfirmed(poolId, roundId, city);
        hasConfirmedReceipt[poolId][roundId][city] = true;
        _receipts[poolId][roundId].push(
            Receipt({
                cityId: city,
                confirmer: msg.sender,
                allocated: uint96(allocated),
                received: amountReceived,
                confirmedAt: uint64(block.timestamp)
            })
        );
        emit ReceiptConfirmed(poolId, roundId, city, msg.sender, allocated, amountReceived);
    }

    // ---------------------------------------------------------------- the rules

    /// The allocation rules, exactly as closeRound applies them; `pure`, so anyone can check an
    /// allocation with eth_call. `amounts[i]` is request i's amount (requests in filing order),
    /// `priorities[i]` its priority (read only by PriorityWeighted).
    ///
    /// Algorithm (capped weighted water-filling, integer arithmetic):
    ///  1. weights: Proportional w_i = amounts[i]; PriorityWeighted w_i = amounts[i] * priorities[i];
    ///     MaxMinFair w_i = 1.
    ///  2. rem = available; active = every request. Repeat: W = sum of active w_i; every active
    ///     request with rem * w_i >= amounts[i] * W gets its whole amount (rem decreases by it and
    ///     it leaves active); stop when a pass caps nobody or nobody is active.
    ///  3. each remaining active request gets floor(rem * w_i / W); the units left over
    ///     (fewer than the active requests) go one each to the active requests with the largest
    ///     remainders (rem * w_i mod W), ties to the earlier request (largest remainder method).
    /// Guarantees, for every rule: allocation[i] <= amounts[i]; sum = min(sum amounts, available)
    /// (so never more than the round's amount); the result depends only on the inputs and their
    /// order. With r = min(amount, level * w) for the one level that makes the exact shares sum to
    /// `available`, each request gets floor(r) or floor(r) + 1. Proportional (available < total):
    /// floor or ceil of available * amount / total. MaxMinFair: min(amount, L) rounded, the
    /// water-filling (max-min fair) allocation. PriorityWeighted: min(amount, x * amount *
    /// priority) for one rate x, what capped requests leave going to the others.
    /// sdk/allocation.py implements the same rules independently (exact fractions).
    function computeAllocation(
        AllocationRule rule,
        uint256 available,
        uint256[] memory amounts,
        uint8[] memory priorities
    ) public pure returns (uint256[] memory allocation) {
        uint256 n = amounts.length;
        if (priorities.length != n) revert LengthMismatch(n, priorities.length);
        allocation = new uint256[](n);
        uint256[] memory weights = new uint256[](n);
        bool[] memory capped = new bool[](n);
        uint256 active = n;
        for (uint256 i = 0; i < n; ++i) {
            if (amounts[i] == 0) revert ZeroAmount();
            _checkAmount(amounts[i]);
            if (priorities[i] < MIN_PRIORITY || priorities[i] > MAX_PRIORITY) revert InvalidPriority(priorities[i]);
            if (rule == AllocationRule.Proportional) weights[i] = amounts[i];
            else if (rule == AllocationRule.PriorityWeighted) weights[i] = amounts[i] * priorities[i];
            else weights[i] = 1;
        }
        _checkAmount(available);
        uint256 rem = available;
        uint256 totalWeight;
        while (active != 0) {
            totalWeight = 0;
            for (uint256 i = 0; i < n; ++i) {
                if (!capped[i]) totalWeight += weights[i];
            }
            uint256 cappedNow;
            uint256 released;
            for (uint256 i = 0; i < n; ++i) {
                if (!capped[i] && rem * weights[i] >= amounts[i] * totalWeight) {
                    capped[i] = true;
                    allocation[i] = amounts[i];
                    released += amounts[i];
                    ++cappedNow;
                }
            }
            if (cappedNow == 0) break;
            rem -= released;
            active -= cappedNow;
        }
        if (active == 0) return allocation;
        _distributeRemainder(allocation, weights, capped, rem, totalWeight);
    }

    /// Step 3 of computeAllocation over the requests that are still active.
    function _distributeRemainder(
        uint256[] memory allocation,
        uint256[] memory weights,
        bool[] memory capped,
        uint256 rem,
        uint256 totalWeight
    ) private pure {
        uint256 n = allocation.length;
        uint256[] memory order = new uint256[](n);
        uint256[] memory fraction = new uint256[](n);
        uint256 count;
        uint256 given;
        for (uint256 i = 0; i < n; ++i) {
            if (capped[i]) continue;
            uint256 share = rem * weights[i];
            allocation[i] = share / totalWeight;
            fraction[i] = share % totalWeight;
            given += allocation[i];
            // insertion by (fraction desc, index asc); i only grows, so equal fractions keep order
            uint256 j = count++;
            while (j > 0 && fraction[order[j - 1]] < fraction[i]) {
                order[j] = order[j - 1];
                --j;
            }
            order[j] = i;
        }
        for (uint256 k = 0; k < rem - given; ++k) {
            allocation[order[k]] += 1;
        }
    }

    // ---------------------------------------------------------------- history views

    function getPool(uint256 poolId) external view returns (Pool memory) {
        return _existingPool(poolId);
    }

    function poolMembers(uint256 poolId) external view returns (bytes32[] memory) {
        return _existingPool(poolId).members;
    }

    function poolsOfCity(bytes32 cityId) external view returns (uint256[] memory) {
        return _poolsOfCity[cityId];
    }

    function getRound(uint256 poolId, uint256 roundId) external view returns (Round memory) {
        return _existingRound(poolId, roundId);
    }

    /// All rounds of a pool, round i + 1 at index i.
    function roundsOf(uint256 poolId) external view returns (Round[] memory rounds) {
        uint256 count = _existingPool(poolId).roundCount;
        rounds = new Round[](count);
        for (uint256 i = 0; i < count; ++i) {
            rounds[i] = _rounds[poolId][i + 1];
        }
    }

    /// Requests of a round, in filing order.
    function requestsOf(uint256 poolId, uint256 roundId) external view returns (Request[] memory) {
        _existingRound(poolId, roundId);
        return _requests[poolId][roundId];
    }

    /// The computed allocation of a round, aligned with requestsOf (empty while the round is Open).
    function allocationsOf(uint256 poolId, uint256 roundId)
        external
        view
        returns (bytes32[] memory cityIds, uint256[] memory amounts)
    {
        _existingRound(poolId, roundId);
        amounts = _allocations[poolId][roundId];
        Request[] storage requests = _requests[poolId][roundId];
        cityIds = new bytes32[](amounts.length);
        for (uint256 i = 0; i < amounts.length; ++i) {
            cityIds[i] = requests[i].cityId;
        }
    }

    function receiptsOf(uint256 poolId, uint256 roundId) external view returns (Receipt[] memory) {
        _existingRound(poolId, roundId);
        return _receipts[poolId][roundId];
    }

    // ---------------------------------------------------------------- internals

    function _vote(uint256 poolId, uint256 roundId, bool approve) private {
        Pool storage pool = _existingPool(poolId);
        bytes32 city = _adminCity(msg.sender);
        if (!isPoolMember[poolId][city]) revert NotPoolMember(poolId, city);
        Round storage round = _existingRound(poolId, roundId);
        if (round.status != RoundStatus.Voting) revert RoundNotVoting(poolId, roundId, round.status);
        if (hasVoted[poolId][roundId][city]) revert AlreadyVoted(poolId, roundId, city);
        hasVoted[poolId][roundId][city] = true;
        if (approve) ++round.approvals;
        else ++round.rejections;
        emit RoundVoted(poolId, roundId, city, msg.sender, approve, round.approvals, round.rejections);
        uint256 members = pool.members.length;
        if (uint256(round.approvals) * 3 > members * 2) {
            round.status = RoundStatus.Approved;
            round.decidedAt = uint64(block.timestamp);
            pool.allocated += round.totalAllocated;
            emit RoundApproved(poolId, roundId, round.totalAllocated, pool.allocated);
        } else if (uint256(round.rejections) * 3 >= members) {
            round.status = RoundStatus.Rejected;
            round.decidedAt = uint64(block.timestamp);
            emit RoundRejected(poolId, roundId, round.rejections);
        }
    }

    function _adminCity(address account) private view returns (bytes32 city) {
        city = consortium.adminCity(account);
        if (city == bytes32(0)) revert NotCityAdmin(account);
    }

    /// The city an ALLOCATOR agency or a city admin acts for.
    function _allocatorCity(address account) private view returns (bytes32 city) {
        city = consortium.adminCity(account);
        if (city != bytes32(0)) return city;
        if (!consortium.hasRole(account, Roles.ALLOCATOR)) revert NotAllocator(account);
        city = consortium.cityOfAgency(account);
    }

    function _existingPool(uint256 poolId) private view returns (Pool storage pool) {
        if (poolId == 0 || poolId > poolCount) revert UnknownPool(poolId);
        pool = _pools[poolId];
    }

    function _coordinatedPool(uint256 poolId) private view returns (Pool storage pool) {
        pool = _existingPool(poolId);
        if (consortium.adminCity(msg.sender) != pool.coordinatorCity) revert NotCoordinator(poolId, msg.sender);
    }

    function _existingRound(uint256 poolId, uint256 roundId) private view returns (Round storage) {
        Pool storage pool = _existingPool(poolId);
        if (roundId == 0 || roundId > pool.roundCount) revert UnknownRound(poolId, roundId);
        return _rounds[poolId][roundId];
    }

    function _checkAmount(uint256 amount) private pure {
        if (amount > MAX_AMOUNT) revert AmountTooLarge(amount, MAX_AMOUNT);
    }
}
