"""Development secrets generated once into instance/ with mode 0600."""

from __future__ import annotations

import base64
import os
import secrets
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

GENERATORS = {
    "SECRET_KEY": lambda: secrets.token_urlsafe(48),
    "EVIDENCE_KEY": lambda: base64.b64encode(secrets.token_bytes(32)).decode(),
    "AUDIT_SIGNING_KEY": lambda: base64.b64encode(secrets.token_bytes(32)).decode(),
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
