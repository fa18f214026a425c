"""Backups of the whole database, taken while the app writes, and restores into an empty one.

SQLite: the online backup API (`sqlite3.Connection.backup`, all pages in one step, so the
copy is one consistent snapshot however busy the app is). PostgreSQL: `pg_dump
--format=custom` (one snapshot of one transaction) and `pg_restore` in a single
transaction. A backup file is written owner-only (0600) and never overwrites a file.

A backup holds the database and nothing else: sealed evidence and message text stay sealed
(the keys live in the secret store, not in the database), and neither the access log's
MAC key nor the checkpoint signing key is in it. Checkpoint copies in CHECKPOINT_DIR are
left out on purpose (README, "Backups").
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import URL, make_url

SQLITE_MAGIC = b"SQLite format 3\x00"
PGDUMP_MAGIC = b"PGDMP"


class BackupError(RuntimeError):
    """A backup or restore that cannot go ahead; the message says why and what to do."""


@dataclass(frozen=True)
class Restored:
    """What a restore left: the tables with their row counts and the integrity check."""

    counts: dict[str, int]
    integrity: str


def engine_url(url: str) -> str:
    """A database URL as Vigil's engines take it (`postgresql://` means psycopg 3)."""
    if url.startswith("postgresql://"):
        return "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return url


def default_path(directory: Path, url: str) -> Path:
    """instance/backups/vigil-<UTC time>.<sqlite|pgdump>."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    suffix = "sqlite" if _is_sqlite(url) else "pgdump"
    return directory / f"vigil-{stamp}.{suffix}"


def create_backup(url: str, output: Path) -> Path:
    """Write a consistent copy of the database at `url` to `output` (0600, new file)."""
    output.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    partial = output.with_name(f".{output.name}.partial")
    if output.exists():
        raise BackupError(f"{output} exists; a backup never overwrites a file")
    try:
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError as exc:
        raise BackupError(f"{partial} exists: another backup is writing it") from exc
    try:
        if _is_sqlite(url):
            os.close(fd)
            _sqlite_backup(_sqlite_path(url), partial)
        else:
            with os.fdopen(fd, "wb") as handle:
                _run([_tool("pg_dump"), "--format=custom", "--dbname", _libpq(url)], url, handle)
        os.chmod(partial, 0o600)
        _publish(partial, output)
    except FileExistsError as exc:
        raise BackupError(f"{output} exists; a backup never overwrites a file") from exc
    finally:
        partial.unlink(missing_ok=True)  # the link is the backup; a failure leaves nothing
    return output


def _publish(partial: Path, output: Path) -> None:
    """Give the finished file its name: whole or not at all, never over another file (a
    hard link; where the filesystem has none, a rename after one more look)."""
    try:
        os.link(partial, output)
    except FileExistsError:
        raise
    except OSError:
        if output.exists():
            raise FileExistsError(output) from None
        os.replace(partial, output)


def restore_backup(path: Path, url: str, *, replace: bool = False) -> Restored:
    """Load the backup at `path` into the database at `url`, which must be empty unless
    `replace`; then check the result. Nothing is half-restored: a failure changes nothing."""
    kind = backup_kind(path)
    if kind != ("sqlite" if _is_sqlite(url) else "postgresql"):
        raise BackupError(f"{path} is a {kind} backup; the target database is not {kind}")
    tables = table_names(url)
    if tables and not replace:
        raise BackupError(
            f"the target database is not empty ({len(tables)} tables); restore into a fresh, "
            "empty database, or pass --replace to discard what it holds"
        )
    if kind == "sqlite":
        _sqlite_restore(path, _sqlite_path(url))
    else:
        command = [_tool("pg_restore"), "--no-owner", "--exit-on-error", "--single-transaction"]
        command += ["--clean", "--if-exists"] if tables else []
        _run([*command, "--dbname", _libpq(url), str(path)], url)
    return Restored(counts=row_counts(url), integrity=check_integrity(url))


def file_sha256(path: Path) -> str:
    """The file's SHA-256 (hex), to check a stored copy before restoring it."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def backup_kind(path: Path) -> str:
    """'sqlite' or 'postgresql', from the file's first bytes."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(len(SQLITE_MAGIC))
    except OSError as exc:
        raise BackupError(f"cannot read {path}: {exc.strerror}") from exc
    if head.startswith(SQLITE_MAGIC):
        return "sqlite"
    if head.startswith(PGDUMP_MAGIC):
        return "postgresql"
    raise BackupError(f"{path} is not a Vigil backup (neither SQLite nor pg_dump custom format)")


def table_names(url: str) -> list[str]:
    """The tables the database holds (empty list: an empty database)."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return sorted(inspect(conn).get_table_names())
    finally:
        engine.dispose()


