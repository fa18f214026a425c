"""Tests for audit.merkle against the transparency-dev/merkle test vectors."""

import base64
import hashlib
import json
from pathlib import Path

import pytest

from audit.tlog.merkle import (
    EMPTY_ROOT,
    ProofError,
    consistency_proof,
    hash_children,
    hash_leaf,
    inclusion_proof,
    root,
    verify_consistency,
    verify_inclusion,
)

# Copied into the repository (origin and licence in vectors/README.md).
VECTORS = Path(__file__).resolve().parent / "vectors"
MISSING = f"RFC 6962 test vectors not found at {VECTORS} (see vectors/README.md)"


def _vector_params(kind: str) -> list:
    """One pytest param per JSON file under VECTORS/kind, or one failing param if missing."""
    if not VECTORS.is_dir():
        return [pytest.param(None, id=f"{kind}-vectors-missing")]
    files = sorted((VECTORS / kind).rglob("*.json"))
    if not files:
        return [pytest.param(None, id=f"{kind}-vectors-empty")]
    return [pytest.param(f, id=f.relative_to(VECTORS).as_posix()) for f in files]


def _load(path: Path | None) -> dict:
    if path is None or not path.is_file():
        pytest.fail(MISSING, pytrace=False)
    return json.loads(path.read_text(encoding="utf-8"))


def _b64(value: str) -> bytes:
    return base64.b64decode(value)


def _proof(vector: dict) -> list[bytes]:
    return [_b64(p) for p in vector["proof"] or []]  # Go writes an empty proof as null


def _leaves(count: int) -> list[bytes]:
    return [hash_leaf(i.to_bytes(8, "big")) for i in range(count)]


