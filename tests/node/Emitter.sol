// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// Test contract for the node: writes storage, emits indexed events, reverts in three ways
/// (a custom error, a reason string, a panic).
contract Emitter {
    mapping(uint256 => uint256) public values;

    event Stored(address indexed sender, uint256 indexed key, uint256 value);
    event Tagged(bytes32 indexed tag);

    error TooLarge(uint256 value, uint256 limit);

    uint256 public constant LIMIT = 1e18;

    function store(uint256 key, uint256 value) external {
        if (value > LIMIT) revert TooLarge(value, LIMIT);
        values[key] = value;
        emit Stored(msg.sender, key, value);
    }

    function tag(bytes32 label) external {
        emit Tagged(label);
    }

    function fail(string calldata reason) external pure {
        revert(reason);
    }

    /// Panics with code 0x12 when `divisor` is zero.
    function divide(uint256 value, uint256 divisor) external pure returns (uint256) {
        return value / divisor;
    }
}
