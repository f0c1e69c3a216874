"""Opening the annotation database: URL or path, SQLite settings (WAL, immediate transactions), migrations, errors.

:func:`open_store` accepts a file path (SQLite) or any SQLAlchemy URL (``postgresql://...``). It checks the
database before writing anything: a file that is not SQLite, a schema written by a newer spandec, or a foreign
database raise :class:`StoreError` and leave the file untouched; then it runs the Alembic migrations shipped in
``spandec/store/migrations``. Every transaction goes through :meth:`Store.tx`, which turns a locked, read-only or
damaged database into a :class:`StoreError` with a one-line explanation.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

from sqlalchemy import Connection, Engine, create_engine, event, inspect
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL, make_url

__all__ = ["Store", "StoreError", "open_store", "default_db", "resolve_url", "now", "MIGRATIONS"]

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
_SQLITE_MAGIC = b"SQLite format 3\x00"


class StoreError(ValueError):
    """The annotation database cannot be used (locked, read-only, damaged, newer schema, unreachable); one line."""


def now() -> datetime:
    """The current time (UTC), as stored in every timestamp column."""
    return datetime.now(timezone.utc)


def default_db() -> str:
    """``$SPANDEC_DB``, else ``~/.local/share/spandec/annotations.db`` (outside any checkout)."""
    return os.environ.get("SPANDEC_DB") or str(Path.home() / ".local" / "share" / "spandec" / "annotations.db")


def resolve_url(db: str | os.PathLike | None) -> str:
    """A SQLAlchemy URL for a path or URL (``postgresql://`` uses psycopg 3); a path is that very file, even with
    ``?``, ``#`` or ``%`` in its name (quoted in the URL)."""
    db = str(db or default_db())
    if "://" not in db:
        return URL.create("sqlite", database=str(Path(db).expanduser().resolve())).render_as_string()
    url = make_url(db)
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg")
    return url.render_as_string(hide_password=False)


def _explain(exc: BaseException, where: str, timeout: float) -> str:
    """One line saying what is wrong with the database, from a driver error."""
    msg = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    low = msg.lower()
    if "locked" in low or "lock timeout" in low:
        return (f"The annotation database {where} is locked by another program (waited {timeout:g} s); "
                "close it or try again. Nothing was changed.")
    if "readonly" in low or "read-only" in low or "unable to open database" in low:
        return (f"The annotation database {where} is read-only or its folder is not writable ({msg}); "
                "give this user write access or choose another file with --db. Nothing was changed.")
    if "not a database" in low or "malformed" in low or "disk image" in low or "file is encrypted" in low:
        return (f"The annotation database {where} is damaged or not an SQLite database ({msg}). "
                "Restore it from a backup or choose another file with --db. Nothing was changed.")
    if "connect" in low or "connection" in low or "password" in low or "does not exist" in low:
        return f"Cannot connect to the annotation database {where}: {msg}"
    return f"Annotation database error ({where}): {msg}"


@dataclass
class Store:
    """An opened, migrated annotation database: the engine, where it is, and how long writes wait for a lock."""

    engine: Engine
    where: str  # the path or the URL without password, for messages
    timeout: float = 10.0

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @contextmanager
    def tx(self) -> Iterator[Connection]:
        """A transaction (``BEGIN IMMEDIATE`` on SQLite), committed on success; database problems -> StoreError."""
        try:
            with self.engine.begin() as conn:
                yield conn
        except sa_exc.IntegrityError:
            raise
        except (sa_exc.OperationalError, sa_exc.DatabaseError, sa_exc.InterfaceError) as exc:
            raise StoreError(_explain(exc, self.where, self.timeout)) from None

    def close(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()


def _sqlite_engine(url: str, timeout: float) -> Engine:
    engine = create_engine(url, connect_args={"timeout": timeout, "check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _connect(dbapi_conn, _record):  # noqa: ANN001 - driver objects
        dbapi_conn.isolation_level = None  # transactions are begun below, immediately taking the write lock
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
        cur.execute("PRAGMA foreign_keys = ON")
        cur.execute("PRAGMA synchronous = NORMAL")  # durable in WAL mode across process crashes
        cur.close()

    @event.listens_for(engine, "begin")
    def _begin(conn):  # noqa: ANN001
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def _check_sqlite_file(path: Path) -> None:
    if path.is_dir():
        raise StoreError(f"The annotation database {path} is a folder; give a file path with --db.")
    if path.exists() and path.stat().st_size:
        with open(path, "rb") as f:
            head = f.read(16)
        if head != _SQLITE_MAGIC:
            raise StoreError(f"The annotation database {path} is damaged or not an SQLite database "
                             "(wrong header). Restore it from a backup or choose another file with --db. "
                             "Nothing was changed.")
    else:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"Cannot create the folder of the annotation database {path}: {exc.strerror}.") from None


def _alembic_config(conn: Connection):
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = conn
    return cfg


def _check_schema(conn: Connection, where: str) -> bool:
    """Whether migrations are needed; StoreError for a foreign database or a newer schema."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    tables = set(inspect(conn).get_table_names())
    script = ScriptDirectory.from_config(_alembic_config(conn))
    head = script.get_current_head()
    if not tables:
        return True
    if "alembic_version" not in tables:
        raise StoreError(f"The database {where} holds tables that are not spandec annotations "
                         f"({', '.join(sorted(tables)[:5])}); choose another file or URL with --db. Nothing was changed.")
    current = MigrationContext.configure(conn).get_current_revision()
    known = {r.revision for r in script.walk_revisions()}
    if current is not None and current not in known:
        raise StoreError(f"The annotation database {where} has schema version {current}, newer than this spandec "
                         f"knows (up to {head}); upgrade spandec to open it. Nothing was changed.")
    return current != head


def open_store(db: str | os.PathLike | None = None, timeout: float = 10.0, migrate: bool = True) -> Store:
    """Open (creating if needed) and migrate the database at a path or URL; StoreError says what is wrong."""
    url = resolve_url(db)
    parsed = make_url(url)
    where = parsed.database if parsed.drivername.startswith("sqlite") else parsed.render_as_string(hide_password=True)
    if parsed.drivername.startswith("sqlite"):
        _check_sqlite_file(Path(parsed.database))
        engine = _sqlite_engine(url, timeout)
    else:
        engine = create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10,
                               connect_args={"connect_timeout": max(1, int(timeout))})
    store = Store(engine, where, timeout)
    try:
        with store.tx() as conn:  # nothing is written before the checks pass
            needed = _check_schema(conn, where)
        if store.is_sqlite:
            raw = engine.raw_connection()  # journal mode changes outside a transaction
            try:
                mode = raw.driver_connection.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            finally:
                raw.close()
            if str(mode).lower() != "wal":
                raise StoreError(f"The annotation database {where} cannot use WAL mode (journal mode {mode}).")
        if needed and migrate:
            from alembic import command

            with store.tx() as conn:
                command.upgrade(_alembic_config(conn), "head")
    except StoreError:
        engine.dispose()
        raise
    except (sa_exc.OperationalError, sa_exc.DatabaseError, sa_exc.InterfaceError) as exc:
        engine.dispose()
        raise StoreError(_explain(exc, where, timeout)) from None
    return store
