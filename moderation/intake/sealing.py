"""Sealed evidence: envelope encryption with AES-256-GCM.

Each case gets its own random 32-byte data key. Evidence blobs are sealed under that data
key; the data key itself is stored only wrapped under a master key (VIGIL_EVIDENCE_KEY), as
an ASCII token "v1.<key_id>.<nonce>.<ciphertext>" (unpadded URL-safe base64).

Binding. The wrap is authenticated together with the case context (see case_context) and the
blob together with (case id, evidence version) (see evidence_aad). A wrapped key copied onto
another case, or a blob copied onto another case or version, fails to open instead of
decrypting under the wrong label.

Why GCM to wrap, not AES key wrap (RFC 3394): GCM authenticates associated data, which is how
the wrapped key is bound to its case; RFC 3394 has no associated data, so binding would need
a second primitive. One primitive also means one implementation to review. Random 96-bit
nonces are safe up to about 2**32 encryptions per key (NIST SP 800-38D): a data key seals a
handful of blobs, and a master key wraps one key per case plus rewraps, far below that.

Rotation. rewrap() moves a wrapped data key to a new master key without touching the sealed
blobs; once every token is rewrapped the old master key can be destroyed.

Crypto-shredding. Deleting a case's wrapped key makes its sealed blobs permanently unreadable,
wherever copies of the blobs survive. Copies of the wrapped key survive in backups too, so
shredding is complete only once those backups expire, or once every live token has been
rewrapped to a new master key and the old master key is destroyed.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_BYTES = 32
NONCE_BYTES = 12
TAG_BYTES = 16
WRAP_FORMAT = "v1"

# Key ids go into the dot-separated token, so they may not contain dots.
_KEY_ID = re.compile(r"[A-Za-z0-9_-]{1,32}")
_B64URL = re.compile(r"[A-Za-z0-9_-]*")
# Distinct labels keep a wrap and a seal from ever being accepted as each other.
_WRAP_LABEL = b"vigil/wrap/v1"
_SEAL_LABEL = b"vigil/seal/v1"


class SealError(Exception):
    """A token or blob did not open: unknown key id, wrong context, or tampering."""


def key_id_for(key: bytes) -> str:
    """The default key id: the first 8 hex characters of SHA-256 of the key."""
    return hashlib.sha256(key).hexdigest()[:8]


@dataclass(frozen=True)
class MasterKey:
    """A 32-byte key-encryption key and the short id written into the tokens it wraps."""

    key_id: str
    # Left out of repr so a key never lands in a log line or a traceback.
    key: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.key, bytes) or len(self.key) != KEY_BYTES:
            raise ValueError(f"a master key must be {KEY_BYTES} bytes")
        if not isinstance(self.key_id, str) or not _KEY_ID.fullmatch(self.key_id):
            raise ValueError("a key id is 1-32 characters of A-Z a-z 0-9 _ -")

    @classmethod
    def from_key(cls, key: bytes, key_id: str | None = None) -> MasterKey:
        """A master key named by the configured id, or by key_id_for(key) when none is set."""
        return cls(key_id=key_id or key_id_for(key), key=key)


def keyring(*masters: MasterKey) -> dict[str, MasterKey]:
    """Master keys by id, refusing two different keys under one id."""
    ring: dict[str, MasterKey] = {}
    for master in masters:
        known = ring.get(master.key_id)
        if known is not None and known.key != master.key:
            raise ValueError(f"two different master keys share the id {master.key_id!r}")
        ring[master.key_id] = master
    return ring


def case_context(case_id: str | int) -> bytes:
    """The context that binds a wrapped data key to its case."""
    return json.dumps(["vigil.case", str(case_id)], separators=(",", ":")).encode()


def evidence_aad(case_id: str | int, version: int) -> bytes:
    """The associated data that binds a sealed blob to its case and evidence version."""
    if isinstance(version, bool) or not isinstance(version, int) or version < 0:
        raise ValueError("evidence version must be a whole number >= 0")
    # JSON framing keeps ("1", 23) and ("12", 3) apart, unlike plain concatenation.
    return json.dumps(["vigil.evidence", str(case_id), version], separators=(",", ":")).encode()


def new_data_key() -> bytes:
    """A fresh random 32-byte data key for one case."""
    return secrets.token_bytes(KEY_BYTES)


def _check_key(key: bytes, what: str) -> None:
    if not isinstance(key, bytes) or len(key) != KEY_BYTES:
        raise ValueError(f"{what} must be {KEY_BYTES} bytes")


def _frame(*parts: bytes) -> bytes:
    # Length-prefix each part so no two different part lists frame to the same bytes.
    return b"".join(len(part).to_bytes(4, "big") + part for part in parts)


def _b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    if not _B64URL.fullmatch(text):
        raise SealError("malformed key token")
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise SealError("malformed key token") from exc
    # Only the canonical spelling is accepted, so every edit to a token is an error.
    if _b64encode(raw) != text:
        raise SealError("malformed key token")
    return raw


def wrap(master: MasterKey, data_key: bytes, *, context: bytes) -> str:
    """Encrypt a data key under a master key, bound to context; returns an ASCII token."""
    _check_key(data_key, "a data key")
    nonce = secrets.token_bytes(NONCE_BYTES)
    aad = _frame(_WRAP_LABEL, master.key_id.encode("ascii"), context)
    wrapped = AESGCM(master.key).encrypt(nonce, data_key, aad)
    return ".".join((WRAP_FORMAT, master.key_id, _b64encode(nonce), _b64encode(wrapped)))


def unwrap(keys: Mapping[str, MasterKey], token: str, *, context: bytes) -> bytes:
    """Recover the data key from a token; SealError on unknown key id, wrong context or tamper."""
    parts = token.split(".") if isinstance(token, str) else []
    if len(parts) != 4 or parts[0] != WRAP_FORMAT:
        raise SealError("malformed or unsupported key token")
    _, key_id, nonce_text, wrapped_text = parts
    master = keys.get(key_id)
    if master is None:
        raise SealError(f"unknown master key id {key_id!r}")
    nonce, wrapped = _b64decode(nonce_text), _b64decode(wrapped_text)
    if len(nonce) != NONCE_BYTES or len(wrapped) != KEY_BYTES + TAG_BYTES:
        raise SealError("malformed key token")
    aad = _frame(_WRAP_LABEL, key_id.encode("ascii"), context)
    try:
        return AESGCM(master.key).decrypt(nonce, wrapped, aad)
    except InvalidTag:
        raise SealError("key token did not authenticate (wrong context or tampered)") from None


def rewrap(
    keys: Mapping[str, MasterKey], new_master: MasterKey, token: str, *, context: bytes
) -> str:
    """Re-encrypt a wrapped data key under new_master; sealed blobs stay as they are."""
    return wrap(new_master, unwrap(keys, token, context=context), context=context)


def seal(data_key: bytes, plaintext: bytes, *, aad: bytes) -> bytes:
    """Encrypt evidence under a data key, bound to aad; returns nonce || ciphertext+tag."""
    _check_key(data_key, "a data key")
    nonce = secrets.token_bytes(NONCE_BYTES)
    return nonce + AESGCM(data_key).encrypt(nonce, plaintext, _frame(_SEAL_LABEL, aad))


def open_sealed(data_key: bytes, blob: bytes, *, aad: bytes) -> bytes:
    """Decrypt a sealed blob; SealError if the key or aad is wrong or the blob was altered."""
    _check_key(data_key, "a data key")
    if len(blob) < NONCE_BYTES + TAG_BYTES:
        raise SealError("sealed blob is truncated")
    nonce, body = blob[:NONCE_BYTES], blob[NONCE_BYTES:]
    try:
        return AESGCM(data_key).decrypt(nonce, body, _frame(_SEAL_LABEL, aad))
    except InvalidTag:
        raise SealError(
            "sealed blob did not authenticate (wrong key, wrong aad or tampered)"
        ) from None


def content_hash(canonical_bytes: bytes) -> str:
    """The evidence fingerprint "sha256:<hex>" of the canonical plaintext bytes."""
    return "sha256:" + hashlib.sha256(canonical_bytes).hexdigest()
