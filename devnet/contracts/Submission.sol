// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

// Types and rules of a 0G Storage submission (specs/zg-storage.md, section 2).
// The structs live at file level on purpose: solc then names them `struct SubmissionNode` (not
// `struct Flow.SubmissionNode`) in the ABI's internalType, exactly as in abi/Flow.json.

/// One balanced merkle subtree of the file: `2^height` sectors under `root`.
struct SubmissionNode {
    bytes32 root;
    uint256 height;
}

/// What a user submits: the file size in bytes, opaque tags and the subtree roots.
struct SubmissionData {
    uint256 length;
    bytes tags;
    SubmissionNode[] nodes;
}

/// A submission on behalf of `submitter`, who is named in the Submit event.
struct Submission {
    SubmissionData data;
    address submitter;
}

library SubmissionLib {
    uint256 internal constant SECTOR_BYTES = 256;
    /// Heights must stay below 64 so that every `1 << height` is a sane sector count.
    uint256 internal constant MAX_HEIGHT = 64;
    /// A flow-padded file decomposes into at most 4 subtrees whose heights differ by less than 4.
    uint256 internal constant MAX_HEIGHT_SPAN = 4;
    /// Below 16 sectors the SDKs never pad, so any shorter capacity is "too much padding".
    uint256 internal constant SMALL_CAPACITY = 16;

    /// Padded size in sectors: what the fee is charged on.
    function sectors(SubmissionData memory data) internal pure returns (uint256 total) {
        for (uint256 i = 0; i < data.nodes.length; ++i) {
            total += 1 << data.nodes[i].height;
        }
    }

    /// True when the node list is well formed and `length` needs all of it (no excess padding).
    function isValid(Submission memory submission) internal pure returns (bool) {
        SubmissionNode[] memory nodes = submission.data.nodes;
        if (submission.submitter == address(0) || nodes.length == 0) {
            return false;
        }
        uint256 first = nodes[0].height;
        if (first >= MAX_HEIGHT) {
            return false;
        }
        // Checked before the span so that rising heights are an invalid submission, not an
        // arithmetic panic.
        for (uint256 i = 1; i < nodes.length; ++i) {
            if (nodes[i].height >= nodes[i - 1].height) {
                return false;
            }
        }
        if (first - nodes[nodes.length - 1].height >= MAX_HEIGHT_SPAN) {
            return false;
        }
        uint256 capacity = sectors(submission.data);
        uint256 length = submission.data.length;
        if (length > capacity * SECTOR_BYTES) {
            return false;
        }
        return length > _largestSmallerCapacity(capacity, nodes.length, first) * SECTOR_BYTES;
    }

    /// The capacity the SDKs would have chosen for the next smaller file size class: a file
    /// that fits in it was padded more than the flow padding rule allows.
    function _largestSmallerCapacity(uint256 capacity, uint256 nodeCount, uint256 firstHeight)
        private
        pure
        returns (uint256)
    {
        if (capacity < SMALL_CAPACITY) {
            return capacity - 1;
        }
        if (nodeCount == 1) {
            return capacity - capacity / 16;
        }
        return capacity - (1 << (firstHeight - 3));
    }

    /// The submission's identity: keccak256 over the packed node roots.
    function identity(SubmissionData memory data) internal pure returns (bytes32) {
        bytes32[] memory roots = new bytes32[](data.nodes.length);
        for (uint256 i = 0; i < data.nodes.length; ++i) {
            roots[i] = data.nodes[i].root;
        }
        return keccak256(abi.encodePacked(roots));
    }
}
