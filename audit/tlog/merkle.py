"""RFC 6962 / RFC 9162 Merkle tree hashing, proof generation and verification.

Leaves are leaf hashes, SHA-256(0x00 || data). Interior nodes are
SHA-256(0x01 || left || right) and the empty tree hashes to SHA-256("").
Verification follows RFC 9162 sections 2.1.3.2 and 2.1.4.2 and agrees with
the transparency-dev/merkle reference implementation, including its edge cases.
"""

import hashlib
from collections.abc import Sequence

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()


class ProofError(ValueError):
    """An inclusion or consistency proof failed to verify."""


def hash_leaf(data: bytes) -> bytes:
    """Return the RFC 6962 leaf hash SHA-256(0x00 || data)."""
    return hashlib.sha256(b"\x00" + data).digest()


def hash_children(left: bytes, right: bytes) -> bytes:
    """Return the RFC 6962 interior node hash SHA-256(0x01 || left || right)."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def _is_hash(value: object) -> bool:
    return isinstance(value, bytes) and len(value) == HASH_SIZE


def _check_count(value: object, label: str, error: type[ValueError] = ValueError) -> None:
    if type(value) is not int or value < 0:
        raise error(f"{label} must be a non-negative int, got {value!r}")


def _split(size: int) -> int:
    """Largest power of two strictly smaller than size (size > 1)."""
    return 1 << ((size - 1).bit_length() - 1)


def _range_root(leaves: Sequence[bytes], lo: int, hi: int) -> bytes:
    """Root of leaves[lo:hi], built left to right with a stack of perfect subtrees."""
    if lo == hi:
        return EMPTY_ROOT
    stack: list[tuple[int, bytes]] = []  # (subtree size, subtree hash)
    for i in range(lo, hi):
        size, node = 1, leaves[i]
        while stack and stack[-1][0] == size:
            node = hash_children(stack.pop()[1], node)
            size *= 2
        stack.append((size, node))
    node = stack.pop()[1]
    while stack:
        node = hash_children(stack.pop()[1], node)
    return node


def _check_leaves(leaves: Sequence[bytes]) -> None:
    for i, leaf in enumerate(leaves):
        if not _is_hash(leaf):
            raise ValueError(f"leaves[{i}] is not a {HASH_SIZE}-byte hash")


def root(leaves: Sequence[bytes]) -> bytes:
    """Return the Merkle tree hash of the given leaf hashes."""
    _check_leaves(leaves)
    return _range_root(leaves, 0, len(leaves))


def inclusion_proof(leaves: Sequence[bytes], index: int) -> list[bytes]:
    """Return the RFC 6962 audit path for leaves[index] in the tree of all leaves."""
    _check_leaves(leaves)
    _check_count(index, "index")
    if index >= len(leaves):
        raise ValueError(f"index {index} is beyond tree size {len(leaves)}")
    path: list[bytes] = []
    lo, hi = 0, len(leaves)
    while hi - lo > 1:
        mid = lo + _split(hi - lo)
        if index < mid:
            path.append(_range_root(leaves, mid, hi))
            hi = mid
        else:
            path.append(_range_root(leaves, lo, mid))
            lo = mid
    path.reverse()
    return path


def consistency_proof(leaves: Sequence[bytes], size1: int) -> list[bytes]:
    """Return the RFC 6962 consistency proof from tree size size1 to len(leaves)."""
    _check_leaves(leaves)
    _check_count(size1, "size1")
    if size1 == 0:
        raise ValueError("a consistency proof from the empty tree is meaningless")
    if size1 > len(leaves):
        raise ValueError(f"size1 {size1} is beyond tree size {len(leaves)}")
    path: list[bytes] = []
    lo, hi, m, whole = 0, len(leaves), size1, True  # RFC 6962 SUBPROOF(m, D[lo:hi], b)
    while m != hi - lo:
        mid = lo + _split(hi - lo)
        if m <= mid - lo:
            path.append(_range_root(leaves, mid, hi))
            hi = mid
        else:
            path.append(_range_root(leaves, lo, mid))
            m -= mid - lo
            lo = mid
            whole = False
    if not whole:
        path.append(_range_root(leaves, lo, hi))
    path.reverse()
    return path


def _decompose(index: int, size: int) -> tuple[int, int]:
    """Split an inclusion proof length into (inner, border) parts, as transparency-dev does."""
    inner = (index ^ (size - 1)).bit_length()
    border = (index >> inner).bit_count()
    return inner, border


def _check_proof(proof: Sequence[bytes]) -> None:
    for i, node in enumerate(proof):
        if not _is_hash(node):
            raise ProofError(f"proof[{i}] is not a {HASH_SIZE}-byte hash")


def verify_inclusion(
    index: int, size: int, leaf_hash: bytes, proof: Sequence[bytes], root: bytes
) -> None:
    """Check that leaf_hash is at index in the tree of the given size and root."""
    _check_count(index, "index", ProofError)
    _check_count(size, "size", ProofError)
    if index >= size:
        raise ProofError(f"leaf index {index} is beyond tree size {size}")
    if not _is_hash(leaf_hash):
        raise ProofError(f"leaf hash is not a {HASH_SIZE}-byte hash")
    if not _is_hash(root):
        raise ProofError(f"root is not a {HASH_SIZE}-byte hash")
    _check_proof(proof)
    want = sum(_decompose(index, size))
    if len(proof) != want:
        raise ProofError(f"wrong inclusion proof length {len(proof)}, expected {want}")

    # RFC 9162 section 2.1.3.2.
    fn, sn, r = index, size - 1, leaf_hash
    for p in proof:
        if sn == 0:
            raise ProofError("inclusion proof is too long")
        if fn & 1 or fn == sn:
            r = hash_children(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = hash_children(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("inclusion proof is too short")
    if r != root:
        raise ProofError("inclusion proof does not lead to the expected root")


def verify_consistency(
    size1: int, size2: int, proof: Sequence[bytes], root1: bytes, root2: bytes
) -> None:
    """Check that the tree (size2, root2) extends the tree (size1, root1)."""
    _check_count(size1, "size1", ProofError)
    _check_count(size2, "size2", ProofError)
    if size2 < size1:
        raise ProofError(f"size2 ({size2}) is smaller than size1 ({size1})")
    if size1 == 0:
        # RFC 9162 requires 0 < first; transparency-dev/merkle rejects size1 == 0 even
        # when size2 == 0, since the empty tree hash is not a prefix of anything.
        raise ProofError("a consistency proof from the empty tree is meaningless")
    if size1 == size2:
        # Like the reference, the roots are compared as given, without a length check.
        if proof:
            raise ProofError("tree sizes are equal but the proof is not empty")
        if root1 != root2:
            raise ProofError("tree sizes are equal but the roots differ")
        return
    if not proof:
        raise ProofError("consistency proof is empty")
    if not _is_hash(root1) or not _is_hash(root2):
        raise ProofError(f"roots must be {HASH_SIZE}-byte hashes")
    _check_proof(proof)
    inner, border = _decompose(size1 - 1, size2)
    shift = (size1 & -size1).bit_length() - 1  # trailing zero bits of size1
    is_power_of_two = size1 == 1 << shift
    want = (0 if is_power_of_two else 1) + inner - shift + border
    if len(proof) != want:
        raise ProofError(f"wrong consistency proof length {len(proof)}, expected {want}")

    # RFC 9162 section 2.1.4.2.
    path = [root1, *proof] if is_power_of_two else list(proof)
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError("consistency proof is too long")
        if fn & 1 or fn == sn:
            fr = hash_children(c, fr)
            sr = hash_children(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = hash_children(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("consistency proof is too short")
    if fr != root1:
        raise ProofError("consistency proof does not lead to the first root")
    if sr != root2:
        raise ProofError("consistency proof does not lead to the second root")
