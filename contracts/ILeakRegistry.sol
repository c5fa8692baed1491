// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// What AccessLog needs from LeakRegistry. LeakRegistry implements it; AccessLog finds it
/// through IConsortium.systemContract("LeakRegistry").
interface ILeakRegistry {
    /// Registers the fingerprint commitment of a copy that `gateway`, the dataset's designated
    /// gateway, delivers under `grantId`. Only AccessLog may call it, inside recordDelivery,
    /// after checking the gateway. Returns the delivery's index in the grant.
    function registerGatewayDelivery(
        bytes32 grantId,
        bytes32 commitment,
        bytes32 method,
        uint64 deliveredRecords,
        address gateway
    ) external returns (uint256 deliveryIndex);
}
