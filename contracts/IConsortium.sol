// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// Agency roles, as bits of a uint8. An agency may hold several.
library Roles {
    uint8 internal constant GRANTOR = 1; // owns datasets, offers and revokes grants
    uint8 internal constant GRANTEE = 2; // accepts grants and uses them
    uint8 internal constant AUDITOR = 4; // suspends grants, registers incidents and findings (granted by vote)
    uint8 internal constant ALLOCATOR = 8; // files resource requests and confirms receipts for its city
    uint8 internal constant GATEWAY = 16; // a data gateway: records the deliveries of datasets designated to it
    uint8 internal constant ALL = 31;
}

/// What every other system contract asks the Consortium: who is a member city, who is an
/// agency with which roles, and where the other system contracts live.
interface IConsortium {
    /// True for a city that is currently a member.
    function isActiveCity(bytes32 cityId) external view returns (bool);

    /// The admin account of a city (zero if the city is unknown).
    function cityAdmin(bytes32 cityId) external view returns (address);

    /// The city whose admin `account` is, or zero. Only active cities count.
    function adminCity(address account) external view returns (bytes32);

    /// The city of an active agency in an active city, or zero.
    function cityOfAgency(address agency) external view returns (bytes32);

    /// True if `agency` is active, its city is a member, and it holds every bit of `role`.
    function hasRole(address agency, uint8 role) external view returns (bool);

    /// Number of member cities.
    function memberCount() external view returns (uint256);

    /// Ids of the member cities, in admission order.
    function memberCities() external view returns (bytes32[] memory);

    /// Address of a system contract by name ("DataGrants", "AccessLog", ...), or zero.
    function systemContract(bytes32 name) external view returns (address);

    /// A consortium rule (for example "VOTING_PERIOD"), zero if unset.
    function rule(bytes32 key) external view returns (uint256);

    /// Transaction permissioning: city admins and active agencies may send transactions.
    function isPermittedSender(address account) external view returns (bool);

    /// Validator addresses of the member cities, in admission order.
    function getValidators() external view returns (address[] memory);
}
