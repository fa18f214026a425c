"""C2SP signed notes and tlog checkpoints with Ed25519 keys.

Formats: https://c2sp.org/signed-note and https://c2sp.org/tlog-checkpoint,
compatible with golang.org/x/mod/sumdb/note (key IDs and verifier keys).
"""

import base64
import binascii
import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

ALG_ED25519 = 0x01
SIG_PREFIX = "\u2014 "  # em dash, space
MAX_SIGNATURES = 100  # the spec requires accepting at least 16; Go allows 100
HASH_SIZE = 32

_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f]")  # ASCII controls other than newline
_HEX_KEY_ID = re.compile(r"[0-9a-fA-F]{8}")
_TREE_SIZE = re.compile(r"0|[1-9][0-9]*")
_MAX_TREE_SIZE = 2**64 - 1


class NoteError(ValueError):
    """A note, checkpoint or key is malformed or fails to verify."""


class NoteSignature(NamedTuple):
    """One signature line: key name, 4-byte key ID and raw signature bytes."""

    name: str
    key_id: bytes
    signature: bytes


@dataclass(frozen=True)
class Checkpoint:
    """The parsed body of a tlog checkpoint."""

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()


def _b64decode(text: str) -> bytes:
    """Decode standard base64, refusing anything that does not re-encode identically."""
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise NoteError("invalid base64") from exc
    if base64.b64encode(raw).decode("ascii") != text:
        raise NoteError("non-canonical base64")
    return raw


