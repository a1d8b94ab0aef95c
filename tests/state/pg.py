"""Throwaway PostgreSQL databases for tests, on the machine's server (127.0.0.1:5432, trust auth, user
postgres; BOX_MCP_TEST_POSTGRES_URL names another admin connection).

Each database gets a random name that also carries the xdist worker, so parallel workers never share
one; it is dropped (WITH FORCE: a test's stray connection does not keep it alive) when the test ends.
With no server answering, a test skips saying so, except under CI=true, where it fails: CI has one.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest

ADMIN_URL = os.environ.get("BOX_MCP_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def _admin() -> psycopg.Connection[tuple[object, ...]]:
    try:
        return psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        reason = (
            f"no PostgreSQL answers at {ADMIN_URL} ({' '.join(str(exc).split())[:200]}); start one "
            "on 127.0.0.1:5432 (trust auth, user postgres) or set BOX_MCP_TEST_POSTGRES_URL"
        )
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true: {reason}", pytrace=False)
        pytest.skip(reason)


def database_url(name: str) -> str:
    """The URL of database `name` on the admin connection's server."""
    base, _, _ = ADMIN_URL.partition("?")
    return base.rsplit("/", 1)[0] + "/" + name


_WORKER_DB: dict[str, str] = {}


def worker_database() -> str:
    """This xdist worker's own database for the suite's PostgreSQL run, with an empty public schema
    (dropped and made again: cheaper than a database per test; made once per worker)."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    if worker not in _WORKER_DB:
        name = f"box_mcp_test_state_{worker}_{secrets.token_hex(4)}"
        with _admin() as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        _WORKER_DB[worker] = database_url(name)
        atexit.register(_drop, name)
    url = _WORKER_DB[worker]
    with psycopg.connect(url, autocommit=True, connect_timeout=5) as conn:
        conn.execute("DROP SCHEMA public CASCADE")
        conn.execute("CREATE SCHEMA public")
    return url


def _drop(name: str) -> None:
    with contextlib.suppress(psycopg.Error), _admin() as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def fresh_database(purpose: str) -> Iterator[str]:
    """A new, empty database for `purpose` (letters and _); yields its URL, drops it afterwards."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    name = f"box_mcp_test_{purpose}_{worker}_{secrets.token_hex(4)}"
    with _admin() as admin:
        admin.execute(f'CREATE DATABASE "{name}"')  # name: our letters, digits and _ only
    try:
        yield database_url(name)
    finally:
        with _admin() as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class PrivateServer:
    """A PostgreSQL server of the test's own (initdb in a temporary directory, its own port), so a test
    may stop and restart it without touching the machine's server other tests share."""

    def __init__(self) -> None:
        # Its own directory under the system temp dir: a test's tmp_path sits in directories only its
        # (root) user may enter, and the server runs as the postgres user.
        self.root = Path(tempfile.mkdtemp(prefix="box-mcp-pg-"))
        self.data = self.root / "pgdata"
        self.port = _free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _as_postgres(self, *argv: str, timeout: float = 60) -> None:
        binary = _pg_bin(argv[0])
        command = [binary, *argv[1:]]
        if os.geteuid() == 0:  # PostgreSQL refuses to run as root: run it as the postgres user
            command = ["runuser", "-u", "postgres", "--", *command]
        done = subprocess.run(command, timeout=timeout, capture_output=True, text=True, check=False)  # noqa: S603
        if done.returncode != 0:
            raise AssertionError(f"{' '.join(argv[:1])} failed ({done.returncode}): {done.stderr[-2000:]}")

    def init(self) -> None:
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres")
        self._as_postgres("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8")

    def start(self) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=on"
        log = str(self.root / "log")
        self._as_postgres("pg_ctl", "-D", str(self.data), "-o", options, "-l", log, "-w", "start")

    def stop(self, mode: str = "fast") -> None:
        self._as_postgres("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _pg_bin(name: str) -> str:
    found = shutil.which(name) or next(iter(sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))), None)
    if found is None:
        reason = f"no PostgreSQL server binaries ({name}) on this machine: install the postgresql package"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true: {reason}", pytrace=False)
        pytest.skip(reason)
    return str(found)


@contextmanager
def private_server() -> Iterator[PrivateServer]:
    """A running PrivateServer, stopped (immediately) and deleted afterwards."""
    server = PrivateServer()
    try:
        server.init()
        server.start()
        yield server
    finally:
        with contextlib.suppress(Exception):
            server.stop("immediate")
        shutil.rmtree(server.root, ignore_errors=True)
