"""Helpers for the annotation-store tests: a real PostgreSQL server started in a temporary folder (no tests here).

``postgres_server()`` runs ``initdb`` and ``pg_ctl start`` (as ``nobody`` when running as root, since PostgreSQL
refuses root) on a free TCP port of 127.0.0.1 with trust authentication, yields its base URL and stops it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from test_app_support import free_port

PG_BIN = next((str(Path(p).parent) for p in (shutil.which("pg_ctl"), *sorted(Path("/usr/lib/postgresql").glob(
    "*/bin/pg_ctl"))) if p and Path(p).exists()), None)
PG_MISSING = None if PG_BIN and shutil.which("initdb", path=PG_BIN) else (
    "PostgreSQL binaries (initdb, pg_ctl) not found: apt-get install -y postgresql")


def as_unprivileged(cmd: list[str]) -> list[str]:
    """``cmd`` run as ``nobody`` when we are root (PostgreSQL and read-only checks need a normal user)."""
    return [shutil.which("runuser") or "/usr/sbin/runuser", "-u", "nobody", "--", *cmd] if os.geteuid() == 0 else cmd


@contextmanager
def postgres_server() -> Iterator[str]:
    """Start a throwaway PostgreSQL server; yields ``postgresql://postgres@127.0.0.1:PORT``."""
    root = Path(tempfile.mkdtemp(prefix="spandec-pg-"))
    if os.geteuid() == 0:
        shutil.chown(root, "nobody")
    data, port = root / "data", free_port()
    env = dict(os.environ, LC_ALL="C.UTF-8")
    subprocess.run(as_unprivileged([f"{PG_BIN}/initdb", "-D", str(data), "-A", "trust", "-U", "postgres", "-E",
                                    "UTF8"]), check=True, capture_output=True, env=env, cwd=root)
    opts = f"-p {port} -k {root} -h 127.0.0.1 -c fsync=off -c max_connections=60"
    subprocess.run(as_unprivileged([f"{PG_BIN}/pg_ctl", "-D", str(data), "-o", opts, "-l", str(root / "log"), "-w",
                                    "-t", "60", "start"]), check=True, capture_output=True, env=env, cwd=root)
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}"
    finally:
        subprocess.run(as_unprivileged([f"{PG_BIN}/pg_ctl", "-D", str(data), "-m", "immediate", "stop"]),
                       capture_output=True, env=env, cwd=root)
        shutil.rmtree(root, ignore_errors=True)


def new_database(base_url: str) -> str:
    """A fresh, empty database on the server; returns its URL."""
    import psycopg

    name = "t_" + uuid.uuid4().hex[:12]
    with psycopg.connect(base_url + "/postgres", autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return f"{base_url}/{name}"
