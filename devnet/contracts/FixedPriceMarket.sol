// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Initializable} from "@openzeppelin/contracts/proxy/utils/Initializable.sol";
import {EnumerableRoles} from "./EnumerableRoles.sol";
import {IReward} from "./Interfaces.sol";

/// The storage market for the devnet: a fixed price per 256-byte sector, with the ABI of 0G's
/// FixedPriceMarket (abi/FixedPriceMarket.json). Flow sends the fee of each submission here and
/// then calls chargeFee; with no reward pool configured (the devnet default) the fees stay here.
contract FixedPriceMarket is EnumerableRoles, Initializable {
    bytes32 public constant PARAMS_ADMIN_ROLE = keccak256("PARAMS_ADMIN_ROLE");

    uint256 public pricePerSector;
    address public flow;
    address public reward;

    /// Fees received and already accounted for by chargeFee. Every charge must be backed by
    /// value received beyond this, so a Flow that forgets to pay is caught.
    uint256 private _charged;

    function initialize(uint256 pricePerSector_, address flow_, address reward_) public initializer {
        pricePerSector = pricePerSector_;
        flow = flow_;
        reward = reward_;
        _grantRole(DEFAULT_ADMIN_ROLE, msg.sender);
        _grantRole(PARAMS_ADMIN_ROLE, msg.sender);
    }

    function setPricePerSector(uint256 pricePerSector_) external onlyRole(PARAMS_ADMIN_ROLE) {
        pricePerSector = pricePerSector_;
    }

    /// Books the fee of `uploadSectors` placed after `paddingSectors` of alignment padding, which
    /// start at flow position `beforeLength`. Padding is free for the user; a reward pool, if
    /// any, gets the fee split between the padding and the upload ranges by sector count.
    function chargeFee(uint256 beforeLength, uint256 uploadSectors, uint256 paddingSectors) external {
        require(msg.sender == flow, "FixedPriceMarket: caller is not the flow");
        uint256 fee = uploadSectors * pricePerSector;
        require(address(this).balance >= _charged + fee, "FixedPriceMarket: fee not received");

        if (reward == address(0)) {
            _charged += fee;
            return;
        }
        uint256 paddingPart = (fee * paddingSectors) / (uploadSectors + paddingSectors);
        if (paddingPart > 0) {
            IReward(reward).fillReward{value: paddingPart}(beforeLength, paddingSectors);
        }
        IReward(reward).fillReward{value: fee - paddingPart}(beforeLength + paddingSectors, uploadSectors);
    }

    receive() external payable {}
}
