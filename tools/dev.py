"""`make dev`: a throwaway PostgreSQL and the quota service, with addresses and a command to try."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time

from zerog_db.cluster import TempCluster, free_port


def main() -> None:
    with TempCluster() as cluster:
        port = int(os.environ.get("QUOTA_PORT") or free_port())
        secret = os.environ.get("AUTH_JWT_SECRET") or secrets.token_hex(32)
        env = {
            **os.environ,
            "DATABASE_URL": cluster.dsn,
            "AUTH_JWT_SECRET": secret,
            "PORT": str(port),
            "METRICS_PORT": str(free_port()),
        }
        quota = subprocess.Popen([sys.executable, "-m", "services.quota"], env=env)
        time.sleep(2)
        print(f"\nPostgreSQL  {cluster.dsn}")
        print(f"quota       127.0.0.1:{port}  (metrics on :{env['METRICS_PORT']})")
        print("\nTry (reflection, no token needed):")
        print(
            f"  node_modules/.bin/buf curl --protocol grpc --http2-prior-knowledge "
            f"--list-methods http://127.0.0.1:{port}"
        )
        print("Ctrl-C stops everything.\n", flush=True)
        try:
            signal.sigwait({signal.SIGINT, signal.SIGTERM})
        except KeyboardInterrupt:
            pass
        finally:
            quota.send_signal(signal.SIGTERM)
            quota.wait(timeout=30)


if __name__ == "__main__":
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    main()
