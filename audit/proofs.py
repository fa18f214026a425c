"""Inclusion and consistency proofs as JSON documents a third party can check.

A document carries base64 hashes (as in the RFC 6962 test vectors), the signed
checkpoint for each tree size when one exists, and for inclusion the entry's fields,
so the checker recomputes the leaf itself: SHA-256(0x00 || canonical JSON of `entry`).
"""

from __future__ import annotations

import base64
from typing import Any

from sqlmodel import Session, col, select

from audit.access_log import entry_fields
from audit.checkpoints import CheckpointProblem, read_checkpoint
from audit.models import AccessEntry, AuditCheckpoint
from audit.signing import KnownKeys
from audit.tlog.canonical import leaf_hash
from audit.tlog.merkle import (
    ProofError,
    consistency_proof,
    inclusion_proof,
    root,
    verify_consistency,
    verify_inclusion,
)

HASHING = "RFC 6962 SHA-256; leaf = SHA-256(0x00 || canonical JSON of entry)"


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _unb64(value: Any) -> bytes:
    if not isinstance(value, str):
        raise ProofError("hashes must be base64 strings")
    try:
        return base64.b64decode(value, validate=True)
    except ValueError as exc:
        raise ProofError("malformed base64 hash") from exc


def _leaves(session: Session, size: int) -> list[bytes]:
    query = select(AccessEntry.leaf_hash).order_by(col(AccessEntry.seq)).limit(size)
    leaves = [bytes(leaf) for leaf in session.exec(query)]
    if len(leaves) < size:
        raise ValueError(f"the log has only {len(leaves)} entries, fewer than {size}")
    return leaves


def _checkpoint_note(session: Session, size: int) -> str | None:
    query = select(AuditCheckpoint.note).where(AuditCheckpoint.tree_size == size)
    return session.exec(query.order_by(col(AuditCheckpoint.id).desc()).limit(1)).first()


def prove_inclusion(session: Session, *, origin: str, index: int, size: int) -> dict:
    """The audit path of entry `index` in the tree of the first `size` entries."""
    if not 0 <= index < size:
        raise ValueError(f"index {index} must be below size {size}")
    leaves = _leaves(session, size)
    query = select(AccessEntry).order_by(col(AccessEntry.seq)).offset(index).limit(1)
    entry = session.exec(query).first()
    return {
        "kind": "inclusion",
        "hashing": HASHING,
        "origin": origin,
        "tree_size": size,
        "leaf_index": index,
        "entry": entry_fields(entry),
        "leaf_hash": _b64(leaves[index]),
        "proof": [_b64(node) for node in inclusion_proof(leaves, index)],
        "root": _b64(root(leaves)),
        "checkpoint": _checkpoint_note(session, size),
    }


def prove_consistency(session: Session, *, origin: str, size1: int, size2: int) -> dict:
    """The proof that the tree of `size2` entries extends the tree of `size1`."""
    if not 0 < size1 <= size2:
        raise ValueError("sizes must satisfy 0 < from <= to")
    leaves = _leaves(session, size2)
    return {
        "kind": "consistency",
        "hashing": HASHING,
        "origin": origin,
        "size1": size1,
        "size2": size2,
        "root1": _b64(root(leaves[:size1])),
        "root2": _b64(root(leaves)),
        "proof": [_b64(node) for node in consistency_proof(leaves, size1)],
        "checkpoint1": _checkpoint_note(session, size1),
        "checkpoint2": _checkpoint_note(session, size2),
    }


def _signed_root(note: str | None, size: int, keys: KnownKeys, origin: str) -> bytes | None:
    if note is None:
        return None
    try:
        checkpoint = read_checkpoint(note, keys=keys, origin=origin)
    except CheckpointProblem as exc:
        raise ProofError(f"checkpoint: {exc}") from exc
    if checkpoint.size != size:
        raise ProofError("checkpoint is for another tree size")
    return checkpoint.root


def check_proof(doc: dict, *, keys: KnownKeys) -> list[str]:
    """Verify a proof document; raise ProofError, or return what was shown."""
    origin = doc.get("origin", "")
    proof = [_unb64(node) for node in doc.get("proof") or []]
    if doc.get("kind") == "inclusion":
        size, index = doc.get("tree_size"), doc.get("leaf_index")
        leaf = leaf_hash(doc["entry"])
        if _unb64(doc["leaf_hash"]) != leaf:
            raise ProofError("the entry's fields do not hash to the given leaf hash")
        if doc["entry"].get("seq") != index:
            raise ProofError("the entry's seq is not the proven leaf index")
        claimed = _unb64(doc["root"])
        verify_inclusion(index, size, leaf, proof, claimed)
        signed = _signed_root(doc.get("checkpoint"), size, keys, origin)
        shown = [f"entry {index} is leaf {index} of the tree of size {size}"]
    elif doc.get("kind") == "consistency":
        size1, size2 = doc.get("size1"), doc.get("size2")
        root1, claimed = _unb64(doc["root1"]), _unb64(doc["root2"])
        verify_consistency(size1, size2, proof, root1, claimed)
        first = _signed_root(doc.get("checkpoint1"), size1, keys, origin)
        if first is not None and first != root1:
            raise ProofError("root1 is not the root signed in checkpoint1")
        signed, size = _signed_root(doc.get("checkpoint2"), size2, keys, origin), size2
        shown = [f"the tree of size {size2} extends the tree of size {size1}"]
    else:
        raise ProofError("unknown proof kind")
    if signed is not None and signed != claimed:
        raise ProofError("the root is not the one signed in the checkpoint")
    shown.append("root signed by a trusted key" if signed else "no signed checkpoint at that size")
    return shown
