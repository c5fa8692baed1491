// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// RFC 9162 (Certificate Transparency v2) Merkle tree consistency proofs, §2.1.4.2.
/// Leaves are SHA-256(0x00 || entry), interior nodes SHA-256(0x01 || left || right); this library
/// only combines nodes, so it never sees entries.
library MerkleConsistency {
    /// True if `proof` shows that the tree of `oldSize` leaves with root `oldRoot` is a prefix of
    /// the tree of `newSize` leaves with root `newRoot`. Never reverts: a proof that does not fit
    /// (wrong length, wrong sizes, garbage nodes) is simply not valid. A proof from the empty tree
    /// proves nothing and is refused; equal sizes need an empty proof and equal roots.
    function verify(uint256 oldSize, uint256 newSize, bytes32 oldRoot, bytes32 newRoot, bytes32[] calldata proof)
        internal
        pure
        returns (bool)
    {
        if (oldSize == 0 || oldSize > newSize) return false;
        if (oldSize == newSize) return proof.length == 0 && oldRoot == newRoot;
        if (proof.length == 0) return false;

        // When the old tree is a complete subtree its root is the first node of the path (step 2).
        uint256 next = 0;
        bytes32 fr;
        if (oldSize & (oldSize - 1) == 0) {
            fr = oldRoot;
        } else {
            fr = proof[0];
            next = 1;
        }
        bytes32 sr = fr;
        uint256 fn = oldSize - 1;
        uint256 sn = newSize - 1;
        while (fn & 1 == 1) {
            fn >>= 1;
            sn >>= 1;
        }
        for (; next < proof.length; ++next) {
            if (sn == 0) return false;
            bytes32 c = proof[next];
            if (fn & 1 == 1 || fn == sn) {
                fr = nodeHash(c, fr);
                sr = nodeHash(c, sr);
                while (fn != 0 && fn & 1 == 0) {
                    fn >>= 1;
                    sn >>= 1;
                }
            } else {
                sr = nodeHash(sr, c);
            }
            fn >>= 1;
            sn >>= 1;
        }
        return sn == 0 && fr == oldRoot && sr == newRoot;
    }

    function nodeHash(bytes32 left, bytes32 right) internal pure returns (bytes32) {
        return sha256(abi.encodePacked(bytes1(0x01), left, right));
    }
}
