"""No reported content in plaintext in the raw database files.

Method. A report is pushed through the API with unique markers in a message, the title and
the description; none of them may appear anywhere in the database's bytes:

* SQLite: the main file and its WAL (-wal) are read as bytes right after the request
  committed, and the main file again after a TRUNCATE checkpoint.
* PostgreSQL: after CHECKPOINT, every relation file of the test database (tables, TOAST
  tables, indexes, catalogs) is read with pg_read_binary_file(pg_relation_filepath(oid)),
  plus the newest WAL segments from pg_ls_waldir().
* Both: every column of every row of every table, read back through SQL (catches values
  PostgreSQL might have compressed in TOAST, where a byte scan would miss them).

Each scan has a positive control: the pseudonymous reporter id is stored in plaintext on
purpose, so the same scan must find it; a scan that finds nothing at all proves nothing.

The API path is the honest test: pushed conversations are kept only as sealed evidence.
Conversations in Vigil's own store (web and notice reports) are the user's data and stay
readable there; for those the test shows the plaintext lives only in the `message` table's
own pages, never in reports, cases, evidence or anything else.
"""

from __future__ import annotations

import sqlite3
import uuid
from pathlib import Path

import pytest
from sqlalchemy import MetaData, select, text
from sqlalchemy.engine import make_url

from core.db import is_postgres
from tests.factories import make_conversation
from tests.helpers import post_form, report_body


def _markers() -> dict[str, str]:
    tag = uuid.uuid4().hex
    return {
        "message": f"SECRETMSG{tag}",
        "title": f"SECRETTITLE{tag}",
        "description": f"SECRETDESC{tag}",
        "control": f"CONTROL{tag}",
    }


def _rows_as_text(engine) -> list[bytes]:
    """Every value of every table, as bytes (text encoded, blobs raw)."""
    metadata = MetaData()
    metadata.reflect(engine)
    values: list[bytes] = []
    with engine.connect() as conn:
        for table in metadata.sorted_tables:
            for row in conn.execute(select(table)):
                for value in row:
                    if isinstance(value, bytes | bytearray | memoryview):
                        values.append(bytes(value))
                    elif value is not None:
                        values.append(str(value).encode())
    return values


def _sqlite_path(engine) -> Path:
    return Path(make_url(str(engine.url)).database)


def _sqlite_checkpoint(engine) -> None:
    # A plain connection: the app's engine wraps every statement in BEGIN IMMEDIATE, and a
    # checkpoint cannot run inside a transaction.
    conn = sqlite3.connect(_sqlite_path(engine), isolation_level=None)
    try:
        busy, _, _ = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        assert busy == 0
    finally:
        conn.close()


def _sqlite_files(engine, *, checkpoint: bool) -> bytes:
    path = _sqlite_path(engine)
    if checkpoint:
        _sqlite_checkpoint(engine)
    parts = [path, path.with_name(path.name + "-wal")]
    return b"".join(p.read_bytes() for p in parts if p.exists())


def _pg_relation_files(engine, exclude: tuple[str, ...] = ()) -> bytes:
    with engine.connect() as conn:
        conn.execute(text("CHECKPOINT"))
        rows = conn.execute(
            text(
                "SELECT c.relname, pg_relation_filepath(c.oid) FROM pg_class c "
                "WHERE c.relkind IN ('r', 't', 'i', 'm') AND pg_relation_filepath(c.oid) "
                "IS NOT NULL AND NOT c.relisshared"
            )
        ).all()
        excluded = _pg_owned_by(conn, exclude)
        chunks = []
        for name, path in rows:
            if name in excluded:
                continue
            chunks.append(
                bytes(conn.execute(text("SELECT pg_read_binary_file(:p)"), {"p": path}).scalar())
            )
        return b"".join(chunks)


def _pg_owned_by(conn, tables: tuple[str, ...]) -> set[str]:
    """The relation names that hold a table's data: heap, TOAST table and its index, indexes."""
    names: set[str] = set()
    for table in tables:
        names.add(table)
        names.update(
            conn.execute(
                text(
                    "SELECT indexrelid::regclass::text FROM pg_index "
                    "WHERE indrelid = CAST(:t AS regclass)"
                ),
                {"t": table},
            ).scalars()
        )
        toast = conn.execute(
            text("SELECT reltoastrelid FROM pg_class WHERE oid = CAST(:t AS regclass)"),
            {"t": table},
        ).scalar()
        if toast:
            names.update(
                conn.execute(
                    text(
                        "SELECT relname FROM pg_class WHERE oid = :o "
                        "UNION SELECT indexrelid::regclass::text FROM pg_index WHERE indrelid = :o"
                    ),
                    {"o": toast},
                ).scalars()
            )
    return {name.split(".")[-1] for name in names}


def _pg_wal(engine) -> bytes:
    with engine.connect() as conn:
        names = conn.execute(
            text("SELECT name FROM pg_ls_waldir() ORDER BY modification DESC LIMIT 2")
        ).scalars()
        return b"".join(
            bytes(
                conn.execute(text("SELECT pg_read_binary_file(:p)"), {"p": f"pg_wal/{n}"}).scalar()
            )
            for n in list(names)
        )


