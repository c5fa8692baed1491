// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// What AccessLog and LeakRegistry need from DataGrants. DataGrants implements it; the callers
/// find DataGrants through IConsortium.systemContract("DataGrants").
interface IDataGrants {
    /// True when the grant is accepted, not revoked or suspended, and now is within its validity.
    function isGrantActive(bytes32 grantId) external view returns (bool);

    /// The agency that registered a dataset (zero if the dataset is unknown).
    function datasetOwner(bytes32 datasetId) external view returns (address);

    /// The gateway agency the dataset's owner designated to serve it and record its deliveries
    /// (zero if none).
    function datasetGateway(bytes32 datasetId) external view returns (address);

    /// The dataset a grant covers (zero if the grant is unknown).
    function datasetOf(bytes32 grantId) external view returns (bytes32);

    /// The two agencies of a grant (zeros if unknown).
    function partiesOf(bytes32 grantId) external view returns (address grantor, address grantee);

    /// Counts one access against the grant's quota after checking that `accessor` is the grantee,
    /// the grant is active, `fieldsMask` lies within the grant's field scope and quota remains.
    /// Reverts with DataGrants' custom errors otherwise. Only AccessLog may call it.
    /// Returns the number of accesses used so far, this one included.
    function consumeAccess(bytes32 grantId, address accessor, uint256 fieldsMask)
        external
        returns (uint32 accessesUsed);

    /// Suspends a grant because of a leak incident. Only LeakRegistry may call it (on behalf of
    /// an auditor); an auditor can also suspend directly through DataGrants.
    function suspendForIncident(bytes32 grantId, bytes32 incidentId) external;
}
