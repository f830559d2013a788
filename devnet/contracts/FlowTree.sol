// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// The flow: one append-only merkle tree over 256-byte sectors, into which every submission's
/// subtrees are placed at aligned positions. Sector 0 is a zero word (the flow starts at length 1)
/// and every gap left by alignment is zero sectors, hashed as keccak256 of 256 zero bytes.
struct FlowTree {
    uint256 length;
    // frontier[k] is the root of the complete, aligned block of 2^k sectors that bit k of
    // `length` stands for; entries for clear bits are stale and never read.
    mapping(uint256 => bytes32) frontier;
}

library FlowTreeLib {
    /// keccak256 of one all-zero 256-byte sector: the leaf of every padding sector.
    bytes32 internal constant ZERO_SECTOR =
        0xd397b3b043d87fcd6fad1291ff0bfd16401c274896d8c63a923727f077b8e0b5;
    uint256 internal constant SECTORS_PER_SEGMENT = 1024;

    function initialize(FlowTree storage tree) internal {
        tree.frontier[0] = bytes32(0);
        tree.length = 1;
    }

    /// Where a file of `sectors` sectors whose first subtree has height `firstHeight` starts:
    /// aligned to its first subtree, and moved to the next segment rather than straddle one.
    function placement(FlowTree storage tree, uint256 firstHeight, uint256 sectors)
        internal
        view
        returns (uint256 start)
    {
        start = nextAlign(tree.length, firstHeight);
        uint256 offset = start % SECTORS_PER_SEGMENT;
        if (offset != 0 && offset + sectors > SECTORS_PER_SEGMENT) {
            start += SECTORS_PER_SEGMENT - offset;
        }
    }

    /// Appends zero sectors up to `target`, as aligned zero blocks so the frontier stays exact.
    function padTo(FlowTree storage tree, uint256 target) internal {
        uint256 length = tree.length;
        while (length < target) {
            // The largest block that is aligned at `length` and still fits before `target`.
            uint256 height = _lowestSetBit(length);
            while ((1 << height) > target - length) {
                --height;
            }
            _append(tree, zeroRoot(height), height);
            length = tree.length;
        }
    }

    /// Inserts a subtree of 2^height sectors at the next aligned position; returns that position.
    function insert(FlowTree storage tree, bytes32 root_, uint256 height) internal returns (uint256) {
        uint256 start = nextAlign(tree.length, height);
        padTo(tree, start);
        _append(tree, root_, height);
        return start;
    }

    /// Root over the smallest power-of-two number of sectors holding the flow, zero-filled.
    function root(FlowTree storage tree) internal view returns (bytes32) {
        uint256 length = tree.length;
        uint256 height = treeHeight(length);
        if (length == 1 << height) {
            return tree.frontier[height];
        }
        // Walk up from the first free sector: at each level the block holding it is either a
        // right child (its left sibling is complete: a frontier entry) or a left child (its right
        // sibling is still empty: a zero block).
        bytes32 node = ZERO_SECTOR;
        bytes32 zero = ZERO_SECTOR;
        for (uint256 k = 0; k < height; ++k) {
            if ((length >> k) & 1 == 1) {
                node = _hash(tree.frontier[k], node);
            } else {
                node = _hash(node, zero);
            }
            zero = _hash(zero, zero);
        }
        return node;
    }

    /// log2 of the smallest power of two >= length (0 for length 1).
    function treeHeight(uint256 length) internal pure returns (uint256 height) {
        while ((1 << height) < length) {
            ++height;
        }
    }

    /// Root of 2^height zero sectors.
    function zeroRoot(uint256 height) internal pure returns (bytes32 node) {
        node = ZERO_SECTOR;
        for (uint256 k = 0; k < height; ++k) {
            node = _hash(node, node);
        }
    }

    /// The smallest multiple of 2^exponent that is >= length.
    function nextAlign(uint256 length, uint256 exponent) internal pure returns (uint256) {
        uint256 unit = 1 << exponent;
        return ((length + unit - 1) / unit) * unit;
    }

    /// Adds a block at `tree.length`, which must be a multiple of 2^height: this is binary
    /// addition, and each carry merges a frontier block with the new one.
    function _append(FlowTree storage tree, bytes32 node, uint256 height) private {
        uint256 length = tree.length;
        uint256 k = height;
        while ((length >> k) & 1 == 1) {
            node = _hash(tree.frontier[k], node);
            ++k;
        }
        tree.frontier[k] = node;
        tree.length = length + (1 << height);
    }

    function _lowestSetBit(uint256 value) private pure returns (uint256 bit) {
        while ((value >> bit) & 1 == 0) {
            ++bit;
        }
    }

    function _hash(bytes32 left, bytes32 right) private pure returns (bytes32) {
        return keccak256(abi.encodePacked(left, right));
    }
}
