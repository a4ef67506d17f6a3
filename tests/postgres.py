"""Real PostgreSQL 15 clusters for the tests, made with Debian's postgresql-common tools.

Root may not run `pg_ctl`; `pg_createcluster` and `pg_ctlcluster` run the server as the
`postgres` user. Each cluster gets its own name, a free loopback port and a data folder of its
own, trusts loopback connections (no passwords in tests) and is dropped at the end.
"""

from __future__ import annotations

import os
import socket
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path

VERSION = "15"
_TEMPLATE = "eo_tiler_template"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Cluster:
    name: str
    port: int
    data: Path

    @classmethod
    def create(cls, base: Path) -> Cluster:
        name = f"eotiler_{uuid.uuid4().hex[:10]}"
        port = free_port()
        data = base / name
        base.mkdir(parents=True, exist_ok=True)
        os.chmod(base, 0o755)  # the postgres user must reach its data folder
        _run(
            "pg_createcluster", VERSION, name, "--port", str(port), "--datadir", str(data),
            "--start-conf", "manual", "-o", "listen_addresses=localhost", "-o", "fsync=off",
            "-o", "max_connections=200", "--", "--auth-host=trust", "--auth-local=trust",
        )  # fmt: skip
        cluster = cls(name, port, data)
        cluster.start()
        return cluster

    def start(self) -> None:
        _run("pg_ctlcluster", VERSION, self.name, "start")

    def stop(self) -> None:
        _run("pg_ctlcluster", VERSION, self.name, "stop", "--mode", "fast")

    def drop(self) -> None:
        _run("pg_dropcluster", VERSION, self.name, "--stop")

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def sql(self, statement: str, database: str = "postgres") -> None:
        import psycopg

        with psycopg.connect(self.url(database), autocommit=True) as conn:
            conn.execute(statement)

    def new_database(self) -> str:
        """A fresh database with the pgSTAC schema, copied from a template migrated once."""
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (_TEMPLATE,)).fetchone()
        if exists is None:
            from tiler.catalog.pgstac import migrate

            self.sql(f"CREATE DATABASE {_TEMPLATE}")
            migrate(self.url(_TEMPLATE))
        name = f"db_{uuid.uuid4().hex[:10]}"
        self.sql(f"CREATE DATABASE {name} TEMPLATE {_TEMPLATE}")
        return self.url(name)

    def empty_database(self) -> str:
        """A fresh database without any schema: eo-tiler must create pgSTAC's itself."""
        name = f"db_{uuid.uuid4().hex[:10]}"
        self.sql(f"CREATE DATABASE {name}")
        return self.url(name)


def _run(*command: str) -> None:
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed: {result.stderr.strip() or result.stdout.strip()}")
