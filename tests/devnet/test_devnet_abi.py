"""Our Flow and FixedPriceMarket have exactly the real ABIs (shared abi/Flow.json and co.)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import cast

import pytest
from eth_typing import ABI, ABIElement, ABIEvent
from eth_utils.abi import (
    abi_to_signature,
    event_abi_to_log_topic,
    function_signature_to_4byte_selector,
)

from devnet.build import ensure_built
from devnet.contracts import ContractName, load_abi, load_artifact
from devnet.paths import ABI_DIR, REPO_ROOT

OURS: list[ContractName] = ["Flow", "FixedPriceMarket"]
# The shared design documents sit next to the repository (../shared) on developer machines and
# in CI; a bare clone elsewhere still checks compiled == the committed copies in devnet/abi.
SHARED_ABI_DIR = REPO_ROOT.parent / "shared" / "abi"


def _read(path: Path) -> ABI:
    return cast(ABI, json.loads(path.read_text()))


def _entries(abi: ABI) -> dict[str, ABIElement]:
    """Entries keyed by kind and signature: selectors and topics come from the signature."""
    keyed: dict[str, ABIElement] = {}
    for entry in abi:
        kind = entry["type"]
        key = f"{kind} {abi_to_signature(entry)}" if "name" in entry else kind
        assert key not in keyed, f"duplicate ABI entry {key}"
        keyed[key] = entry
    return keyed


def _assert_same_abi(actual: ABI, expected: ABI) -> None:
    mine, theirs = _entries(actual), _entries(expected)
    assert sorted(mine) == sorted(theirs), (
        f"missing: {sorted(set(theirs) - set(mine))}, extra: {sorted(set(mine) - set(theirs))}"
    )
    for key, entry in theirs.items():
        # Whole entries: names, types, internal types, indexed flags, mutability, outputs.
        assert json.dumps(mine[key], sort_keys=True) == json.dumps(entry, sort_keys=True), key
        if entry["type"] in ("function", "error"):
            selector = function_signature_to_4byte_selector(abi_to_signature(entry))
            assert function_signature_to_4byte_selector(abi_to_signature(mine[key])) == selector
        if entry["type"] == "event":
            topic = event_abi_to_log_topic(entry)
            assert event_abi_to_log_topic(cast(ABIEvent, mine[key])) == topic


@pytest.fixture(scope="module", autouse=True)
def built() -> None:
    ensure_built()


@pytest.mark.parametrize("name", OURS)
def test_compiled_abi_equals_the_committed_real_abi(name: ContractName) -> None:
    _assert_same_abi(load_artifact(name).abi, _read(ABI_DIR / f"{name}.json"))


@pytest.mark.parametrize("name", [*OURS, "LedgerManager", "InferenceServing"])
def test_committed_abis_are_the_shared_ones(name: ContractName) -> None:
    shared = SHARED_ABI_DIR / f"{name}.json"
    if not shared.exists():
        pytest.skip(f"{SHARED_ABI_DIR} not present (bare clone)")
    assert _read(ABI_DIR / f"{name}.json") == _read(shared)


@pytest.mark.parametrize("name", ["LedgerManager", "InferenceServing"])
def test_sdk_bytecode_comes_with_the_real_abi(name: ContractName) -> None:
    assert load_artifact(name).abi == load_abi(name)


def test_selectors_and_topics_from_the_spec() -> None:
    flow = _entries(load_artifact("Flow").abi)
    market = _entries(load_artifact("FixedPriceMarket").abi)

    def selector(entries: dict[str, ABIElement], key: str) -> str:
        return "0x" + function_signature_to_4byte_selector(abi_to_signature(entries[key])).hex()

    submission = "(((uint256,bytes,(bytes32,uint256)[]),address))"
    assert selector(flow, f"function submit{submission}") == "0xbc8c11f8"
    batch = "(((uint256,bytes,(bytes32,uint256)[]),address)[])"
    assert selector(flow, f"function batchSubmit{batch}") == "0x49aa3395"
    assert selector(flow, "error InvalidSubmission()") == "0xf956cee4"
    assert selector(flow, "error NotEnoughFee(uint256,uint256,uint256)") == "0xf85c6482"
    assert selector(market, "function pricePerSector()") == "0x61ec5082"
    submit_event = flow[
        "event Submit(address,bytes32,uint256,uint256,uint256,(uint256,bytes,(bytes32,uint256)[]))"
    ]
    topic = event_abi_to_log_topic(cast(ABIEvent, submit_event))
    assert "0x" + topic.hex() == (
        "0x167ce04d2aa1981994d3a31695da0d785373335b1078cec239a1a3a2c7675555"
    )


def test_build_is_cached_by_source_hash() -> None:
    assert ensure_built() == "up to date"
    assert Path(REPO_ROOT / "devnet" / "build" / "manifest.json").exists()
