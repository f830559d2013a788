"""A throwaway PostgreSQL cluster for tests and `make dev`, started from the server binaries."""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

# Debian installs the server outside PATH; these are searched after PATH.
_SEARCH_DIRS = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
# initdb refuses to run as root, so a root caller runs the cluster as this user.
_UNPRIVILEGED_USER = "postgres"


class ClusterError(RuntimeError):
    """The throwaway cluster could not be created or started."""


def find_binary(name: str) -> str:
    """Path of a PostgreSQL server binary, from PATH or the Debian layout."""
    found = shutil.which(name)
    if found:
        return found
    for directory in _SEARCH_DIRS:
        candidate = directory / name
        if candidate.exists():
            return str(candidate)
    raise ClusterError(
        f"{name} not found: install the PostgreSQL server"
        " (Debian/Ubuntu: apt-get install postgresql)"
    )


def free_port() -> int:
    """A TCP port that was free a moment ago on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class TempCluster:
    """A PostgreSQL cluster in a temporary directory, listening on 127.0.0.1 only."""

    port: int = 0
    directory: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="zerog-pg-")))
    _process: subprocess.Popen[bytes] | None = None
    _args: object = None

    @property
    def dsn(self) -> str:
        """DSN of the `postgres` database as the `postgres` superuser (trust auth, loopback)."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def dsn_for(self, database: str) -> str:
        """DSN of another database in this cluster."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def start(self, timeout: float = 30.0) -> TempCluster:
        """initdb, start the server and wait until it accepts connections."""
        data = self.directory / "data"
        self._own_directory()
        self._run(
            [
                find_binary("initdb"),
                "-D",
                str(data),
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--no-sync",
            ]
        )
        chosen = not self.port
        # A port free a moment ago can be taken by another test run before postgres binds it:
        # then a port of our own choosing is chosen again (a port the caller gave is not).
        for attempt in range(3):
            self.port = free_port() if chosen else self.port
            try:
                self._serve(data, timeout)
                return self
            except ClusterError as error:
                if not (chosen and "Address already in use" in str(error)) or attempt == 2:
                    raise
        return self

    def _serve(self, data: Path, timeout: float) -> None:
        self._process = self._spawn(
            [
                find_binary("postgres"),
                "-D",
                str(data),
                "-p",
                str(self.port),
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                f"unix_socket_directories={self.directory}",
                # Throwaway data: durability only costs time here.
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
                "-c",
                "max_connections=300",
            ]
        )
        self._wait_ready(timeout)

    def stop(self) -> None:
        """Stop the server (fast shutdown) and remove the directory."""
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(signal.SIGINT)
            try:
                self._process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._process = None
        shutil.rmtree(self.directory, ignore_errors=True)

    def restart(self, timeout: float = 30.0) -> None:
        """Stop and start the server on the same port and data (for fault tests)."""
        self.pause()
        self.resume(timeout)

    def pause(self) -> None:
        """Stop the server but keep its data, so resume() brings it back (for fault tests)."""
        assert self._process is not None
        args = self._process.args
        assert isinstance(args, list)
        self._args = args[len(self._launcher()) :]  # _spawn adds the prefix again
        if self._process.poll() is None:
            self._process.send_signal(signal.SIGINT)
            self._process.wait(timeout=15)

    def resume(self, timeout: float = 30.0) -> None:
        """Start the server paused by pause() again, on the same port and data."""
        args = self._args
        assert isinstance(args, list), "resume() without pause()"
        self._process = self._spawn(args)
        self._wait_ready(timeout)

    def __enter__(self) -> TempCluster:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    def _spawn(self, argv: list[str]) -> subprocess.Popen[bytes]:
        # The child keeps its own copy of the log descriptor; ours can close at once.
        with open(self.directory / "server.log", "ab") as log:
            return subprocess.Popen(
                [*self._launcher(), *argv],
                stdout=subprocess.DEVNULL,
                stderr=log,
                start_new_session=True,
            )

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self._process is not None
            if self._process.poll() is not None:
                log = (self.directory / "server.log").read_text(errors="replace")
                raise ClusterError(f"postgres exited at start:\n{log[-2000:]}")
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2),
            ):
                if self._accepts_queries():
                    return
            time.sleep(0.05)
        raise ClusterError(f"postgres did not accept connections within {timeout} s")

    def _accepts_queries(self) -> bool:
        # A listening socket is not enough: during startup the server answers
        # "the database system is starting up".
        probe = subprocess.run(
            [find_binary("pg_isready"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres"],
            capture_output=True,
            check=False,
        )
        return probe.returncode == 0

    def _own_directory(self) -> None:
        if os.geteuid() == 0:
            user = pwd.getpwnam(_UNPRIVILEGED_USER)
            os.chown(self.directory, user.pw_uid, user.pw_gid)

    def _launcher(self) -> list[str]:
        """The prefix that starts postgres: as the unprivileged user, dying with its parent.

        The parent-death signal (setpriv --pdeathsig, Linux) stops the server when whoever
        started it dies without stopping it: a test run killed with SIGKILL or SIGTERM, or a
        timed-out test's os._exit. SIGINT is postgres's fast shutdown: it ends the sessions
        and exits. The kernel sends it when the *thread* that started the server exits, so
        start and resume from a thread that lives as long as the cluster (the main thread).
        """
        setpriv = shutil.which("setpriv") if sys.platform == "linux" else None
        if setpriv is None:
            return self._as_owner()
        switch = self._as_owner() or [setpriv, "--"]  # both start with setpriv
        return [setpriv, "--pdeathsig", "INT", *switch[1:]]

    def _as_owner(self) -> list[str]:
        """The command prefix that runs a program as the unprivileged user when we are root.

        setpriv switches user and then execs, so signals reach postgres directly. Popen's own
        user=/group= would do the same but forces a plain fork() (no vfork), which runs gRPC's
        at-fork handlers in the child and can abort it when the caller has gRPC calls in flight.
        """
        if os.geteuid() != 0:
            return []
        user = pwd.getpwnam(_UNPRIVILEGED_USER)
        setpriv = shutil.which("setpriv") or "setpriv"
        return [setpriv, f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--clear-groups", "--"]

    def _run(self, argv: list[str]) -> None:
        done = subprocess.run([*self._as_owner(), *argv], capture_output=True, check=False)
        if done.returncode != 0:
            raise ClusterError(
                f"{Path(argv[0]).name} failed: {done.stderr.decode(errors='replace')[-2000:]}"
            )


def main() -> None:
    """Run a throwaway cluster in the foreground: `python -m zerog_db.cluster`."""
    with TempCluster() as cluster:
        print(cluster.dsn, flush=True)
        signals = {signal.SIGINT, signal.SIGTERM}
        signal.pthread_sigmask(signal.SIG_BLOCK, signals)
        signal.sigwait(signals)


if __name__ == "__main__":
    main()
