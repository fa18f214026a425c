"""Conversation text encrypted at rest, transparently, in the column type itself.

Vigil's own conversation store must not hold message text in plaintext either: a
database dump reveals nothing. The column stores "v1:<key id>:<base64 nonce||ciphertext>"
(AES-256-GCM) under a store key derived (HKDF-SHA256) from the evidence master key, so
the same key management, rotation (`keys rotate-evidence`) and key-outside-the-database
rule apply. Each engine carries its keys on its dialect (attach_keys), so several apps
with different keys can live in one process (tests).
"""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Iterable

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import Text
from sqlalchemy.engine import Engine
from sqlalchemy.types import TypeDecorator

PREFIX = "v1"
AAD = b"vigil/conversation-store/message-text/v1"


class StoreKeys:
    """The key new text is sealed with, and every key that may open old text."""

    def __init__(self, masters: Iterable[bytes]) -> None:
        self.ring: dict[str, bytes] = {}
        self.current = ""
        for master in masters:
            key_id = hashlib.sha256(master).hexdigest()[:8]
            derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=AAD).derive(master)
            self.ring[key_id] = derived
            self.current = self.current or key_id


def attach_keys(engine: Engine, masters: Iterable[bytes]) -> None:
    """Give this engine's column type the keys (first = current, others = retired)."""
    engine.dialect.vigil_store_keys = StoreKeys(masters)


def _keys(dialect) -> StoreKeys:
    keys = getattr(dialect, "vigil_store_keys", None)
    if keys is None:
        raise RuntimeError("no conversation-store keys on this engine (core.sealed_text)")
    return keys


class SealedText(TypeDecorator):
    """A Text column whose values are sealed on write and opened on read."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        keys = _keys(dialect)
        nonce = os.urandom(12)
        sealed = AESGCM(keys.ring[keys.current]).encrypt(nonce, value.encode("utf-8"), AAD)
        return f"{PREFIX}:{keys.current}:{base64.b64encode(nonce + sealed).decode()}"

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        prefix, key_id, blob = value.split(":", 2)
        key = _keys(dialect).ring.get(key_id)
        if prefix != PREFIX or key is None:
            raise RuntimeError(f"message text sealed under unknown key {key_id!r}")
        raw = base64.b64decode(blob)
        return AESGCM(key).decrypt(raw[:12], raw[12:], AAD).decode("utf-8")
