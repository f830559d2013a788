// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

// Mining-context types and the interfaces between Flow, market and reward pool. Names match
// abi/Flow.json (internalType `struct MineContext`, `contract IDigestHistory`, ...).

/// The state miners work against during one epoch.
struct MineContext {
    uint256 epoch;
    uint256 mineStart;
    bytes32 flowRoot;
    uint256 flowLength;
    bytes32 blockDigest;
    bytes32 digest;
}

/// The flow positions [start, end) appended during one epoch.
struct EpochRange {
    uint128 start;
    uint128 end;
}

struct EpochRangeWithContextDigest {
    uint128 start;
    uint128 end;
    bytes32 digest;
}

/// A ring of recent flow roots; optional on the devnet (Flow.rootHistory() may be zero).
interface IDigestHistory {
    function insert(bytes32 digest) external returns (uint256 index);

    function available(bytes32 digest) external view returns (bool);
}

/// What Flow needs from its market.
interface IMarket {
    function pricePerSector() external view returns (uint256);

    function chargeFee(uint256 beforeLength, uint256 uploadSectors, uint256 paddingSectors) external;
}

/// A storage reward pool that takes the fee for a range of flow sectors.
interface IReward {
    function fillReward(uint256 beforeLength, uint256 chargedSectors) external payable;
}
