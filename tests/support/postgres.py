"""A real PostgreSQL for tests: DATABASE_URL, else testcontainers with Docker, else a throwaway local cluster."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import text

from services.common.db import create_engine
from tests.support.kafka_broker import docker_answers

__all__ = ["fresh_database", "postgres_url"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _pg_bin(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    for candidate in sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), reverse=True):
        return str(candidate)
    raise RuntimeError(
        f"PostgreSQL's {name} was not found: install Debian's postgresql package (make test does this with apt-get)")


@contextmanager
def postgres_url() -> Iterator[str]:
    configured = os.environ.get("DATABASE_URL")
    if configured and configured.startswith("postgres"):
        yield configured
        return
    if docker_answers():
        from testcontainers.postgres import PostgresContainer

        with PostgresContainer("postgres:16", driver="asyncpg") as container:
            yield container.get_connection_url()
        return
    yield from _local_cluster()


def _local_cluster() -> Iterator[str]:
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    port = _free_port()
    base = Path(tempfile.mkdtemp(prefix="forewarn-pg-"))
    data = base / "data"
    run_as: list[str] = []
    if os.geteuid() == 0:  # initdb refuses to run as root; use the package's postgres account
        user = pwd.getpwnam("postgres")
        os.chown(base, user.pw_uid, user.pw_gid)
        run_as = ["runuser", "-u", "postgres", "--"]
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*run_as, *args], capture_output=True, text=True, check=False)

    result = run(initdb, "-D", str(data), "-U", "forewarn", "--auth=trust", "-E", "UTF8", "--no-sync")
    if result.returncode != 0:
        raise RuntimeError(f"initdb failed: {result.stderr}")
    options = f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={base} -c fsync=off"
    result = run(pg_ctl, "-D", str(data), "-l", str(base / "postgres.log"), "-o", options, "-w", "start")
    if result.returncode != 0:
        log = (base / "postgres.log").read_text() if (base / "postgres.log").exists() else ""
        raise RuntimeError(f"pg_ctl start failed: {result.stderr}\n{log}")
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.1)
        yield f"postgresql+asyncpg://forewarn@127.0.0.1:{port}/postgres"
    finally:
        run(pg_ctl, "-D", str(data), "-m", "immediate", "stop")
        shutil.rmtree(base, ignore_errors=True)


async def fresh_database(backend: str, tmp_dir: str | Path, postgres: str | None, name: str = "db") -> str:
    """A new, empty database: a SQLite file in `tmp_dir`, or a new database on the test PostgreSQL server."""
    if backend == "sqlite":
        return f"sqlite+aiosqlite:///{Path(tmp_dir) / f'{name}-{uuid.uuid4().hex[:8]}.db'}"
    if postgres is None:
        raise ValueError("a PostgreSQL URL is needed for the postgresql backend")
    database = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(postgres)
    async with admin.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text(f'CREATE DATABASE "{database}"'))
    await admin.dispose()
    return postgres.rsplit("/", 1)[0] + f"/{database}"
