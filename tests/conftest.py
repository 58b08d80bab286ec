"""Fixtures shared by every suite: real sandbox peers on free loopback ports."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from enigma.sandbox.core import PeerSpec
from enigma.sandbox.server import SandboxServer

SandboxFactory = Callable[..., SandboxServer]


@pytest.fixture
def sandbox_factory(tmp_path: Path) -> Iterator[SandboxFactory]:
    """Start sandboxes (all peers, or only `specs`) in tmp_path; stopped at teardown."""
    started: list[SandboxServer] = []

    def start(
        specs: list[PeerSpec] | None = None,
        settings: dict[str, Any] | None = None,
        name: str = "sandbox",
        fault_seed: int | None = 1234,
    ) -> SandboxServer:
        merged = {"check_delay_seconds": 0.3} | dict(settings or {})
        server = SandboxServer(
            tmp_path / name, specs=specs, settings=merged, fault_seed=fault_seed
        ).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


PG_DSN = "postgresql://postgres@127.0.0.1:5432/test"

# What releasing 2.4.0 of the seed (conflicting ENG-106 skipped) writes, by effect kind: a release
# branch, PR, PR merge and release per repository, nine merges, the notes page, and for each of
# the nine shipped tickets a transition (ENG-108 needs two, ENG-104 was Done), comment and link.
RELEASE_2_4_0_EFFECTS = {
    "ref.create": 3,
    "merge": 9,
    "pull.create": 3,
    "pull.merge": 3,
    "release.create": 3,
    "page.created": 1,
    "comment": 9,
    "remotelink": 9,
    "version.release": 1,
    "transition": 9,
}


@pytest.fixture
def pg_schema() -> Iterator[str]:
    """A fresh PostgreSQL schema for one test, dropped afterwards."""
    import uuid

    import psycopg

    schema = f"t_{uuid.uuid4().hex[:12]}"
    try:
        conn = psycopg.connect(PG_DSN, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        pytest.fail(
            f"PostgreSQL at {PG_DSN} is not reachable ({exc}); start it with "
            "`pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`"
        )
    with conn:
        conn.execute(f"CREATE SCHEMA {schema}")
        yield schema
        conn.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture
def sandbox(sandbox_factory: SandboxFactory) -> SandboxServer:
    """All three peers, seeded, on a free port."""
    return sandbox_factory()


class PrivatePostgres:
    """A PostgreSQL server of the test's own (initdb in tmp_path, a free port), stoppable.

    Outage tests stop and start it; the machine's shared server is never touched. initdb and
    postgres refuse to run as root, so they run as the `postgres` user when we are root.
    """

    def __init__(self, base: Path):
        import shutil
        import socket

        bins = sorted(Path("/usr/lib/postgresql").glob("*/bin"))
        if not bins:
            pytest.skip("PostgreSQL server binaries are not installed")
        self.bin = bins[-1]
        self.base = base
        self.data = base / "pgdata"
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = int(sock.getsockname()[1])
        base.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(base, "postgres")
        self._as_postgres(
            str(self.bin / "initdb"),
            "-D",
            str(self.data),
            "-A",
            "trust",
            "-U",
            "postgres",
            "--no-sync",
            "-E",
            "UTF8",
        )
        self.start()

    @property
    def dsn(self) -> str:
        """Where it answers (database `postgres`)."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _as_postgres(self, *argv: str) -> None:
        import subprocess

        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        subprocess.run([*prefix, *argv], check=True, capture_output=True, timeout=120)

    def start(self) -> None:
        """Start (again, on the same port and data)."""
        options = f"-p {self.port} -k {self.base} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._as_postgres(
            str(self.bin / "pg_ctl"),
            "-D",
            str(self.data),
            "-o",
            options,
            "-l",
            str(self.base / "postgres.log"),
            "-w",
            "start",
        )

    def stop(self, mode: str = "fast") -> None:
        """Stop it (fast: connections are cut; immediate: as a crash)."""
        self._as_postgres(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    """A PostgreSQL server of this test's own (in /tmp: pytest's own folder is root-only)."""
    import shutil
    import tempfile

    base = Path(tempfile.mkdtemp(prefix="enigma-pg-"))
    os.chmod(base, 0o755)  # noqa: S103 (the postgres user must reach its data)
    server = PrivatePostgres(base / "pg")
    yield server
    with contextlib.suppress(Exception):
        server.stop("immediate")
    shutil.rmtree(base, ignore_errors=True)