def row_counts(url: str) -> dict[str, int]:
    """Rows per table."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            preparer = engine.dialect.identifier_preparer
            return {
                name: conn.execute(
                    text(f"SELECT count(*) FROM {preparer.quote(name)}")  # noqa: S608  (catalog names)  # nosec B608
                ).scalar_one()
                for name in sorted(inspect(conn).get_table_names())
            }
    finally:
        engine.dispose()


def check_integrity(url: str) -> str:
    """'ok', or what is wrong. SQLite: integrity_check and foreign_key_check. PostgreSQL:
    every constraint is validated (pg_restore re-creates them after the data, and a row
    that breaks one fails the restore), so this checks none is left NOT VALID."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            if _is_sqlite(url):
                problems = [row[0] for row in conn.exec_driver_sql("PRAGMA integrity_check")]
                problems = [] if problems == ["ok"] else problems
                problems += [
                    f"foreign key: {row[0]} row {row[1]} -> {row[2]}"
                    for row in conn.exec_driver_sql("PRAGMA foreign_key_check")
                ]
            else:
                rows = conn.execute(
                    text(
                        "SELECT conrelid::regclass::text, conname FROM pg_constraint "
                        "JOIN pg_namespace n ON n.oid = connamespace "
                        "WHERE NOT convalidated AND n.nspname = 'public'"
                    )
                )
                problems = [f"constraint not validated: {t}.{c}" for t, c in rows]
    finally:
        engine.dispose()
    return "ok" if not problems else "; ".join(problems)


# --- SQLite ---------------------------------------------------------------------------


def _is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def _sqlite_path(url: str) -> Path:
    database = make_url(url).database
    if not database or database == ":memory:":
        raise BackupError("an in-memory SQLite database has nothing to back up or restore into")
    return Path(database)


def _sqlite_backup(source: Path, target: Path) -> None:
    src = sqlite3.connect(source, timeout=30)  # reads only; WAL needs -shm access
    dst = sqlite3.connect(target)
    try:
        src.execute("PRAGMA busy_timeout=30000")
        src.backup(dst, pages=-1)  # one step: one read transaction, one snapshot
        dst.execute("PRAGMA journal_mode=DELETE")  # a single self-contained file
    except sqlite3.Error as exc:
        raise BackupError(f"the SQLite backup failed: {exc}") from exc
    finally:
        dst.close()
        src.close()


def _sqlite_restore(backup: Path, target: Path) -> None:
    src = sqlite3.connect(f"file:{backup}?mode=ro", uri=True)
    dst = sqlite3.connect(target, timeout=30)
    try:
        if src.execute("PRAGMA integrity_check").fetchone()[0] != "ok":
            raise BackupError(f"{backup} is damaged (SQLite integrity_check failed)")
        src.backup(dst, pages=-1)  # one step under the target's write lock
        dst.execute("PRAGMA journal_mode=WAL")  # what the app runs with
    except sqlite3.DatabaseError as exc:  # checked before the target is written
        raise BackupError(f"{backup} is damaged: {exc}") from exc
    finally:
        dst.close()
        src.close()


# --- PostgreSQL -----------------------------------------------------------------------


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise BackupError(f"{name} is not installed (Debian: postgresql-client)")
    return found


def _libpq(url: str) -> str:
    """The URL as libpq reads it, without the password (that goes in PGPASSWORD, not argv)."""
    parsed: URL = make_url(url)
    return parsed.set(drivername="postgresql", password=None).render_as_string(hide_password=False)


def _run(command: list[str], url: str, stdout=None) -> None:
    env = dict(os.environ)
    password = make_url(url).password
    if password:
        env["PGPASSWORD"] = str(password)
    result = subprocess.run(  # noqa: S603  (fixed tool, arguments from the settings)  # nosec B603
        command, stdout=stdout, stderr=subprocess.PIPE, env=env, check=False
    )
    if result.returncode != 0:
        said = result.stderr.decode("utf-8", "replace").strip()
        raise BackupError(f"{Path(command[0]).name} failed: {said}")
