// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IConsortium, Roles} from "./IConsortium.sol";
import {IDataGrants} from "./IDataGrants.sol";
import {ILeakRegistry} from "./ILeakRegistry.sol";
import {MerkleConsistency} from "./MerkleConsistency.sol";

/// The audit trail of data access, in two forms.
///
/// Per-access records: the grantee of an active grant records each use (query hash, record count,
/// fields) and DataGrants counts it against the grant's quota and scope. Where the dataset's owner
/// designated a gateway (DataGrants.setGateway), the gateway records each delivery it makes, with
/// the fingerprint commitment of the delivered copy, in one transaction: the trail is written by
/// the side that holds the data.
///
/// Log anchors: at volume an agency keeps its access log off chain as an RFC 9162 Merkle tree and
/// anchors the tree head here. Every anchor must extend the agency's previous one, checked by a
/// consistency proof, so an anchored log can never be rewritten or truncated.
contract AccessLog {
    struct Anchor {
        uint64 treeSize;
        uint64 anchoredAt;
        bytes32 root;
    }

    IConsortium public immutable consortium;

    mapping(address agency => Anchor[]) private _anchors;

    /// `accessor` is the grantee; `recordedBy` the grantee itself, or the dataset's gateway that
    /// delivered the data (then `queryHash` is the EIP-712 digest of the grantee's signed request).
    event AccessRecorded(
        bytes32 indexed grantId,
        address indexed accessor,
        bytes32 indexed datasetId,
        address recordedBy,
        bytes32 queryHash,
        uint64 recordCount,
        uint32 accessNumber,
        uint256 timestamp
    );
    event LogAnchored(
        address indexed agency, bytes32 indexed cityId, uint256 indexed anchorIndex, uint64 treeSize, bytes32 root
    );

    error NoDataGrants();
    error NoLeakRegistry();
    error UnknownGrant(bytes32 grantId);
    error NotDatasetGateway(bytes32 datasetId, address caller, address gateway);
    error NotLogKeeper(address caller);
    error EmptyTree();
    error UnexpectedProof(uint256 proofLength);
    error TreeShrank(uint64 previousSize, uint64 treeSize);
    error InconsistentLog(address agency, uint64 previousSize, bytes32 previousRoot, uint64 treeSize, bytes32 root);
    error NoAnchor(address agency, uint256 index);

    constructor(IConsortium consortium_) {
        consortium = consortium_;
    }

    /// Records one access by the caller under `grantId`. DataGrants refuses it (with its own
    /// custom errors) unless the caller is the grantee, the grant is active, `fieldsMask` is
    /// within the grant's field scope and quota remains. Returns the access's number in the grant.
    function recordAccess(bytes32 grantId, bytes32 queryHash, uint64 recordCount, uint256 fieldsMask)
        external
        returns (uint32 accessNumber)
    {
        IDataGrants grants = _dataGrants();
        accessNumber = grants.consumeAccess(grantId, msg.sender, fieldsMask);
        emit AccessRecorded(
            grantId,
            msg.sender,
            grants.datasetOf(grantId),
            msg.sender,
            queryHash,
            recordCount,
            accessNumber,
            block.timestamp
        );
    }

    /// The dataset's designated gateway (still holding GATEWAY) records one delivery under
    /// `grantId`, all or nothing: DataGrants counts it as an access by the grantee (the same
    /// checks as recordAccess: active grant, grantee holding GRANTEE, fields in scope, quota
    /// left), and LeakRegistry registers `commitment`, the fingerprint commitment of the copy.
    /// `requestHash` is the digest of the grantee's signed request. The gateway releases the data
    /// only once this transaction is final. Returns the access's number in the grant and the
    /// delivery's index in LeakRegistry.
    function recordDelivery(
        bytes32 grantId,
        bytes32 requestHash,
        uint64 recordCount,
        uint256 fieldsMask,
        bytes32 commitment,
        bytes32 method
    ) external returns (uint32 accessNumber, uint256 deliveryIndex) {
        IDataGrants grants = _dataGrants();
        bytes32 datasetId = grants.datasetOf(grantId);
        if (datasetId == bytes32(0)) revert UnknownGrant(grantId);
        address gateway = grants.datasetGateway(datasetId);
        if (msg.sender != gateway || !consortium.hasRole(msg.sender, Roles.GATEWAY)) {
            revert NotDatasetGateway(datasetId, msg.sender, gateway);
        }
        (, address grantee) = grants.partiesOf(grantId);
        accessNumber = grants.consumeAccess(grantId, grantee, fieldsMask);
        emit AccessRecorded(
            grantId, grantee, datasetId, msg.sender, requestHash, recordCount, accessNumber, block.timestamp
        );
        address leaks = consortium.systemContract(bytes32("LeakRegistry"));
        if (leaks == address(0)) revert NoLeakRegistry();
        deliveryIndex =
            ILeakRegistry(leaks).registerGatewayDelivery(grantId, commitment, method, recordCount, msg.sender);
    }

    /// Anchors the head (treeSize, root) of the caller's off-chain access log. The first anchor
    /// takes no proof; every later one needs the RFC 9162 consistency proof from the previous
    /// head (empty when the size is unchanged, in which case the root must be too).
    function anchorLog(uint64 treeSize, bytes32 root, bytes32[] calldata consistencyProof) external {
        if (
            !consortium.hasRole(msg.sender, Roles.GRANTEE) && !consortium.hasRole(msg.sender, Roles.GRANTOR)
                && !consortium.hasRole(msg.sender, Roles.GATEWAY)
        ) {
            revert NotLogKeeper(msg.sender);
        }
        if (treeSize == 0) revert EmptyTree();
        Anchor[] storage history = _anchors[msg.sender];
        uint256 count = history.length;
        if (count == 0) {
            if (consistencyProof.length != 0) revert UnexpectedProof(consistencyProof.length);
        } else {
            Anchor storage last = history[count - 1];
            if (treeSize < last.treeSize) revert TreeShrank(last.treeSize, treeSize);
            if (!MerkleConsistency.verify(last.treeSize, treeSize, last.root, root, consistencyProof)) {
                revert InconsistentLog(msg.sender, last.treeSize, last.root, treeSize, root);
            }
        }
        history.push(Anchor({treeSize: treeSize, anchoredAt: uint64(block.timestamp), root: root}));
        emit LogAnchored(msg.sender, consortium.cityOfAgency(msg.sender), count, treeSize, root);
    }

    /// The RFC 9162 consistency check anchorLog applies, for clients and auditors to run first.
    function verifyConsistency(
        uint256 oldSize,
        uint256 newSize,
        bytes32 oldRoot,
        bytes32 newRoot,
        bytes32[] calldata proof
    ) external pure returns (bool) {
        return MerkleConsistency.verify(oldSize, newSize, oldRoot, newRoot, proof);
    }

    function anchorCount(address agency) external view returns (uint256) {
        return _anchors[agency].length;
    }

    function anchorAt(address agency, uint256 index) external view returns (Anchor memory) {
        Anchor[] storage history = _anchors[agency];
        if (index >= history.length) revert NoAnchor(agency, index);
        return history[index];
    }

    function latestAnchor(address agency) external view returns (Anchor memory) {
        Anchor[] storage history = _anchors[agency];
        if (history.length == 0) revert NoAnchor(agency, 0);
        return history[history.length - 1];
    }

    function _dataGrants() private view returns (IDataGrants) {
        address dataGrants = consortium.systemContract(bytes32("DataGrants"));
        if (dataGrants == address(0)) revert NoDataGrants();
        return IDataGrants(dataGrants);
    }
}
