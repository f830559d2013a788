"""python -m devnet.provider: one devnet provider; prints a JSON ready line, runs until SIGTERM.

Keys come from the environment: PROVIDER_PRIVATE_KEY[_FILE] (the funded provider wallet) and
PROVIDER_TEE_KEY[_FILE] (the TEE signer). The chain comes from --state (a devnet state file)
or --rpc-url / --chain-id / --inference.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
from pathlib import Path

from eth_account import Account

from devnet.provider.knobs import KnobError, Knobs
from devnet.provider.server import ProviderConfig, start
from devnet.state import DevnetState
from zerog_grpc.settings import ConfigError, Env
from zerog_signing import KeyLoadError, LocalSigner


def parse(argv: list[str], environ: dict[str, str]) -> ProviderConfig:
    """ProviderConfig from the command line and the environment; ConfigError if unusable."""
    p = argparse.ArgumentParser(prog="python -m devnet.provider", description=__doc__)
    p.add_argument("--state", type=Path, help="devnet state file (rpc, chain id, contracts)")
    p.add_argument("--rpc-url")
    p.add_argument("--chain-id", type=int)
    p.add_argument("--inference", help="InferenceServing address")
    p.add_argument("--host", default="127.0.0.1", help="bind address")
    p.add_argument("--advertise-host", help="host name in the URL registered on chain")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--model", default="zerog-devnet-echo")
    p.add_argument("--settle-interval", type=float, default=30.0, help="seconds; 0 = on demand")
    p.add_argument("--knobs", default="{}", help="JSON object of knob -> value")
    args = p.parse_args(argv)
    rpc_url, chain_id, inference = args.rpc_url, args.chain_id, args.inference
    if args.state is not None:
        state = DevnetState.load(args.state)
        rpc_url = rpc_url or state.rpc_url
        chain_id = chain_id or state.chain_id
        inference = inference or state.contracts.inference_serving
    if not (rpc_url and chain_id and inference):
        raise ConfigError("need --state, or all of --rpc-url, --chain-id and --inference")
    env = Env(environ)
    try:
        account = Account.from_key(env.secret("PROVIDER_PRIVATE_KEY"))
        tee = LocalSigner.from_hex(env.secret("PROVIDER_TEE_KEY"))
        knobs = Knobs().updated(json.loads(args.knobs))
    except (KeyLoadError, KnobError, ValueError) as e:
        raise ConfigError(str(e)) from None
    return ProviderConfig(
        rpc_url=rpc_url,
        chain_id=chain_id,
        inference=inference,
        account=account,
        tee=tee,
        model=args.model,
        knobs=knobs,
        host=args.host,
        advertise_host=args.advertise_host,
        port=args.port,
        settle_interval=args.settle_interval,
    )


async def run(config: ProviderConfig) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        loop.add_signal_handler(signum, stop.set)
    running = await start(config)
    ready = {
        "ready": True,
        "url": running.url,
        "provider": running.runtime.provider,
        "model": config.model,
        "tee_signer": config.tee.address,
        "pid": os.getpid(),
    }
    print(json.dumps(ready), flush=True)
    try:
        await stop.wait()
    finally:
        await running.stop()


def main() -> int:
    try:
        config = parse(sys.argv[1:], dict(os.environ))
    except ConfigError as e:
        print(f"devnet provider: {e}", file=sys.stderr)
        return 2
    asyncio.run(run(config))
    return 0


if __name__ == "__main__":
    sys.exit(main())
