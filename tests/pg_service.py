"""A real PostgreSQL server for the tests: Debian's packages, a throw-away cluster, a database per test.

The server is started once per session (initdb + pg_ctl into a temp dir, loopback on an ephemeral
port, fsync off because the data is thrown away) and each test gets a fresh database on it, so tests
never see each other's rows and no test needs to clean up.

initdb and postgres refuse to run as root; when the tests run as root (CI does) both run as the
``postgres`` system user the Debian package creates, in a temp dir that user owns.

Where PostgreSQL is missing, the tests that need it skip with the reason; under ``CI=true`` they
fail instead, so a CI image without the package can never pass by skipping them.
"""

from __future__ import annotations

import contextlib
import glob
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn

import psycopg
import pytest

SERVER_USER = "postgres"  # the system user the Debian package creates; also the superuser role name


def _bindir() -> Path | None:
    """The newest Debian cluster binaries, or wherever ``pg_ctl`` is on PATH."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(Path(p).parts[4]))
    if found:
        return Path(found[-1]).parent
    on_path = shutil.which("pg_ctl")
    return Path(on_path).parent if on_path else None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class PostgresServer:
    bindir: Path
    root: Path
    port: int = 0
    _as_user: list[str] = field(default_factory=list)
    _names: Iterator[int] = field(default_factory=itertools.count)

    @property
    def data(self) -> Path:
        return self.root / "data"

    def _run(self, *args: str | Path, timeout: float = 60) -> None:
        cmd = [*self._as_user, *map(str, args)]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
        if done.returncode != 0:
            log = self.root / "server.log"
            tail = log.read_text()[-2000:] if log.exists() else ""
            raise RuntimeError(f"{' '.join(cmd)} failed:\n{done.stdout}{done.stderr}{tail}")

    def start(self) -> None:
        if os.geteuid() == 0:
            user = pwd.getpwnam(SERVER_USER)
            os.chown(self.root, user.pw_uid, user.pw_gid)
            self._as_user = ["runuser", "-u", SERVER_USER, "--"]
        self._run(
            self.bindir / "initdb",
            "-D",
            self.data,
            "-U",
            SERVER_USER,
            "--auth=trust",
            "--encoding=UTF8",
            "--no-locale",
            "--no-sync",  # the cluster lives for one test session
        )
        # The port is free when picked but may be taken before the server binds it: try a few.
        for attempt in range(3):
            self.port = _free_port()
            options = (
                f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={self.root}"
                " -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
                # An odd server time zone, so a store that leaks it instead of UTC fails its tests.
                " -c TimeZone=Pacific/Chatham"
            )
            try:
                self._run(
                    self.bindir / "pg_ctl", "start", "-w", "-D", self.data, "-l", self.root / "server.log",
                    "-o", options,
                )  # fmt: skip
                return
            except RuntimeError:
                if attempt == 2:
                    raise

    def stop(self) -> None:
        # Immediate: nothing here is worth a checkpoint.
        with contextlib.suppress(Exception):
            self._run(self.bindir / "pg_ctl", "stop", "-D", self.data, "-m", "immediate", timeout=30)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{SERVER_USER}@127.0.0.1:{self.port}/{database}"

    def create_database(self, prefix: str = "test") -> str:
        """A new, empty database; returns its URL.

        It collates text by ICU's en-US rules, as production databases commonly do (the cluster's
        own locale is C), so code that relies on byte order without saying so fails here.
        """
        name = f"{prefix}_{os.getpid()}_{next(self._names)}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            try:
                conn.execute(
                    f"CREATE DATABASE \"{name}\" TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US'"
                )
            except psycopg.errors.FeatureNotSupported:  # a server built without ICU
                conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


def _unavailable(reason: str) -> NoReturn:
    if os.environ.get("CI") == "true":
        pytest.fail(f"PostgreSQL is required in CI: {reason}", pytrace=False)
    pytest.skip(f"PostgreSQL not available: {reason} (apt-get install postgresql)")


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    bindir = _bindir()
    if bindir is None:
        _unavailable("no pg_ctl under /usr/lib/postgresql/*/bin or on PATH")
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(SERVER_USER)
        except KeyError:
            _unavailable(f"running as root and there is no {SERVER_USER!r} user to run the server as")
    root = Path(tempfile.mkdtemp(prefix="pilothouse-pg-"))
    server = PostgresServer(bindir=bindir, root=root)
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> str:
    """A fresh database on the session's server, for one test."""
    return postgres_server.create_database()
