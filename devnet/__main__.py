"""python -m devnet: start the local 0G network, print where it is, run until SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from devnet.chain import (
    DEFAULT_BLOCKS_PER_EPOCH,
    DEFAULT_LOCK_TIME,
    DEFAULT_PRICE_PER_SECTOR,
    Devnet,
    DevnetConfig,
)
from devnet.paths import DEFAULT_STATE_PATH
from devnet.services import DevnetService, default_services
from devnet.wallets import A0GI


def _parse(argv: list[str]) -> tuple[DevnetConfig, list[DevnetService]]:
    parser = argparse.ArgumentParser(prog="python -m devnet", description=__doc__)
    parser.add_argument("--state", type=Path, default=DEFAULT_STATE_PATH, help="state JSON path")
    parser.add_argument("--port", type=int, default=None, help="RPC port (default: a free one)")
    parser.add_argument("--wallets", type=int, default=10, help="funded test wallets")
    parser.add_argument("--wallet-balance", type=int, default=10_000, help="A0GI per wallet")
    parser.add_argument("--block-time", type=float, default=None, help="seconds per block")
    parser.add_argument("--price-per-sector", type=int, default=DEFAULT_PRICE_PER_SECTOR)
    parser.add_argument("--lock-time", type=int, default=DEFAULT_LOCK_TIME)
    parser.add_argument("--blocks-per-epoch", type=int, default=DEFAULT_BLOCKS_PER_EPOCH)
    parser.add_argument("--providers", type=int, default=2, help="devnet providers to start")
    parser.add_argument("--host", default="127.0.0.1", help="bind address of every service")
    parser.add_argument(
        "--advertise-host",
        default=None,
        help="host name in the URLs of the state file and on chain (default: --host)",
    )
    parser.add_argument("--provider-base-port", type=int, default=0, help="provider i: N+i")
    parser.add_argument("--storage-port", type=int, default=0, help="storage node JSON-RPC")
    parser.add_argument("--indexer-port", type=int, default=0, help="storage indexer")
    args = parser.parse_args(argv)
    if args.host in ("0.0.0.0", "::") and args.advertise_host is None:
        parser.error("--host binds every interface: name the host clients use, --advertise-host")
    config = DevnetConfig(
        state_path=args.state.resolve(),
        port=args.port,
        wallet_count=args.wallets,
        wallet_balance=args.wallet_balance * A0GI,
        block_time=args.block_time,
        price_per_sector=args.price_per_sector,
        lock_time=args.lock_time,
        blocks_per_epoch=args.blocks_per_epoch,
        host=args.host,
        advertise_host=args.advertise_host,
    )
    services = default_services(
        providers=args.providers,
        host=args.host,
        advertise_host=args.advertise_host,
        provider_base_port=args.provider_base_port,
        storage_port=args.storage_port,
        indexer_port=args.indexer_port,
    )
    return config, services


def _report(net: Devnet) -> str:
    state, t = net.state, net.timings
    c = state.contracts
    lines = [
        f"devnet ready in {t.total:.2f} s "
        f"(compile {t.compile:.2f}, anvil {t.anvil:.2f}, deploy {t.deploy:.2f}, "
        f"services {t.services:.2f})",
        f"  rpc               {state.rpc_url}  (chain id {state.chain_id})",
        f"  LedgerManager     {c.ledger_manager}",
        f"  InferenceServing  {c.inference_serving}  (service {state.inference_service_name})",
        f"  Flow              {c.flow}",
        f"  FixedPriceMarket  {c.fixed_price_market}  ({state.price_per_sector} neuron/sector)",
        f"  deployer / owner  {state.deployer.address}",
        f"  wallets           {len(state.wallets)} x {state.wallet_balance // A0GI} A0GI",
        *(f"  service {name}: {info}" for name, info in state.services.items()),
        f"  state file        {net.config.state_path}",
        "Ctrl-C or SIGTERM stops it.",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    config, services = _parse(sys.argv[1:] if argv is None else argv)
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    # Installed before launching, so a signal during start-up still ends in a clean stop.
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, request_stop)
    with Devnet.start(config, services) as net:
        print(_report(net), flush=True)
        while not stop.wait(1.0):
            if not net.anvil.alive():
                print("anvil exited unexpectedly", file=sys.stderr)
                return 1
    print("devnet stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
