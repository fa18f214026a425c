"""Text encrypted at rest and bound to its row, transparently, for every `SealedText` column.

The column stores "v2:<key id>:<base64 nonce||ciphertext>" (AES-256-GCM) under a store key
derived (HKDF-SHA256) from the evidence master key, so the same key management, rotation
(`keys rotate-evidence`) and key-outside-the-database rule apply. Each engine carries its
keys on its dialect (attach_keys), so several apps with different keys can live in one
process (tests).

Binding. The associated data names the table, the column and the row's primary key
(`row_aad`), so a value copied into another column (a TOTP seed into a message) or another
row (one user's message into another's) does not open. The primary key is the row's
identity: every other row refers to it, it never changes, and it is known before the
INSERT because `_allocate_id` draws it first (the sequence on PostgreSQL; on SQLite the
next rowid, safe because every writing transaction holds the write lock, see core.db). A
random per-row nonce would not do: a database writer would copy it along with the value.

A value that does not open is never shown and never used: the attribute holds WITHHELD
(a visible marker, logged with its table, column and row), so the one page that shows it
says so and every other page works. Code that uses a value as a key checks `is_withheld`.
The empty string is stored as itself (a purge blanks values with a plain UPDATE).

Writes go through the ORM (mapper events seal with the row's key); the column type
refuses any other value, so a Core INSERT or UPDATE can never store text in the clear.
Reads open in the ORM's load and refresh events; a column-only query (select(Model.col))
gets the stored form and opens it with open_for_row.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import logging
import os
from collections.abc import Iterable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import Text, event, func, select, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Mapper, Session
from sqlalchemy.orm.attributes import flag_modified, get_history, set_committed_value
from sqlalchemy.types import TypeDecorator

log = logging.getLogger("vigil.sealed")

PREFIX = "v2"
LEGACY_PREFIX = "v1"
# v1 sealed every value under this one associated data; it stays the key-derivation label.
LEGACY_AAD = b"vigil/conversation-store/message-text/v1"
_AAD_LABEL = b"vigil/sealed/v2"


class SealBroken(RuntimeError):
    """A sealed value cannot be written or opened as asked."""


class Withheld(str):
    """What a value that failed to open reads as: a marker, never the stored secret."""


WITHHELD = Withheld("[withheld: this stored value failed its integrity check]")


def is_withheld(value: object) -> bool:
    """True for a value that did not open (never use it as a key or parse it)."""
    return isinstance(value, Withheld)


class Envelope(str):
    """A sealed value on its way to the database, remembering its plaintext."""

    plain: str


class StoreKeys:
    """The key new text is sealed with, and every key that may open old text."""

    def __init__(self, masters: Iterable[bytes]) -> None:
        self.ring: dict[str, bytes] = {}
        self.current = ""
        for master in masters:
            key_id = hashlib.sha256(master).hexdigest()[:8]
            derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=LEGACY_AAD).derive(
                master
            )
            self.ring[key_id] = derived
            self.current = self.current or key_id


def attach_keys(engine: Engine, masters: Iterable[bytes]) -> None:
    """Give this engine's column type the keys (first = current, others = retired)."""
    engine.dialect.vigil_store_keys = StoreKeys(masters)


def store_keys(dialect) -> StoreKeys:
    """The keys attached to this dialect's engine."""
    keys = getattr(dialect, "vigil_store_keys", None)
    if keys is None:
        raise SealBroken("no conversation-store keys on this engine (core.sealed_text)")
    return keys


def row_aad(table: str, column: str, row_key: object) -> bytes:
    """The associated data of one value: table, column and the row's primary key."""
    return b"\0".join((_AAD_LABEL, table.encode(), column.encode(), str(row_key).encode()))


def seal(keys: StoreKeys, plaintext: str, *, aad: bytes, prefix: str = PREFIX) -> str:
    """Encrypt under the current key; the stored form names the key."""
    nonce = os.urandom(12)
    sealed = AESGCM(keys.ring[keys.current]).encrypt(nonce, plaintext.encode("utf-8"), aad)
    return f"{prefix}:{keys.current}:{base64.b64encode(nonce + sealed).decode()}"


def open_value(keys: StoreKeys, stored: str, *, aad: bytes, prefix: str = PREFIX) -> str:
    """Decrypt what seal() stored; SealBroken if it is not ours, not here or altered."""
    try:
        got, key_id, blob = stored.split(":", 2)
        raw = base64.b64decode(blob, validate=True)
    except ValueError as exc:
        raise SealBroken("not a sealed value") from exc
    key = keys.ring.get(key_id)
    if got != prefix or key is None:
        raise SealBroken(f"sealed under unknown key or format {got}:{key_id}")
    try:
        return AESGCM(key).decrypt(raw[:12], raw[12:], aad).decode("utf-8")
    except (InvalidTag, ValueError) as exc:
        raise SealBroken("sealed value does not belong to this row or was altered") from exc


def open_for_row(dialect, table: str, column: str, row_key: object, stored: str | None):
    """The plaintext of one stored value (column-only queries), WITHHELD if it fails."""
    if not stored:
        return stored
    try:
        return open_value(store_keys(dialect), stored, aad=row_aad(table, column, row_key))
    except SealBroken as exc:
        log.warning("withheld %s.%s of row %s: %s", table, column, row_key, exc)
        return WITHHELD


def seal_for_row(dialect, table: str, column: str, row_key: object, plaintext: str) -> Envelope:
    """A value sealed for one row, for bulk writers that INSERT with Core and know the id."""
    envelope = Envelope(seal(store_keys(dialect), plaintext, aad=row_aad(table, column, row_key)))
    envelope.plain = plaintext
    return envelope


