"""Proofs a third party can check: inclusion of an entry, consistency between tree sizes."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from audit.tlog.merkle import hash_leaf, root
from audit.tlog.tree import RootAccumulator

VECTORS = Path(__file__).resolve().parent / "tlog" / "vectors"


def test_the_running_root_matches_the_reference_tree():
    reference = json.loads((VECTORS / "reference-tree.json").read_text(encoding="utf-8"))
    acc = RootAccumulator()
    assert acc.root().hex() == reference["root_hashes_hex_by_tree_size"][0]
    for size, leaf in enumerate(reference["leaf_inputs_hex"], start=1):
        acc.add(hash_leaf(bytes.fromhex(leaf)))
        assert acc.root().hex() == reference["root_hashes_hex_by_tree_size"][size]


def test_the_running_root_matches_merkle_root_for_every_size_up_to_70():
    leaves = [hash_leaf(i.to_bytes(4, "big")) for i in range(70)]
    acc = RootAccumulator()
    for size, leaf in enumerate(leaves, start=1):
        acc.add(leaf)
        assert acc.root() == root(leaves[:size])


def _prove(access_log, tmp_path, *args) -> tuple[Path, dict]:
    result = access_log.cli("audit", "prove", *args)
    assert result.exit_code == 0, result.output
    path = tmp_path / f"proof{'-'.join(args)}.json"
    path.write_text(result.output, encoding="utf-8")
    return path, json.loads(result.output)


def _check(access_log, path: Path):
    return access_log.cli("audit", "check-proof", str(path))


def _flip(b64: str) -> str:
    raw = bytearray(base64.b64decode(b64))
    raw[0] ^= 1
    return base64.b64encode(bytes(raw)).decode()


@pytest.fixture
def proven_log(access_log):
    access_log.append(3)
    access_log.checkpoint()
    access_log.append(4, case_id="case-7")
    access_log.checkpoint()
    return access_log


def test_inclusion_proofs_verify_for_every_entry_against_the_signed_root(proven_log, tmp_path):
    for index in range(7):
        path, doc = _prove(proven_log, tmp_path, "--index", str(index), "--size", "7")
        assert doc["checkpoint"] is not None and doc["entry"]["seq"] == index
        result = _check(proven_log, path)
        assert result.exit_code == 0, result.output
        assert "root signed by a trusted key" in result.output


def test_consistency_proofs_verify_between_signed_sizes(proven_log, tmp_path):
    path, doc = _prove(proven_log, tmp_path, "--from", "3", "--to", "7")
    assert doc["checkpoint1"] and doc["checkpoint2"]
    result = _check(proven_log, path)
    assert result.exit_code == 0, result.output
    assert "the tree of size 7 extends the tree of size 3" in result.output
    path, _ = _prove(proven_log, tmp_path, "--from", "1", "--to", "5")  # unsigned sizes
    assert "no signed checkpoint" in _check(proven_log, path).output


def _mutations(doc: dict):
    if doc["kind"] == "inclusion":
        yield "entry field", {**doc, "entry": {**doc["entry"], "reason_code": "QA_SAMPLE"}}
        yield "leaf index", {**doc, "leaf_index": doc["leaf_index"] + 1}
        yield "tree size", {**doc, "tree_size": doc["tree_size"] + 1}
        yield "root", {**doc, "root": _flip(doc["root"]), "checkpoint": None}
        yield "signed root", {**doc, "root": _flip(doc["root"])}
    else:
        yield "size1", {**doc, "size1": doc["size1"] + 1}
        yield "root2", {**doc, "root2": _flip(doc["root2"])}
    for i in range(len(doc["proof"])):
        proof = list(doc["proof"])
        proof[i] = _flip(proof[i])
        yield f"proof node {i}", {**doc, "proof": proof}
    yield "proof truncated", {**doc, "proof": doc["proof"][:-1]}
    yield "proof extended", {**doc, "proof": [*doc["proof"], doc["proof"][0]]}


@pytest.mark.parametrize("args", [("--index", "5", "--size", "7"), ("--from", "3", "--to", "7")])
def test_mutated_proofs_are_rejected(proven_log, tmp_path, args):
    _path, doc = _prove(proven_log, tmp_path, *args)
    for name, mutated in _mutations(doc):
        path = tmp_path / "mutated.json"
        path.write_text(json.dumps(mutated), encoding="utf-8")
        result = _check(proven_log, path)
        assert result.exit_code == 1, f"{name} accepted: {result.output}"
        assert "proof rejected" in result.output


def test_prove_explains_bad_arguments(proven_log):
    assert "use --index" in proven_log.cli("audit", "prove").output
    assert "below size" in proven_log.cli("audit", "prove", "--index", "9", "--size", "7").output
    assert "fewer than 9" in proven_log.cli("audit", "prove", "--index", "1", "--size", "9").output
