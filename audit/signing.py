"""Checkpoint signing keys: the current Ed25519 key, trusted public keys, rotation.

Trusted public keys live in a file outside the database (VIGIL_AUDIT_VERIFIER_KEYS,
default <instance>/audit_verifier_keys.txt), one Go note verifier key per line: someone
who can write the database must not be able to add a key and sign a rewritten history.
"""

from __future__ import annotations

import base64
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from flask import Flask, current_app

from audit.tlog.signed_note import parse_verifier_key, public_key_id, verifier_key_string
from core.keys import signing_key

DEV_KEY_FILE = "audit_signing_key.secret"  # where core.keys keeps the development key
KnownKeys = dict[tuple[str, bytes], Ed25519PublicKey]


class KeyRotationError(RuntimeError):
    """The signing key cannot be rotated as asked."""


@dataclass(frozen=True)
class Signer:
    """The key that signs new checkpoints, under the log's origin as key name."""

    name: str
    private_key: Ed25519PrivateKey

    @property
    def key_id(self) -> str:
        """Hex of the 4-byte note key ID."""
        return public_key_id(self.name, self.private_key.public_key()).hex()

    @property
    def verifier_key(self) -> str:
        """The public verifier key string to hand to auditors."""
        return verifier_key_string(self.name, self.private_key.public_key())


def current_signer(app: Flask | None = None) -> Signer:
    """The app's signer: VIGIL_AUDIT_ORIGIN and the key ring's checkpoint key."""
    app = app or current_app
    return Signer(app.config["VIGIL"]["AUDIT_ORIGIN"], app.extensions["vigil.keys"].signing)


def verifier_keys_path(settings: Mapping[str, Any], instance: Path) -> Path:
    """Where trusted public keys are listed."""
    configured = settings.get("AUDIT_VERIFIER_KEYS") or ""
    return Path(configured) if configured else instance / "audit_verifier_keys.txt"


def read_verifier_keys(path: Path) -> list[str]:
    """Verifier key strings from the file (blank lines and # comments skipped)."""
    if not path.exists():
        return []
    lines = path.read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def remember_key(path: Path, verifier_key: str) -> bool:
    """Append a verifier key to the trusted list unless it is there already."""
    parse_verifier_key(verifier_key)  # refuse malformed keys before they are trusted
    if verifier_key in read_verifier_keys(path):
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as handle:
        handle.write(verifier_key + "\n")
    return True


def known_keys(verifier_keys: list[str], signer: Signer | None = None) -> KnownKeys:
    """Keys for notes.verify_note: the listed ones plus the current signer's."""
    keys: KnownKeys = {}
    for vkey in [*verifier_keys, *([signer.verifier_key] if signer else [])]:
        name, key_id, public_key = parse_verifier_key(vkey)
        keys[(name, key_id)] = public_key
    return keys


def _write_secret(path: Path, value: str, *, replace: bool) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    target = path.with_name(path.name + ".new") if replace else path
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(value)
        handle.flush()
        os.fsync(handle.fileno())
    if replace:
        os.replace(target, path)  # atomic: a crash leaves the old key or the new one


def rotate_signing_key(
    settings: Mapping[str, Any], instance: Path, *, old: Signer, out: Path | None = None
) -> tuple[Signer, Signer]:
    """Write a new signing key and trust both public keys; returns (old, new) signers."""
    dev_file = instance / DEV_KEY_FILE
    from_dev_file = (
        dev_file.exists()
        and dev_file.read_text(encoding="utf-8").strip() == settings["AUDIT_SIGNING_KEY"]
    )
    if out is None and not from_dev_file:
        raise KeyRotationError(
            "the key comes from VIGIL_AUDIT_SIGNING_KEY: pass --out FILE, then point "
            "VIGIL_AUDIT_SIGNING_KEY_FILE at that file and restart the checkpoint sidecar"
        )
    if out is not None and out.exists():
        raise KeyRotationError(f"{out} exists; keys are never overwritten")
    seed = base64.b64encode(secrets.token_bytes(32)).decode("ascii")
    new = Signer(old.name, signing_key(seed))
    keys_file = verifier_keys_path(settings, instance)
    remember_key(keys_file, old.verifier_key)  # old checkpoints must stay verifiable
    remember_key(keys_file, new.verifier_key)
    _write_secret(out or dev_file, seed, replace=out is None)
    return old, new