def _flips(value: bytes):
    """Yield value with each single bit flipped in turn."""
    for i in range(len(value) * 8):
        flipped = bytearray(value)
        flipped[i // 8] ^= 1 << (i % 8)
        yield bytes(flipped)


# --- shared test vectors ----------------------------------------------------------------


def test_vector_folder_has_only_known_files():
    if not VECTORS.is_dir():
        pytest.fail(MISSING, pytrace=False)
    files = {p.relative_to(VECTORS).as_posix() for p in VECTORS.rglob("*.json")}
    unknown = {
        f
        for f in files
        if f != "reference-tree.json" and not f.startswith(("inclusion/", "consistency/"))
    }
    assert not unknown, f"JSON files not exercised by these tests: {sorted(unknown)}"
    assert (VECTORS / "README.md").is_file()


@pytest.mark.parametrize("path", _vector_params("inclusion"))
def test_inclusion_vector(path):
    v = _load(path)
    if path.name == "happy-path.json":
        assert v["wantErr"] is False
    args = (v["leafIdx"], v["treeSize"], _b64(v["leafHash"]), _proof(v), _b64(v["root"]))
    if v["wantErr"]:
        with pytest.raises(ProofError):
            verify_inclusion(*args)
    else:
        verify_inclusion(*args)


@pytest.mark.parametrize("path", _vector_params("consistency"))
def test_consistency_vector(path):
    v = _load(path)
    if path.name == "happy-path.json":
        assert v["wantErr"] is False
    args = (v["size1"], v["size2"], _proof(v), _b64(v["root1"]), _b64(v["root2"]))
    if v["wantErr"]:
        with pytest.raises(ProofError):
            verify_consistency(*args)
    else:
        verify_consistency(*args)


def test_reference_tree_roots():
    ref = _load(VECTORS / "reference-tree.json")
    leaves = [hash_leaf(bytes.fromhex(h)) for h in ref["leaf_inputs_hex"]]
    expected = ref["root_hashes_hex_by_tree_size"]
    assert len(expected) == 9
    for size, want in enumerate(expected):
        assert root(leaves[:size]).hex() == want, f"tree size {size}"


# --- generated proofs -------------------------------------------------------------------


def test_empty_tree_root():
    assert root([]) == EMPTY_ROOT == hashlib.sha256(b"").digest()


@pytest.mark.parametrize("size", range(1, 18))
def test_inclusion_proofs_verify_and_every_bit_matters(size):
    leaves = _leaves(size)
    tree_root = root(leaves)
    for index in range(size):
        proof = inclusion_proof(leaves, index)
        verify_inclusion(index, size, leaves[index], proof, tree_root)
        for i, node in enumerate(proof):
            for bad in _flips(node):
                broken = [*proof[:i], bad, *proof[i + 1 :]]
                with pytest.raises(ProofError):
                    verify_inclusion(index, size, leaves[index], broken, tree_root)
        for bad in _flips(leaves[index]):
            with pytest.raises(ProofError):
                verify_inclusion(index, size, bad, proof, tree_root)
        for bad in _flips(tree_root):
            with pytest.raises(ProofError):
                verify_inclusion(index, size, leaves[index], proof, bad)
        for wrong_index in {index - 1, index + 1, index ^ 2} - {index}:
            if wrong_index >= 0:
                with pytest.raises(ProofError):
                    verify_inclusion(wrong_index, size, leaves[index], proof, tree_root)


@pytest.mark.parametrize("size2", range(1, 18))
def test_consistency_proofs_verify_and_every_bit_matters(size2):
    leaves = _leaves(size2)
    root2 = root(leaves)
    for size1 in range(1, size2 + 1):
        root1 = root(leaves[:size1])
        proof = consistency_proof(leaves, size1)
        verify_consistency(size1, size2, proof, root1, root2)
        if size1 == size2:
            assert proof == []
        for i, node in enumerate(proof):
            for bad in _flips(node):
                broken = [*proof[:i], bad, *proof[i + 1 :]]
                with pytest.raises(ProofError):
                    verify_consistency(size1, size2, broken, root1, root2)
        for bad in _flips(root1):
            with pytest.raises(ProofError):
                verify_consistency(size1, size2, proof, bad, root2)
        for bad in _flips(root2):
            with pytest.raises(ProofError):
                verify_consistency(size1, size2, proof, root1, bad)
        if proof:
            with pytest.raises(ProofError):
                verify_consistency(size1, size2, proof[:-1], root1, root2)
            with pytest.raises(ProofError):
                verify_consistency(size1, size2, [*proof, proof[-1]], root1, root2)


def test_inclusion_proof_rejects_bad_arguments():
    leaves = _leaves(4)
    with pytest.raises(ValueError):
        inclusion_proof(leaves, 4)
    with pytest.raises(ValueError):
        inclusion_proof(leaves, -1)
    with pytest.raises(ValueError):
        inclusion_proof([], 0)
    with pytest.raises(ValueError):
        inclusion_proof([b"short"], 0)


def test_consistency_proof_rejects_bad_arguments():
    leaves = _leaves(4)
    with pytest.raises(ValueError):
        consistency_proof(leaves, 0)
    with pytest.raises(ValueError):
        consistency_proof(leaves, 5)


def test_verify_rejects_bad_argument_types():
    leaf = _leaves(1)[0]
    with pytest.raises(ProofError):
        verify_inclusion(-1, 1, leaf, [], leaf)
    with pytest.raises(ProofError):
        verify_inclusion(True, 2, leaf, [leaf], leaf)
    with pytest.raises(ProofError):
        verify_consistency(1, 2, [leaf[:31]], leaf, leaf)
    with pytest.raises(ProofError):
        verify_consistency(0, 0, [], EMPTY_ROOT, EMPTY_ROOT)


# --- root computation at scale ----------------------------------------------------------


def _recursive_root(leaves: list[bytes], lo: int, hi: int) -> bytes:
    """RFC 6962 MTH written straight from the definition."""
    n = hi - lo
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return leaves[lo]
    k = 1
    while k * 2 < n:
        k *= 2
    left = _recursive_root(leaves, lo, lo + k)
    return hashlib.sha256(b"\x01" + left + _recursive_root(leaves, lo + k, hi)).digest()


def test_root_matches_recursive_definition_for_small_sizes():
    leaves = _leaves(257)
    for size in range(258):
        assert root(leaves[:size]) == _recursive_root(leaves, 0, size), f"size {size}"


def test_root_matches_recursive_definition_for_100000_leaves():
    leaves = _leaves(100_000)
    tree_root = root(leaves)
    assert tree_root == _recursive_root(leaves, 0, len(leaves))
    for index in (0, 65_535, 65_536, 99_999):
        proof = inclusion_proof(leaves, index)
        verify_inclusion(index, len(leaves), leaves[index], proof, tree_root)
    proof = consistency_proof(leaves, 70_001)
    verify_consistency(70_001, len(leaves), proof, root(leaves[:70_001]), tree_root)


def test_root_handles_a_million_leaves():
    leaves = [hashlib.sha256(i.to_bytes(4, "big")).digest() for i in range(1_000_000)]
    half = 1 << 19  # largest power of two below 1,000,000
    expected = hash_children(root(leaves[:half]), root(leaves[half:]))
    assert root(leaves) == expected