def _b64encode(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _is_valid_name(name: str) -> bool:
    """Key names are non-empty, with no Unicode spaces, plus signs or control characters."""
    return (
        isinstance(name, str)
        and name != ""
        and "+" not in name
        and not any(ch.isspace() for ch in name)
        and not _CONTROL.search(name)
    )


def _check_text(text: str) -> None:
    """Refuse text that is not valid UTF-8 or contains ASCII controls other than newline."""
    if not isinstance(text, str):
        raise NoteError("note text must be str")
    if _CONTROL.search(text):
        raise NoteError("note contains an ASCII control character other than newline")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise NoteError("note is not valid UTF-8") from exc


def _raw_public_key(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes_raw()


def public_key_id(name: str, public_key: Ed25519PublicKey) -> bytes:
    """Return the 4-byte key ID SHA-256(name || 0x0A || 0x01 || public key)[:4]."""
    if not _is_valid_name(name):
        raise NoteError(f"invalid key name {name!r}")
    data = name.encode("utf-8") + b"\n" + bytes([ALG_ED25519]) + _raw_public_key(public_key)
    return hashlib.sha256(data).digest()[:4]


def verifier_key_string(name: str, public_key: Ed25519PublicKey) -> str:
    """Return the Go note verifier key "name+hexkeyid+base64(0x01 || public key)"."""
    key_id = public_key_id(name, public_key)
    key = bytes([ALG_ED25519]) + _raw_public_key(public_key)
    return f"{name}+{key_id.hex()}+{_b64encode(key)}"


def parse_verifier_key(vkey: str) -> tuple[str, bytes, Ed25519PublicKey]:
    """Parse a Go note verifier key into (name, key ID, public key)."""
    parts = vkey.split("+", 2) if isinstance(vkey, str) else []
    if len(parts) != 3:
        raise NoteError("verifier key must look like name+keyid+key")
    name, hex_id, key64 = parts
    if not _is_valid_name(name) or not _HEX_KEY_ID.fullmatch(hex_id):
        raise NoteError("malformed verifier key name or key ID")
    key = _b64decode(key64)
    if len(key) != 1 + 32 or key[0] != ALG_ED25519:
        raise NoteError("verifier key is not a 32-byte Ed25519 key (algorithm 0x01)")
    try:
        public_key = Ed25519PublicKey.from_public_bytes(key[1:])
    except ValueError as exc:
        raise NoteError("invalid Ed25519 public key") from exc
    key_id = bytes.fromhex(hex_id)
    if key_id != public_key_id(name, public_key):
        raise NoteError("verifier key ID does not match the name and key")
    return name, key_id, public_key


def make_checkpoint_body(
    origin: str, size: int, root: bytes, extensions: Sequence[str] = ()
) -> str:
    """Return the checkpoint note text "origin\\nsize\\nbase64(root)\\n" plus extension lines."""
    if not isinstance(origin, str) or not origin or "\n" in origin:
        raise NoteError("origin must be a non-empty single line")
    if type(size) is not int or not 0 <= size <= _MAX_TREE_SIZE:
        raise NoteError("tree size must be an int between 0 and 2**64-1")
    if not isinstance(root, bytes) or len(root) != HASH_SIZE:
        raise NoteError(f"root must be {HASH_SIZE} bytes")
    lines = [origin, str(size), _b64encode(root)]
    for line in extensions:
        if not isinstance(line, str) or not line or "\n" in line:
            raise NoteError("extension lines must be non-empty single lines")
        lines.append(line)
    body = "".join(line + "\n" for line in lines)
    _check_text(body)
    return body


def parse_checkpoint_body(body: str) -> Checkpoint:
    """Parse and validate checkpoint note text."""
    _check_text(body)
    if not body.endswith("\n"):
        raise NoteError("checkpoint must end with a newline")
    lines = body[:-1].split("\n")
    if len(lines) < 3:
        raise NoteError("checkpoint needs origin, tree size and root hash lines")
    if any(not line for line in lines):
        raise NoteError("checkpoint lines must be non-empty")
    origin, size_text, root_text, *extensions = lines
    if not _TREE_SIZE.fullmatch(size_text) or int(size_text) > _MAX_TREE_SIZE:
        raise NoteError(f"invalid tree size {size_text!r}")
    root = _b64decode(root_text)
    if len(root) != HASH_SIZE:
        raise NoteError(f"root hash must be {HASH_SIZE} bytes")
    return Checkpoint(origin, int(size_text), root, tuple(extensions))


def sign_note(body: str, name: str, private_key: Ed25519PrivateKey) -> str:
    """Sign note text with an Ed25519 key and return the signed note."""
    _check_text(body)
    if not body.endswith("\n"):
        raise NoteError("note text must end with a newline")
    if not _is_valid_name(name):
        raise NoteError(f"invalid key name {name!r}")
    key_id = public_key_id(name, private_key.public_key())
    signature = private_key.sign(body.encode("utf-8"))
    return f"{body}\n{SIG_PREFIX}{name} {_b64encode(key_id + signature)}\n"


def parse_note(text: str | bytes) -> tuple[str, list[NoteSignature]]:
    """Split a signed note into its text and signature lines, without verifying."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise NoteError("note is not valid UTF-8") from exc
    _check_text(text)
    split = text.rfind("\n\n")
    if split < 0:
        raise NoteError("note has no blank line before the signatures")
    body, block = text[: split + 1], text[split + 2 :]
    if not block.endswith("\n"):
        raise NoteError("note must end with a signature line and a newline")
    lines = block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise NoteError(f"note has more than {MAX_SIGNATURES} signatures")
    signatures = []
    for line in lines:
        if not line.startswith(SIG_PREFIX):
            raise NoteError("signature lines must start with an em dash and a space")
        name, _, sig64 = line[len(SIG_PREFIX) :].partition(" ")
        if not _is_valid_name(name) or not sig64:
            raise NoteError("malformed signature line")
        raw = _b64decode(sig64)
        if len(raw) < 5:
            raise NoteError("signature is too short")
        signatures.append(NoteSignature(name, raw[:4], raw[4:]))
    return body, signatures


def verify_note(text: str | bytes, known_keys: Mapping[tuple[str, bytes], Ed25519PublicKey]) -> str:
    """Return the note text if a known key signed it and no known key's signature is bad."""
    body, signatures = parse_note(text)
    message = body.encode("utf-8")
    verified = 0
    for sig in signatures:
        public_key = known_keys.get((sig.name, sig.key_id))
        if public_key is None:
            continue  # the spec says to ignore signatures from unknown keys
        try:
            public_key.verify(sig.signature, message)
        except InvalidSignature as exc:
            raise NoteError(f"invalid signature for key {sig.name}+{sig.key_id.hex()}") from exc
        verified += 1
    if not verified:
        raise NoteError("note has no signature from a known key")
    return body