class SealedText(TypeDecorator):
    """A Text column holding only sealed values (or "" or NULL); the ORM seals and opens."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None or value == "" or isinstance(value, Envelope):
            return value if value is None else str(value)
        raise SealBroken("refusing to store unsealed text in a sealed column (write via the ORM)")


# --- the ORM side: seal before INSERT/UPDATE, open on load --------------------------


@functools.cache
def _sealed_columns(mapper: Mapper) -> tuple[tuple[str, str], ...]:
    """(attribute, column name) of every SealedText column of this mapper."""
    return tuple(
        (prop.key, prop.columns[0].name)
        for prop in mapper.column_attrs
        if isinstance(prop.columns[0].type, SealedText)
    )


def _row_key(mapper: Mapper, target) -> str:
    return "-".join(str(v) for v in mapper.primary_key_from_instance(target))


def _allocate_id(connection: Connection, mapper: Mapper) -> int:
    """The primary key the next INSERT into this table will use."""
    table, pk = mapper.local_table, mapper.primary_key[0]
    if connection.dialect.name == "postgresql":
        name = connection.dialect.identifier_preparer.format_table(table)
        query = text("SELECT nextval(pg_get_serial_sequence(:t, :c))")
        return connection.execute(query, {"t": name, "c": pk.name}).scalar_one()
    # SQLite: this transaction holds the write lock (BEGIN IMMEDIATE), so nobody else can
    # take the next rowid first; ids handed out in this flush are not inserted yet.
    issued = connection.info.setdefault("vigil_issued_ids", {})
    top = connection.execute(select(func.max(pk))).scalar() or 0
    issued[table.name] = max(top, issued.get(table.name, 0)) + 1
    return issued[table.name]


def _seal_attrs(mapper: Mapper, connection: Connection, target, attrs) -> None:
    keys = store_keys(connection.dialect)
    row_key = _row_key(mapper, target)
    for attr, column in attrs:
        value = target.__dict__.get(attr)
        if isinstance(value, Withheld):
            raise SealBroken(f"refusing to seal {mapper.local_table.name}.{column}: withheld")
        if value is None or value == "" or isinstance(value, Envelope):
            continue
        envelope = Envelope(
            seal(keys, value, aad=row_aad(mapper.local_table.name, column, row_key))
        )
        envelope.plain = value
        setattr(target, attr, envelope)


def _before_insert(mapper, connection, target) -> None:
    attrs = _sealed_columns(mapper)
    if not attrs:
        return
    # Every row of the table draws its id, even one with nothing to seal (an empty text):
    # on SQLite a row left to the database would take max(id) + 1, an id already issued to
    # a later row of the same flush (UNIQUE constraint failed: message.id).
    pk_attr = mapper.get_property_by_column(mapper.primary_key[0]).key
    if getattr(target, pk_attr) is None:
        setattr(target, pk_attr, _allocate_id(connection, mapper))
    _seal_attrs(mapper, connection, target, attrs)


def _before_update(mapper, connection, target) -> None:
    changed = [
        (attr, column)
        for attr, column in _sealed_columns(mapper)
        if get_history(target, attr).has_changes()
    ]
    _seal_attrs(mapper, connection, target, changed)


def _after_write(mapper, _connection, target) -> None:
    for attr, _ in _sealed_columns(mapper):
        value = target.__dict__.get(attr)
        if isinstance(value, Envelope):
            set_committed_value(target, attr, value.plain)


def _open_loaded(target, context, attrs=None) -> None:
    if context is None:  # values a bulk UPDATE set from Python (only "" reaches a sealed column)
        return
    state = target._sa_instance_state
    mapper = state.mapper
    dialect = context.session.get_bind(mapper=mapper).dialect
    row_key = "-".join(str(v) for v in state.identity)
    for attr, column in _sealed_columns(mapper):
        if (attrs is not None and attr not in attrs) or attr not in state.dict:
            continue
        stored = state.dict[attr]
        if stored and not isinstance(stored, Envelope):
            opened = open_for_row(dialect, mapper.local_table.name, column, row_key, stored)
            set_committed_value(target, attr, opened)


@event.listens_for(Mapper, "mapper_configured")
def _bind_sealed_columns(mapper: Mapper, class_) -> None:
    if not _sealed_columns(mapper):
        return
    event.listen(mapper, "before_insert", _before_insert)
    event.listen(mapper, "before_update", _before_update)
    event.listen(mapper, "after_insert", _after_write)
    event.listen(mapper, "after_update", _after_write)
    event.listen(class_, "load", _open_loaded)
    event.listen(class_, "refresh", _open_loaded)


def reseal_all(session: Session, *, batch: int = 500) -> int:
    """Re-encrypt every sealed value under the current store key (key rotation); values
    that do not open stay as they are. Returns how many rows were rewritten."""
    from sqlmodel import SQLModel

    count = 0
    for mapper in sorted(SQLModel._sa_registry.mappers, key=lambda m: m.local_table.name):
        attrs = _sealed_columns(mapper)
        if not attrs:
            continue
        pk = mapper.primary_key[0]
        last = None
        while True:
            query = select(mapper.class_).order_by(pk).limit(batch)
            if last is not None:
                query = query.where(pk > last)
            rows = session.scalars(query).all()
            if not rows:
                break
            for row in rows:
                opened = [
                    a for a, _ in attrs if getattr(row, a) and not is_withheld(getattr(row, a))
                ]
                for attr in opened:
                    flag_modified(row, attr)  # read with any ring key, written with the current
                count += bool(opened)
            session.flush()
            last = getattr(rows[-1], mapper.get_property_by_column(pk).key)
    return count
