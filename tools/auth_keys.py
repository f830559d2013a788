"""Caller keys and tokens: the only place an admin (or any) token is minted by hand.

    python -m tools.auth_keys new inference --out keys/           # keys/inference.pem (0600)
    python -m tools.auth_keys publish --jwks jwks.json --service inference keys/inference.pem
    python -m tools.auth_keys retire --jwks jwks.json KID
    python -m tools.auth_keys list --jwks jwks.json
    python -m tools.auth_keys mint --key keys/admin.pem --sub admin --aud quota [--user alice]

`publish` adds (or re-binds) a public key in a JWKS file and `retire` removes one; services only
ever see the JWKS. See docs/auth.md for the rotation steps.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from zerog_grpc.jwks import parse_jwks
from zerog_grpc.tokens import SigningKey, UnusableKey, mint_token


def read_jwks(path: Path) -> list[dict[str, Any]]:
    """The entries of a JWKS file (none if it does not exist yet)."""
    if not path.exists():
        return []
    raw = path.read_bytes()
    parse_jwks(raw)  # refuse to edit a document the services would refuse
    keys: list[dict[str, Any]] = json.loads(raw)["keys"]
    return keys


def write_jwks(path: Path, keys: list[dict[str, Any]]) -> None:
    """Replace the file at once, so a service reading it sees the old or the new set."""
    text = json.dumps({"keys": keys}, indent=2) + "\n"
    parse_jwks(text)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text)
    os.replace(partial, path)


def publish(path: Path, service: str, key: SigningKey) -> str:
    """Add `key`'s public half for `service` (replacing an entry with its kid); its kid."""
    entry = key.public_jwk(service)
    keys = [k for k in read_jwks(path) if k.get("kid") != entry["kid"]]
    write_jwks(path, [*keys, entry])
    return str(entry["kid"])


def retire(path: Path, kid: str) -> bool:
    """Remove the key `kid`; False if it was not there."""
    keys = read_jwks(path)
    kept = [k for k in keys if k.get("kid") != kid]
    write_jwks(path, kept)
    return len(kept) < len(keys)


def write_key(path: Path, key: SigningKey) -> None:
    """The private key, readable by its owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as out:
        out.write(key.pem())


def load_key(path: Path) -> SigningKey:
    try:
        return SigningKey.from_pem(path.read_bytes())
    except OSError as error:
        raise SystemExit(f"auth_keys: cannot read {path}: {error.strerror}") from None
    except UnusableKey as error:
        raise SystemExit(f"auth_keys: {path}: {error}") from None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m tools.auth_keys", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    new = commands.add_parser("new", help="generate a P-256 private key NAME.pem")
    new.add_argument("name")
    new.add_argument("--out", type=Path, default=Path("."), help="directory for NAME.pem")
    new.add_argument("--jwks", type=Path, help="also publish it there, bound to NAME")
    pub = commands.add_parser("publish", help="publish a key's public half for a service")
    pub.add_argument("key", type=Path)
    pub.add_argument("--jwks", type=Path, required=True)
    pub.add_argument("--service", required=True)
    ret = commands.add_parser("retire", help="remove a key from a JWKS")
    ret.add_argument("kid")
    ret.add_argument("--jwks", type=Path, required=True)
    lst = commands.add_parser("list", help="kid, service and algorithm of each published key")
    lst.add_argument("--jwks", type=Path, required=True)
    mint = commands.add_parser("mint", help="print a token signed with a private key")
    mint.add_argument("--key", type=Path, required=True)
    mint.add_argument("--sub", required=True, help="the service the key is published for")
    mint.add_argument("--aud", required=True, action="append", help="callee (repeatable)")
    mint.add_argument("--user", default="", help="the end user the caller acts for")
    mint.add_argument("--seconds", type=int, default=300, help="lifetime (default 300)")
    return parser


def main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    match args.command:
        case "new":
            key = SigningKey.generate()
            write_key(args.out / f"{args.name}.pem", key)
            if args.jwks:
                publish(args.jwks, args.name, key)
            print(key.kid)
        case "publish":
            print(publish(args.jwks, args.service, load_key(args.key)))
        case "retire":
            if not retire(args.jwks, args.kid):
                raise SystemExit(f"auth_keys: no key {args.kid} in {args.jwks}")
        case "list":
            for kid, published in parse_jwks(args.jwks.read_bytes()).items():
                print(f"{kid}  {published.service}  {published.algorithm}")
        case "mint":
            audience: str | list[str] = args.aud[0] if len(args.aud) == 1 else args.aud
            token = mint_token(
                load_key(args.key),
                args.sub,
                audience,
                user=args.user,
                lifetime_seconds=args.seconds,
            )
            print(token)


if __name__ == "__main__":
    main(sys.argv[1:])
