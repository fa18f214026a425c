#!/usr/bin/env python3
"""Check a Vigil access-log export against a signed checkpoint, without Vigil.

Standard library and `cryptography` only; shares no code with Vigil. The formats are in
docs/verify-the-log.md. Exit 0 only when the checkpoint is signed by the given key and the
export's first `size` entries are exactly the ones it signed; 1 otherwise, 2 on misuse.
Entry MACs and note commitments need secrets Vigil keeps, so they are not checked here.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import json
import re
import sys

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

GENESIS = bytes(32)  # the previous hash of entry 0
EMPTY_ROOT = hashlib.sha256(b"").digest()  # RFC 6962 hash of the empty tree
FORMAT_1 = (
    "format", "seq", "occurred_at", "actor_id", "actor_label", "action", "decision",
    "reason_code", "case_id", "conversation_id", "evidence_version", "request_id",
    "client_address", "note_commitment",
)  # fmt: skip
FIELDS = {1: FORMAT_1, 2: (*FORMAT_1, "queue", "message", "grant_id")}
HASHES = ("prev_hash", "leaf_hash", "entry_hash")
NOT_HASHED = {"note", "note_status", "entry_mac", *HASHES}  # export columns outside the leaf
CHAIN_HEAD, SIGNED_AT = "vigil-chain-head", "vigil-time"
SIG_PREFIX = "\u2014 "  # em dash, space
CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f]")  # ASCII controls other than newline
TREE_SIZE = re.compile(r"0|[1-9][0-9]*")
HEX_HASH = re.compile(r"[0-9a-f]{64}")
SHOWN = 50  # problems printed before "... and N more"


class Unusable(Exception):
    """The key or checkpoint cannot be used at all: (code, message)."""


def b64decode(text: str, what: str, code: str = "bad_checkpoint") -> bytes:
    """Strict standard base64 that re-encodes to the same text."""
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raw = None
    if raw is None or base64.b64encode(raw).decode("ascii") != text:
        raise Unusable(code, f"{what} is not canonical base64")
    return raw


def key_id(name: str, raw_key: bytes) -> bytes:
    """First 4 bytes of SHA-256(name || 0x0A || 0x01 || Ed25519 public key)."""
    return hashlib.sha256(name.encode("utf-8") + b"\n\x01" + raw_key).digest()[:4]


def valid_name(name: str) -> bool:
    return bool(name) and "+" not in name and not any(c.isspace() for c in name)


def parse_key(vkey: str) -> tuple[str, bytes, Ed25519PublicKey]:
    """A Go note verifier key "name+hex key id+base64(0x01 || 32-byte public key)"."""
    parts = vkey.split("+", 2)
    if len(parts) != 3 or not valid_name(parts[0]) or not re.fullmatch("[0-9a-fA-F]{8}", parts[1]):
        raise Unusable("bad_key", "the verifier key must look like name+keyid+base64key")
    name, hex_id, key64 = parts
    raw = b64decode(key64, "the verifier key", "bad_key")
    if len(raw) != 33 or raw[0] != 0x01:
        raise Unusable("bad_key", "the verifier key is not an Ed25519 key (0x01 + 32 bytes)")
    if key_id(name, raw[1:]) != bytes.fromhex(hex_id):
        raise Unusable("bad_key", "the verifier key's id does not match its name and key")
    return name, bytes.fromhex(hex_id), Ed25519PublicKey.from_public_bytes(raw[1:])


def read_checkpoint(data: bytes, vkey: str, origin: str | None) -> dict:
    """Verify the signed note with the key, then parse the checkpoint it carries."""
    name, kid, public_key = parse_key(vkey)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise Unusable("bad_checkpoint", "the checkpoint is not UTF-8") from None
    if CONTROL.search(text):
        raise Unusable("bad_checkpoint", "the checkpoint holds a control character")
    split = text.rfind("\n\n")
    if split < 0 or not text.endswith("\n"):
        raise Unusable("bad_checkpoint", "not a signed note (no blank line before signatures)")
    body, lines = text[: split + 1], text[split + 2 : -1].split("\n")
    ours = 0
    for line in lines:
        signer, _, sig64 = line[len(SIG_PREFIX) :].partition(" ")
        if not line.startswith(SIG_PREFIX) or not valid_name(signer) or not sig64:
            raise Unusable("bad_checkpoint", f"malformed signature line {line!r}")
        raw = b64decode(sig64, "a signature")
        if signer != name or raw[:4] != kid:
            continue  # signatures by other keys are ignored, as the note spec says
        try:
            public_key.verify(raw[4:], body.encode("utf-8"))
        except InvalidSignature:
            raise Unusable("bad_signature", f"the signature by {name}+{kid.hex()} is bad") from None
        ours += 1
    if not ours:
        raise Unusable("unknown_key", f"the checkpoint is not signed by {name}+{kid.hex()}")
    body_lines = body[:-1].split("\n")
    if len(body_lines) < 3 or "" in body_lines or not TREE_SIZE.fullmatch(body_lines[1]):
        raise Unusable("bad_checkpoint", "the checkpoint body is not origin, size, root, ...")
    head, size, root64, *extensions = body_lines
    root = b64decode(root64, "the root hash")
    if len(root) != 32:
        raise Unusable("bad_checkpoint", "the root hash is not 32 bytes")
    if head != (origin if origin is not None else name):
        want = f"--origin {origin!r}" if origin is not None else f"the key name {name!r}"
        raise Unusable("origin_mismatch", f"the checkpoint's origin {head!r} is not {want}")
    extra: dict[str, str] = {}
    for line in extensions:
        label, _, value = line.partition(" ")
        if label in extra:
            raise Unusable("bad_checkpoint", f"two {label!r} lines")
        extra[label] = value
    if CHAIN_HEAD not in extra:
        raise Unusable("bad_checkpoint", f"no {CHAIN_HEAD!r} line: not a Vigil checkpoint")
    chain_head = b64decode(extra[CHAIN_HEAD], "the chain head")
    if len(chain_head) != 32:
        raise Unusable("bad_checkpoint", "the chain head is not 32 bytes")
    return {
        "origin": head,
        "size": int(size),
        "root": root,
        "chain_head": chain_head,
        "signed_at": extra.get(SIGNED_AT, "(no vigil-time line)"),
        "key": f"{name}+{kid.hex()}",
    }


def strict_object(pairs: list) -> dict:
    if len({key for key, _ in pairs}) != len(pairs):
        raise ValueError("a key appears twice")
    return dict(pairs)


def no_constant(name: str):
    raise ValueError(f"{name} is not a JSON number")


def read_export(path: str, problem):
    """Yield (line number, object) for each JSON line; report lines that are not objects."""
    with open(path, "rb") as handle:
        lines = handle.read().splitlines()
    for number, raw in enumerate(lines, 1):
        try:
            text = raw.decode("utf-8")
            row = json.loads(text, object_pairs_hook=strict_object, parse_constant=no_constant)
        except ValueError as exc:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
            row = exc
        if type(row) is dict:
            yield number, row
        else:
            hint = " (CSV cannot be verified: use the JSON Lines export)" if number == 1 else ""
            problem("bad_export", f"line {number} is not a JSON object: {row}{hint}")


def leaf_of(row: dict, where: str, problem) -> bytes | None:
    """SHA-256(0x00 || canonical JSON of the fields of the entry's own format)."""
    fmt = row.get("format")
    fields = FIELDS.get(fmt) if type(fmt) is int else None
    if fields is None:
        problem("unknown_format", f"{where}: unknown entry format {fmt!r} (known: 1, 2)")
        return None
    missing = [name for name in fields if name not in row]
    extra = sorted(set(row) - set(fields) - NOT_HASHED)
    if missing:
        problem("missing_field", f"{where}: format {fmt} needs {', '.join(missing)}")
        return None
    if extra:
        problem("uncommitted_field", f"{where}: {', '.join(extra)} not covered by the leaf")
    values = {name: row[name] for name in fields}
    bad = [n for n, v in values.items() if type(v) not in (type(None), bool, int, str)]
    if bad:
        problem("bad_value", f"{where}: {', '.join(bad)} must be null, a number or a string")
        return None
    text = json.dumps(values, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    try:
        return hashlib.sha256(b"\x00" + text.encode("utf-8")).digest()
    except UnicodeEncodeError:
        problem("bad_value", f"{where}: a string holds a lone surrogate")
        return None


def hex_hash(row: dict, name: str, where: str, problem) -> bytes:
    """A hash column as 32 bytes; a malformed one becomes a value no real hash equals."""
    value = row.get(name)
    if isinstance(value, str) and HEX_HASH.fullmatch(value):
        return bytes.fromhex(value)
    problem("bad_value", f"{where}: {name} is not 64 lowercase hex digits")
    return hashlib.sha256(b"malformed:" + repr(value).encode()).digest()


class Root:
    """RFC 6962 Merkle tree hash of leaves added in order (a stack of perfect subtrees)."""

    def __init__(self) -> None:
        self.stack: list[tuple[int, bytes]] = []

    def add(self, leaf: bytes) -> None:
        count, node = 1, leaf
        while self.stack and self.stack[-1][0] == count:
            node = hashlib.sha256(b"\x01" + self.stack.pop()[1] + node).digest()
            count *= 2
        self.stack.append((count, node))

    def value(self) -> bytes:
        if not self.stack:
            return EMPTY_ROOT
        node = self.stack[-1][1]
        for _count, left in reversed(self.stack[:-1]):
            node = hashlib.sha256(b"\x01" + left + node).digest()
        return node


def check_export(path: str, cp: dict, problem) -> tuple[int, int]:
    """Check every line; returns (entries read, notes whose commitment only Vigil can check)."""
    root, chain, expected, prev_stored = Root(), GENESIS, 0, GENESIS
    at_size = (EMPTY_ROOT, GENESIS) if cp["size"] == 0 else None
    count = notes = 0
    for number, row in read_export(path, problem):
        seq = row.get("seq")
        where = f"line {number} (entry {seq})"
        if type(seq) is not int:
            problem("bad_value", f"line {number}: seq {seq!r} is not an integer")
        elif seq > expected:
            gone = f"entry {expected}" if seq == expected + 1 else f"entries {expected}..{seq - 1}"
            problem("sequence_gap", f"{where}: {gone} not before it (deleted or moved)")
        elif seq < expected:
            problem("sequence_order", f"{where}: after entry {expected - 1} (moved or repeated)")
        prev, stored_leaf, entry_hash = (hex_hash(row, name, where, problem) for name in HASHES)
        leaf = leaf_of(row, where, problem)
        if leaf is not None and leaf != stored_leaf:
            problem("edited", f"{where}: the fields do not hash to its leaf_hash")
        if hashlib.sha256(prev + stored_leaf).digest() != entry_hash:
            problem("hash_mismatch", f"{where}: entry_hash is not SHA-256(prev_hash || leaf_hash)")
        if prev != prev_stored:
            problem("chain_broken", f"{where}: prev_hash is not the entry_hash of the line before")
        leaf = leaf or stored_leaf
        root.add(leaf)
        chain = hashlib.sha256(chain + leaf).digest()
        count += 1
        if count == cp["size"]:
            at_size = (root.value(), chain)
        if type(seq) is int:
            expected = max(expected, seq + 1)
        prev_stored = entry_hash
        status, note = row.get("note_status"), row.get("note")
        committed = row.get("note_commitment")
        want = "none" if not committed else ("present" if isinstance(note, str) else "redacted")
        if status != want or (want != "present" and note is not None):
            problem("note_status", f"{where}: note_status {status!r} with this note, want {want!r}")
        notes += want == "present"
    if at_size is None:
        short = f"the checkpoint signs {cp['size']} entries, the export holds {count}"
        problem("export_short", short + ": export the whole log, unfiltered")
    else:
        if at_size[0] != cp["root"]:
            problem("root_mismatch", f"the first {cp['size']} entries do not have the signed root")
        if at_size[1] != cp["chain_head"]:
            problem("chain_head_mismatch", f"the chain head after {cp['size']} entries differs")
    return count, notes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--export", required=True, help="the JSON Lines export (unfiltered)")
    parser.add_argument("--checkpoint", required=True, help="a signed checkpoint note")
    parser.add_argument("--key", required=True, help="the verifier key, name+keyid+key")
    parser.add_argument("--origin", help="the log's origin (default: the key's name)")
    args = parser.parse_args(argv)
    problems: list[tuple[str, str]] = []

    def problem(code: str, message: str) -> None:
        problems.append((code, message))

    try:
        with open(args.checkpoint, "rb") as handle:
            cp = read_checkpoint(handle.read(), args.key, args.origin)
        print(f"checkpoint: {cp['origin']}, size {cp['size']}, signed {cp['signed_at']}")
        print(f"  by {cp['key']} (signature good)")
        count, notes = check_export(args.export, cp, problem)
    except Unusable as exc:
        problem(*exc.args)
    except OSError as exc:
        print(f"cannot read {exc.filename}: {exc.strerror}", file=sys.stderr)
        return 2
    for code, message in problems[:SHOWN]:
        print(f"PROBLEM {code}: {message}")
    if len(problems) > SHOWN:
        print(f"... and {len(problems) - SHOWN} more problems")
    if problems:
        print(f"FAILED with {len(problems)} problem{'s' * (len(problems) > 1)}")
        return 1
    print(f"OK: the export's first {cp['size']} entries are exactly the ones signed")
    if count > cp["size"]:
        print(f"note: {count - cp['size']} entries after those are chained but not signed")
    if notes:
        print(f"note: {notes} note texts not checked (the salt is not exported; Vigil checks)")
    print("note: entry_mac values are not checked (the key is Vigil's secret)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
