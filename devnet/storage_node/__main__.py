"""python -m devnet.storage_node node|indexer: one devnet storage node or indexer process."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from devnet.storage_node.indexer import run_indexer_until_signal
from devnet.storage_node.node import MAX_WRITES
from devnet.storage_node.server import NodeConfig, run_until_signal
from zerog_storage import ShardConfig


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devnet.storage_node", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    node = sub.add_parser("node", help="a storage node following one Flow contract")
    node.add_argument("--rpc-url", required=True, help="chain JSON-RPC URL")
    node.add_argument("--flow", required=True, help="Flow contract address")
    node.add_argument("--data-dir", type=Path, required=True, help="where data and metadata live")
    node.add_argument("--shard-id", type=int, default=0)
    node.add_argument("--num-shard", type=int, default=1, help="a power of two")
    node.add_argument("--host", default="127.0.0.1", help="bind address")
    node.add_argument("--advertise-host", help="host name in the announced URLs")
    node.add_argument("--port", type=int, default=0, help="JSON-RPC port (0: a free one)")
    node.add_argument("--admin-port", type=int, default=0, help="admin port (0: a free one)")
    node.add_argument("--confirmations", type=int, default=1, help="blocks before a log counts")
    node.add_argument("--poll-interval", type=float, default=0.1, help="log sync poll, seconds")
    node.add_argument("--max-writes", type=int, default=MAX_WRITES, help="concurrent writes")
    indexer = sub.add_parser("indexer", help="an indexer over trusted nodes")
    indexer.add_argument("--node", action="append", default=[], help="trusted node URL")
    indexer.add_argument("--host", default="127.0.0.1", help="bind address")
    indexer.add_argument("--port", type=int, default=0)
    indexer.add_argument("--advertise-host", help="host name in the announced URL")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    if args.command == "indexer":
        run_indexer_until_signal(args.node, args.host, args.port, args.advertise_host)
        return 0
    try:
        shard = ShardConfig(args.shard_id, args.num_shard)
    except ValueError as e:
        parser.error(str(e))
    run_until_signal(
        NodeConfig(
            rpc_url=args.rpc_url,
            flow_address=args.flow,
            data_dir=args.data_dir,
            shard=shard,
            host=args.host,
            port=args.port,
            admin_port=args.admin_port,
            advertise_host=args.advertise_host,
            confirmations=args.confirmations,
            poll_interval=args.poll_interval,
            max_writes=args.max_writes,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
