"""Keys: development secrets generated into instance/ (0600), and the key ring.

The key ring is every key Vigil holds, decoded once in create_app: a malformed key stops
start-up, and no request decodes a key again.
"""

from __future__ import annotations

import base64
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from flask import current_app

GENERATORS = {
    "SECRET_KEY": lambda: secrets.token_urlsafe(48),
    "EVIDENCE_KEY": lambda: base64.b64encode(secrets.token_bytes(32)).decode(),
    "AUDIT_SIGNING_KEY": lambda: base64.b64encode(secrets.token_bytes(32)).decode(),
    "AUDIT_MAC_KEY": lambda: base64.b64encode(secrets.token_bytes(32)).decode(),
}


def ensure_dev_secret(instance: Path, name: str) -> str:
    """Return the secret stored in instance/<name>, creating it (0600) on first use."""
    path = instance / f"{name.lower()}.secret"
    if not path.exists():
        instance.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(GENERATORS[name]())
    return path.read_text(encoding="utf-8").strip()


def decode_key(value: str, name: str) -> bytes:
    """Decode a base64 32-byte key, naming the variable when it is malformed."""
    try:
        raw = base64.b64decode(value, validate=True)
    except ValueError as exc:
        raise ValueError(f"VIGIL_{name} is not valid base64") from exc
    if len(raw) != 32:
        raise ValueError(f"VIGIL_{name} must decode to 32 bytes, got {len(raw)}")
    return raw


def signing_key(value: str) -> Ed25519PrivateKey:
    """The Ed25519 checkpoint signing key from its base64 seed."""
    return Ed25519PrivateKey.from_private_bytes(decode_key(value, "AUDIT_SIGNING_KEY"))


@dataclass(frozen=True)
class KeyRing:
    """The evidence master keys (current first, then retired), the checkpoint signer and
    the access-log entry MAC key."""

    evidence: tuple[bytes, ...]
    signing: Ed25519PrivateKey
    entry_mac: bytes


def build_key_ring(settings: Mapping[str, Any]) -> KeyRing:
    """Decode every configured key; ValueError names the variable that is malformed."""
    old = [v.strip() for v in (settings.get("EVIDENCE_OLD_KEYS") or "").split(",") if v.strip()]
    evidence = [decode_key(settings["EVIDENCE_KEY"], "EVIDENCE_KEY")]
    evidence += [decode_key(value, "EVIDENCE_OLD_KEYS") for value in old]
    return KeyRing(
        evidence=tuple(evidence),
        signing=signing_key(settings["AUDIT_SIGNING_KEY"]),
        entry_mac=decode_key(settings["AUDIT_MAC_KEY"], "AUDIT_MAC_KEY"),
    )


def key_ring() -> KeyRing:
    """The running app's key ring."""
    return current_app.extensions["vigil.keys"]