def _assert_sealed(haystack: bytes, markers: dict[str, str], where: str) -> None:
    assert markers["control"].encode() in haystack, f"{where}: the scan cannot see stored rows"
    for name in ("message", "title", "description"):
        assert markers[name].encode() not in haystack, f"{where}: {name} found in plaintext"


def test_api_reports_leave_no_plaintext_in_the_raw_database(app, api):
    markers = _markers()
    body = report_body(
        texts=("hello", f"[simulated scam message] {markers['message']}"),
        description=f"it is a scam {markers['description']}",
        reporter_id=markers["control"],
    )
    body["conversation"]["title"] = markers["title"]
    assert api.post(body).status_code == 201
    engine = app.extensions["vigil.engine"]

    values = b"\n".join(_rows_as_text(engine))
    _assert_sealed(values, markers, "rows read through SQL")
    if is_postgres(engine):
        _assert_sealed(_pg_relation_files(engine), markers, "PostgreSQL relation files")
        wal = _pg_wal(engine)
        for name in ("message", "title", "description"):
            assert markers[name].encode() not in wal, f"PostgreSQL WAL: {name} in plaintext"
    else:
        _assert_sealed(_sqlite_files(engine, checkpoint=False), markers, "SQLite file + WAL")
        _assert_sealed(_sqlite_files(engine, checkpoint=True), markers, "SQLite after checkpoint")


def _sqlite_pages(engine, *, owned_by: str) -> tuple[bytes, bytes]:
    """(pages of `owned_by` and its indexes, every other b-tree page) of the main file."""
    path = _sqlite_path(engine)
    _sqlite_checkpoint(engine)
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        size = conn.execute("PRAGMA page_size").fetchone()[0]
        pages = conn.execute("SELECT name, pageno FROM dbstat").fetchall()
        indexes = {
            name
            for (name,) in conn.execute(
                "SELECT name FROM sqlite_schema WHERE type = 'index' AND tbl_name = ?", (owned_by,)
            )
        }
    finally:
        conn.close()
    raw = path.read_bytes()
    mine, others = [], []
    for name, pageno in pages:
        page = raw[(pageno - 1) * size : pageno * size]
        (mine if name == owned_by or name in indexes else others).append(page)
    return b"".join(mine), b"".join(others)


def test_web_reports_leave_no_plaintext_in_the_raw_database(app, client, factory):
    """The user's own conversation store is sealed too (core.sealed_text), not only evidence."""
    markers = _markers()
    owner = factory.make_user(email=f"{markers['control'].lower()}@example.test")
    conversation = make_conversation(
        app, owner, texts=("hi", f"[simulated threat] {markers['message']}")
    )
    factory.login(client, owner)
    url = f"/conversations/{conversation.id}/report"
    data = {
        "category": "violent_threat",
        "message_ids": ["m1"],
        "description": markers["description"],
    }
    assert post_form(client, url, data, token_from=url).status_code == 302
    # Control: the owner still reads the message through Vigil.
    assert markers["message"] in client.get(f"/conversations/{conversation.id}").text
    engine = app.extensions["vigil.engine"]

    metadata = MetaData()
    metadata.reflect(engine)  # reflected types are plain Text: we see what is stored
    with engine.connect() as conn:
        for table in metadata.sorted_tables:
            for row in conn.execute(select(table)):
                dumped = repr(tuple(row)).encode() + b"".join(
                    bytes(v) for v in row if isinstance(v, bytes | memoryview)
                )
                assert markers["message"].encode() not in dumped, table.name
                assert markers["description"].encode() not in dumped, table.name

    if is_postgres(engine):
        with engine.connect() as conn:
            conn.execute(text("CHECKPOINT"))
            path = conn.execute(text("SELECT pg_relation_filepath('message')")).scalar()
            message_file = bytes(
                conn.execute(text("SELECT pg_read_binary_file(:p)"), {"p": path}).scalar()
            )
        others = _pg_relation_files(engine, exclude=("message",))
    else:
        message_file, others = _sqlite_pages(engine, owned_by="message")
    assert b"v2:" in message_file  # control: the scan sees the sealed message rows
    assert markers["control"].lower().encode() in others  # control: it sees other tables too
    assert markers["message"].encode() not in message_file + others
    assert markers["description"].encode() not in others + message_file


@pytest.mark.parametrize("channel", ["notice"])
def test_notice_contact_details_are_not_stored_in_plaintext(app, client, factory, channel):
    markers = _markers()
    conversation = make_conversation(app, factory.make_user())
    url = f"/notice/{conversation.public_ref}"
    data = {
        "category": "harassment",
        "explanation": markers["description"],
        "name": markers["title"],
        "email": f"{markers['message'].lower()}@example.test",
        "good_faith": "y",
    }
    assert post_form(client, url, data, token_from=url).status_code == 302
    values = b"\n".join(_rows_as_text(app.extensions["vigil.engine"]))
    for name in ("message", "title", "description"):
        assert markers[name].lower().encode() not in values.lower(), name
