// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IConsortium, Roles} from "./IConsortium.sol";
import {IDataGrants} from "./IDataGrants.sol";
import {ILeakRegistry} from "./ILeakRegistry.sol";

/// Leak accountability: fingerprint commitments registered when data is delivered under a grant,
/// incidents (a leaked copy of a dataset, referenced by the hash of the evidence), findings that
/// attribute an incident to a grant with a score and a method, and suspension of the implicated
/// grants through DataGrants.
///
/// Who may do what: the grant's grantor registers deliveries it makes itself, and AccessLog
/// registers those the dataset's gateway records (AccessLog.recordDelivery); AUDITOR agencies do everything
/// about incidents. Reporting is reserved to auditors because opening an incident starts an
/// investigation that can suspend other cities' grants, and DataGrants does not tell this
/// contract who owns a dataset; a dataset owner who finds a leak hands the evidence to an auditor.
///
/// Incident life cycle: Open -> Investigating -> Attributed (needs at least one finding) |
/// Unattributed | Dismissed; Open may also go straight to any of the three closing states.
/// Findings and suspensions are accepted while the incident is Open or Investigating.
/// Incident ids are sequential from 1; DataGrants receives them as bytes32(incidentId).
contract LeakRegistry is ILeakRegistry {
    enum IncidentStatus {
        None,
        Open,
        Investigating,
        Attributed,
        Unattributed,
        Dismissed
    }

    struct Delivery {
        bytes32 commitment; // commitment to the marking parameters of the delivered copy
        bytes32 method; // marking method code, e.g. "canary+ak-v1"
        uint64 deliveredRecords;
        uint64 registeredAt;
        address grantor;
        address recordedBy; // the grantor, or the dataset's gateway that delivered the copy
    }

    struct Incident {
        bytes32 datasetId;
        bytes32 evidenceHash;
        address reporter;
        IncidentStatus status;
        uint64 reportedAt;
        uint64 updatedAt;
        uint32 findingCount;
        uint32 suspendedCount;
    }

    struct Finding {
        bytes32 grantId;
        /// Strength of the attribution: -log10(false-attribution probability) * 1000 for the
        /// SDK's binomial tests (12000 means p = 1e-12); other methods document their own scale.
        uint256 score;
        bytes32 method;
        bytes32 detailsHash;
        address auditor;
        uint64 recordedAt;
    }

    bytes32 private constant DATA_GRANTS = bytes32("DataGrants");

    IConsortium public immutable consortium;

    uint256 public incidentCount;
    mapping(uint256 incidentId => Incident) private _incidents;
    mapping(uint256 incidentId => Finding[]) private _findings;
    mapping(uint256 incidentId => bytes32[]) private _suspendedGrants;
    mapping(uint256 incidentId => mapping(bytes32 grantId => bool)) public isSuspendedByIncident;
    mapping(bytes32 datasetId => uint256[]) private _incidentsOfDataset;
    mapping(bytes32 grantId => Delivery[]) private _deliveries;
    mapping(bytes32 grantId => mapping(bytes32 commitment => bool)) public isRegisteredCommitment;

    event DeliveryRegistered(
        bytes32 indexed grantId,
        bytes32 indexed datasetId,
        address indexed grantor,
        uint256 deliveryIndex,
        bytes32 commitment,
        bytes32 method,
        uint64 deliveredRecords,
        address recordedBy
    );
    event IncidentReported(
        uint256 indexed incidentId, bytes32 indexed datasetId, address indexed reporter, bytes32 evidenceHash
    );
    event IncidentStatusChanged(
        uint256 indexed incidentId,
        bytes32 indexed datasetId,
        address indexed auditor,
        IncidentStatus previousStatus,
        IncidentStatus newStatus,
        bytes32 reasonHash
    );
    event FindingRecorded(
        uint256 indexed incidentId,
        bytes32 indexed grantId,
        address indexed auditor,
        bytes32 datasetId,
        uint256 findingIndex,
        uint256 score,
        bytes32 method,
        bytes32 detailsHash
    );
    event ImplicatedGrantSuspended(
        uint256 indexed incidentId, bytes32 indexed grantId, bytes32 indexed datasetId, address auditor
    );

    error NotAuditor(address caller);
    error NotGrantor(bytes32 grantId, address caller);
    error UnknownGrant(bytes32 grantId);
    error UnknownIncident(uint256 incidentId);
    error ZeroDataset();
    error UnknownDataset(bytes32 datasetId);
    error ZeroEvidence();
    error ZeroCommitment(bytes32 grantId);
    error CommitmentAlreadyRegistered(bytes32 grantId, bytes32 commitment);
    error GrantNotOnDataset(bytes32 grantId, bytes32 incidentDataset, bytes32 grantDataset);
    error IncidentClosed(uint256 incidentId, IncidentStatus status);
    error InvalidStatusTransition(uint256 incidentId, IncidentStatus from, IncidentStatus to);
    error NoFindings(uint256 incidentId);
    error NoGrants(uint256 incidentId);
    error GrantAlreadySuspended(uint256 incidentId, bytes32 grantId);
    error DataGrantsNotDeployed();
    error NotAccessLog(address caller);

    constructor(IConsortium consortium_) {
        consortium = consortium_;
    }

    modifier onlyAuditor() {
        if (!consortium.hasRole(msg.sender, Roles.AUDITOR)) revert NotAuditor(msg.sender);
        _;
    }

    // ---------------------------------------------------------------- deliveries

    /// The grant's grantor (still an active GRANTOR agency) commits to the fingerprint it marked a
    /// delivered copy with. Several deliveries per grant; each commitment once per grant. The
    /// grant may be in any state: registration can follow a delivery made while it was active.
    function registerDelivery(bytes32 grantId, bytes32 commitment, bytes32 method, uint64 deliveredRecords)
        external
        returns (uint256 deliveryIndex)
    {
        IDataGrants grants = _dataGrants();
        bytes32 datasetId = grants.datasetOf(grantId);
        if (datasetId == bytes32(0)) revert UnknownGrant(grantId);
        (address grantor,) = grants.partiesOf(grantId);
        if (msg.sender != grantor || !consortium.hasRole(msg.sender, Roles.GRANTOR)) {
            revert NotGrantor(grantId, msg.sender);
        }
        if (isRegisteredCommitment[grantId][commitment]) revert CommitmentAlreadyRegistered(grantId, commitment);
        deliveryIndex = _registerDelivery(grantId, datasetId, grantor, msg.sender, commitment, method, deliveredRecords);
    }

    /// See ILeakRegistry: AccessLog.recordDelivery checked that `gateway` is the dataset's
    /// designated gateway and counted the delivery against the grant. Marks depend on the grant
    /// and the rows only, so the same request answered twice is the same copy with the same
    /// commitment: each delivery is registered, a repeated commitment too.
    function registerGatewayDelivery(
        bytes32 grantId,
        bytes32 commitment,
        bytes32 method,
        uint64 deliveredRecords,
        address gateway
    ) external returns (uint256 deliveryIndex) {
        if (msg.sender != consortium.systemContract(bytes32("AccessLog"))) revert NotAccessLog(msg.sender);
        IDataGrants grants = _dataGrants();
        (address grantor,) = grants.partiesOf(grantId);
        deliveryIndex = _registerDelivery(
            grantId, grants.datasetOf(grantId), grantor, gateway, commitment, method, deliveredRecords
        );
    }

    // ---------------------------------------------------------------- incidents

    /// An auditor reports a leak of `datasetId`; `evidenceHash` is the hash of the leaked copy
    /// (or of the evidence bundle), which stays off chain.
    function reportIncident(bytes32 datasetId, bytes32 evidenceHash) external onlyAuditor returns (uint256 incidentId) {
        if (datasetId == bytes32(0)) revert ZeroDataset();
        if (evidenceHash == bytes32(0)) revert ZeroEvidence();
        if (_dataGrants().datasetOwner(datasetId) == address(0)) revert UnknownDataset(datasetId);
        incidentId = ++incidentCount;
        _incidents[incidentId] = Incident({
            datasetId: datasetId,
            evidenceHash: evidenceHash,
            reporter: msg.sender,
            status: IncidentStatus.Open,
            reportedAt: uint64(block.timestamp),
            updatedAt: uint64(block.timestamp),
            findingCount: 0,
            suspendedCount: 0
        });
        _incidentsOfDataset[datasetId].push(incidentId);
        emit IncidentReported(incidentId, datasetId, msg.sender, evidenceHash);
    }

    /// Moves an incident along its life cycle (see the contract comment); `reasonHash` refers to
    /// the auditor's off-chain note.
    function setIncidentStatus(uint256 incidentId, IncidentStatus newStatus, bytes32 reasonHash)
        external
        onlyAuditor
    {
        Incident storage incident = _openIncident(incidentId);
        IncidentStatus previous = incident.status;
        bool allowed = newStatus == IncidentStatus.Unattributed || newStatus == IncidentStatus.Dismissed
            || newStatus == IncidentStatus.Attributed
            || (newStatus == IncidentStatus.Investigating && previous == IncidentStatus.Open);
        if (!allowed) revert InvalidStatusTransition(incidentId, previous, newStatus);
        if (newStatus == IncidentStatus.Attributed && incident.findingCount == 0) revert NoFindings(incidentId);
        incident.status = newStatus;
        incident.updatedAt = uint64(block.timestamp);
        emit IncidentStatusChanged(incidentId, incident.datasetId, msg.sender, previous, newStatus, reasonHash);
    }

    /// An auditor attributes the incident to a grant on the incident's dataset.
    function recordFinding(uint256 incidentId, bytes32 grantId, uint256 score, bytes32 method, bytes32 detailsHash)
        external
        onlyAuditor
        returns (uint256 findingIndex)
    {
        Incident storage incident = _openIncident(incidentId);
        bytes32 datasetId = _checkGrantOnDataset(_dataGrants(), incident.datasetId, grantId);
        Finding[] storage findings = _findings[incidentId];
        findingIndex = findings.length;
        findings.push(
            Finding({
                grantId: grantId,
                score: score,
                method: method,
                detailsHash: detailsHash,
                auditor: msg.sender,
                recordedAt: uint64(block.timestamp)
            })
        );
        incident.findingCount += 1;
        incident.updatedAt = uint64(block.timestamp);
        emit FindingRecorded(incidentId, grantId, msg.sender, datasetId, findingIndex, score, method, detailsHash);
    }

    /// An auditor suspends grants implicated in an incident, all on the incident's dataset,
    /// through DataGrants.suspendForIncident. All or nothing: if DataGrants refuses one grant
    /// (for example one already revoked), the whole call reverts with DataGrants' error.
    function suspendImplicatedGrants(uint256 incidentId, bytes32[] calldata grantIds) external onlyAuditor {
        Incident storage incident = _openIncident(incidentId);
        if (grantIds.length == 0) revert NoGrants(incidentId);
        IDataGrants grants = _dataGrants();
        bytes32 datasetId = incident.datasetId;
        for (uint256 i = 0; i < grantIds.length; ++i) {
            bytes32 grantId = grantIds[i];
            _checkGrantOnDataset(grants, datasetId, grantId);
            if (isSuspendedByIncident[incidentId][grantId]) revert GrantAlreadySuspended(incidentId, grantId);
            isSuspendedByIncident[incidentId][grantId] = true;
            _suspendedGrants[incidentId].push(grantId);
            grants.suspendForIncident(grantId, bytes32(incidentId));
            emit ImplicatedGrantSuspended(incidentId, grantId, datasetId, msg.sender);
        }
        incident.suspendedCount += uint32(grantIds.length);
        incident.updatedAt = uint64(block.timestamp);
    }

    // ---------------------------------------------------------------- views for auditors

    function getIncident(uint256 incidentId) external view returns (Incident memory) {
        return _existingIncident(incidentId);
    }

    function findingsOf(uint256 incidentId) external view returns (Finding[] memory) {
        _existingIncident(incidentId);
        return _findings[incidentId];
    }

    /// Grants suspended because of an incident, in the order they were suspended.
    function suspendedGrantsOf(uint256 incidentId) external view returns (bytes32[] memory) {
        _existingIncident(incidentId);
        return _suspendedGrants[incidentId];
    }

    function deliveriesOf(bytes32 grantId) external view returns (Delivery[] memory) {
        return _deliveries[grantId];
    }

    function incidentsOfDataset(bytes32 datasetId) external view returns (uint256[] memory) {
        return _incidentsOfDataset[datasetId];
    }

    // ---------------------------------------------------------------- internals

    function _registerDelivery(
        bytes32 grantId,
        bytes32 datasetId,
        address grantor,
        address recordedBy,
        bytes32 commitment,
        bytes32 method,
        uint64 deliveredRecords
    ) private returns (uint256 deliveryIndex) {
        if (commitment == bytes32(0)) revert ZeroCommitment(grantId);
        isRegisteredCommitment[grantId][commitment] = true;
        Delivery[] storage deliveries = _deliveries[grantId];
        deliveryIndex = deliveries.length;
        deliveries.push(
            Delivery({
                commitment: commitment,
                method: method,
                deliveredRecords: deliveredRecords,
                registeredAt: uint64(block.timestamp),
                grantor: grantor,
                recordedBy: recordedBy
            })
        );
        emit DeliveryRegistered(
            grantId, datasetId, grantor, deliveryIndex, commitment, method, deliveredRecords, recordedBy
        );
    }

    function _dataGrants() private view returns (IDataGrants grants) {
        grants = IDataGrants(consortium.systemContract(DATA_GRANTS));
        if (address(grants) == address(0)) revert DataGrantsNotDeployed();
    }

    function _checkGrantOnDataset(IDataGrants grants, bytes32 datasetId, bytes32 grantId)
        private
        view
        returns (bytes32)
    {
        bytes32 grantDataset = grants.datasetOf(grantId);
        if (grantDataset == bytes32(0)) revert UnknownGrant(grantId);
        if (grantDataset != datasetId) revert GrantNotOnDataset(grantId, datasetId, grantDataset);
        return grantDataset;
    }

    function _existingIncident(uint256 incidentId) private view returns (Incident storage incident) {
        incident = _incidents[incidentId];
        if (incident.status == IncidentStatus.None) revert UnknownIncident(incidentId);
    }

    function _openIncident(uint256 incidentId) private view returns (Incident storage incident) {
        incident = _existingIncident(incidentId);
        if (incident.status != IncidentStatus.Open && incident.status != IncidentStatus.Investigating) {
            revert IncidentClosed(incidentId, incident.status);
        }
    }
}
