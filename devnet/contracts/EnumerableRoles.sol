// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {EnumerableSet} from "@openzeppelin/contracts/utils/structs/EnumerableSet.sol";

/// The role-enumeration interface as the real contracts expose it (getRoleMember and
/// getRoleMemberCount only, interface id 0x5a05180f).
interface IRoleEnumeration {
    function getRoleMember(bytes32 role, uint256 index) external view returns (address);

    function getRoleMemberCount(bytes32 role) external view returns (uint256);
}

/// AccessControl with member enumeration. OpenZeppelin's AccessControlEnumerable is not used
/// because since 5.1 it also exposes getRoleMembers, which is not in the real ABIs.
abstract contract EnumerableRoles is AccessControl, IRoleEnumeration {
    using EnumerableSet for EnumerableSet.AddressSet;

    mapping(bytes32 role => EnumerableSet.AddressSet) private _members;

    function supportsInterface(bytes4 interfaceId) public view virtual override returns (bool) {
        return interfaceId == type(IRoleEnumeration).interfaceId || super.supportsInterface(interfaceId);
    }

    function getRoleMember(bytes32 role, uint256 index) public view returns (address) {
        return _members[role].at(index);
    }

    function getRoleMemberCount(bytes32 role) public view returns (uint256) {
        return _members[role].length();
    }

    function _grantRole(bytes32 role, address account) internal virtual override returns (bool granted) {
        granted = super._grantRole(role, account);
        if (granted) {
            _members[role].add(account);
        }
    }

    function _revokeRole(bytes32 role, address account) internal virtual override returns (bool revoked) {
        revoked = super._revokeRole(role, account);
        if (revoked) {
            _members[role].remove(account);
        }
    }
}
