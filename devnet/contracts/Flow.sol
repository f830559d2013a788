// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Initializable} from "@openzeppelin/contracts/proxy/utils/Initializable.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {EnumerableRoles} from "./EnumerableRoles.sol";
import {FlowTree, FlowTreeLib} from "./FlowTree.sol";
import {
    EpochRange, EpochRangeWithContextDigest, IDigestHistory, IMarket, MineContext
} from "./Interfaces.sol";
import {Submission, SubmissionData, SubmissionLib} from "./Submission.sol";

/// The 0G Storage log contract for the devnet, with the ABI of 0G's FixedPriceFlow
/// (abi/Flow.json) and the submission, fee and placement rules of specs/zg-storage.md section 2.
/// Storage nodes learn about files from its Submit events.
contract Flow is EnumerableRoles, Pausable, Initializable {
    using FlowTreeLib for FlowTree;
    using SubmissionLib for Submission;
    using SubmissionLib for SubmissionData;

    bytes32 public constant PAUSER_ROLE = keccak256("PAUSER_ROLE");

    /// Placeholder digest for epochs whose block hash can no longer be read.
    bytes32 private constant EMPTY_HASH = keccak256("");
    /// blockhash() only sees the last 256 blocks.
    uint256 private constant BLOCKHASH_WINDOW = 256;
    /// A submission catches up at most this many overdue epochs, so its gas stays bounded even on
    /// a devnet left running for days; makeContext() catches up fully.
    uint256 private constant MAX_EPOCHS_PER_SUBMISSION = 16;

    /// Blocks between initialize() and the first accepted submission.
    uint256 public immutable deployDelay;

    address payable public market;
    IDigestHistory public rootHistory;
    uint256 public blocksPerEpoch;
    uint256 public firstBlock;
    /// The next submission's index (tx seq), which is also the number of submissions so far.
    uint256 public submissionIndex;
    uint256 public epoch;
    uint256 public epochStartPosition;

    FlowTree private _tree;
    MineContext private _context;
    mapping(bytes32 digest => EpochRange) private _epochRanges;
    EpochRangeWithContextDigest[] private _epochRangeHistory;
    mapping(uint256 txSeq => bytes32) private _rootByTxSeq;

    error InvalidSubmission();
    error NotEnoughFee(uint256 price, uint256 amount, uint256 paid);

    event Submit(
        address indexed sender,
        bytes32 indexed identity,
        uint256 submissionIndex,
        uint256 startPos,
        uint256 length,
        SubmissionData submission
    );
    event NewEpoch(
        address indexed sender,
        uint256 indexed index,
        bytes32 startMerkleRoot,
        uint256 submissionIndex,
        uint256 flowLength,
        bytes32 context
    );

    modifier launched() {
        require(block.number >= firstBlock, "Flow: not launched yet");
        _;
    }

    constructor(uint256 deployDelay_) {
        deployDelay = deployDelay_;
    }

    function initialize(address market_, uint256 blocksPerEpoch_) public initializer {
        require(blocksPerEpoch_ > 0, "Flow: blocksPerEpoch must be positive");
        market = payable(market_);
        blocksPerEpoch = blocksPerEpoch_;
        firstBlock = block.number + deployDelay;
        _tree.initialize();
        _context = MineContext({
            epoch: 0,
            mineStart: firstBlock,
            flowRoot: _tree.root(),
            flowLength: 1,
            blockDigest: EMPTY_HASH,
            digest: EMPTY_HASH
        });
        _grantRole(DEFAULT_ADMIN_ROLE, msg.sender);
        _grantRole(PAUSER_ROLE, msg.sender);
    }

    /// Admin knob for the epoch schedule and the root history; a zero argument keeps the value.
    function setParams(uint256 blocksPerEpoch_, uint256 firstBlock_, address rootHistory_)
        external
        onlyRole(DEFAULT_ADMIN_ROLE)
    {
        if (blocksPerEpoch_ != 0) blocksPerEpoch = blocksPerEpoch_;
        if (firstBlock_ != 0) firstBlock = firstBlock_;
        if (rootHistory_ != address(0)) rootHistory = IDigestHistory(rootHistory_);
    }

    function pause() external onlyRole(PAUSER_ROLE) {
        _pause();
    }

    function unpause() external onlyRole(PAUSER_ROLE) {
        _unpause();
    }

    /*=== submissions ===*/

    function submit(Submission memory submission)
        public
        payable
        whenNotPaused
        launched
        returns (uint256 index, bytes32 digest, uint256 startIndex, uint256 length)
    {
        if (!submission.isValid()) revert InvalidSubmission();
        length = submission.data.sectors();
        _collectFee(length);
        _advanceEpochs(MAX_EPOCHS_PER_SUBMISSION);

        uint256 before = _tree.length;
        startIndex = _tree.placement(submission.data.nodes[0].height, length);
        _tree.padTo(startIndex);
        for (uint256 i = 0; i < submission.data.nodes.length; ++i) {
            _tree.insert(submission.data.nodes[i].root, submission.data.nodes[i].height);
        }
        IMarket(market).chargeFee(before, length, startIndex - before);

        digest = submission.data.identity();
        index = submissionIndex++;
        _rootByTxSeq[index] = _tree.root();
        emit Submit(submission.submitter, digest, index, startIndex, length, submission.data);
    }

    function batchSubmit(Submission[] memory submissions)
        public
        payable
        returns (
            uint256[] memory indexes,
            bytes32[] memory digests,
            uint256[] memory startIndexes,
            uint256[] memory lengths
        )
    {
        uint256 count = submissions.length;
        indexes = new uint256[](count);
        digests = new bytes32[](count);
        startIndexes = new uint256[](count);
        lengths = new uint256[](count);
        for (uint256 i = 0; i < count; ++i) {
            (indexes[i], digests[i], startIndexes[i], lengths[i]) = submit(submissions[i]);
        }
    }

    /// Sends exactly the fee to the market. As in 0G's FixedPriceFlow the fee is checked against
    /// this contract's whole balance (msg.value plus overpayments earlier submissions left here),
    /// and `paid` in NotEnoughFee is that balance.
    function _collectFee(uint256 sectors) private {
        uint256 price = IMarket(market).pricePerSector();
        uint256 fee = sectors * price;
        if (fee > address(this).balance) {
            revert NotEnoughFee(price, sectors, address(this).balance);
        }
        (bool sent,) = market.call{value: fee}("");
        require(sent, "Flow: market refused the fee");
    }

    /*=== flow tree ===*/

    /// (flow length in sectors, tree height + 1). Every level is committed after each
    /// submission, so the second value is what the real contract reports after one.
    function tree() public view returns (uint256 currentLength, uint256 unstagedHeight) {
        currentLength = _tree.length;
        unstagedHeight = FlowTreeLib.treeHeight(currentLength) + 1;
    }

    /// Nonpayable in the real ABI, where it commits lazily hashed levels first; here the tree is
    /// always committed, so it only reads (solc's "can be view" warning is expected).
    function computeFlowRoot() public returns (bytes32) {
        return _tree.root();
    }

    /// Flow root right after submission `txSeq` (zero for unknown sequence numbers).
    function getFlowRootByTxSeq(uint256 txSeq) public view returns (bytes32) {
        return _rootByTxSeq[txSeq];
    }

    function numSubmissions() external view returns (uint256) {
        return submissionIndex;
    }

    /*=== mining epochs ===*/

    function getContext() public view returns (MineContext memory) {
        return _context;
    }

    function getEpochRange(bytes32 digest) public view returns (EpochRange memory) {
        return _epochRanges[digest];
    }

    function getEpochRangeHistory(uint256 index) public view returns (EpochRangeWithContextDigest memory) {
        require(index < _epochRangeHistory.length, "Flow: no such epoch range");
        return _epochRangeHistory[index];
    }

    function makeContext() public launched whenNotPaused {
        _advanceEpochs(type(uint256).max);
    }

    function makeContextFixedTimes(uint256 cnt) public launched whenNotPaused {
        _advanceEpochs(cnt);
    }

    function makeContextWithResult() external launched whenNotPaused returns (MineContext memory) {
        _advanceEpochs(type(uint256).max);
        return _context;
    }

    /// The epoch range that holds flow position `targetPosition`, after catching up on epochs.
    function queryContextAtPosition(uint128 targetPosition)
        external
        returns (EpochRangeWithContextDigest memory range)
    {
        makeContext();
        require(targetPosition < _tree.length, "Flow: position beyond the flow");
        // Ranges are contiguous and sorted by position: binary search.
        uint256 low = 0;
        uint256 high = _epochRangeHistory.length;
        while (low < high) {
            uint256 mid = (low + high) / 2;
            range = _epochRangeHistory[mid];
            if (targetPosition >= range.end) {
                low = mid + 1;
            } else if (targetPosition >= range.start) {
                return range;
            } else {
                high = mid;
            }
        }
        revert("Flow: no epoch holds this position yet");
    }

    /// Closes up to `limit` epochs whose last block has passed. An epoch closed within the
    /// blockhash window records its range of flow positions under a digest of (block hash,
    /// flow root, flow length); one closed later gets the empty digest and no range, so its
    /// positions roll into the next recorded range.
    function _advanceEpochs(uint256 limit) private {
        for (uint256 done = 0; done < limit; ++done) {
            uint256 epochEnd = firstBlock + (epoch + 1) * blocksPerEpoch;
            if (epochEnd >= block.number) {
                return;
            }
            uint256 length = _tree.length;
            bytes32 flowRoot = _tree.root();
            if (address(rootHistory) != address(0)) {
                rootHistory.insert(flowRoot);
            }
            bytes32 blockDigest = EMPTY_HASH;
            bytes32 digest = EMPTY_HASH;
            if (block.number - epochEnd <= BLOCKHASH_WINDOW) {
                blockDigest = blockhash(epochEnd);
                digest = keccak256(abi.encode(blockDigest, flowRoot, length));
                uint128 start = uint128(epochStartPosition);
                _epochRanges[digest] = EpochRange({start: start, end: uint128(length)});
                _epochRangeHistory.push(
                    EpochRangeWithContextDigest({start: start, end: uint128(length), digest: digest})
                );
                epochStartPosition = length;
            }
            epoch += 1;
            _context = MineContext({
                epoch: epoch,
                mineStart: epochEnd,
                flowRoot: flowRoot,
                flowLength: length,
                blockDigest: blockDigest,
                digest: digest
            });
            emit NewEpoch(msg.sender, epoch, flowRoot, submissionIndex, length, digest);
        }
    }
}
