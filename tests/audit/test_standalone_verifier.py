"""tools/verify_log_export.py, run as a third party would, against a real export and checkpoint.

The export comes through the auditor's HTTP surface and the checkpoint through
`flask audit checkpoint`, from an app on SQLite (the script never touches a database).
"""

from __future__ import annotations

import ast
import base64
import json
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from app import create_app
from audit.access_log import record_access
from audit.reasons import AccessAction, Decision, ReasonCode
from audit.signing import current_signer
from audit.tlog.canonical import GENESIS, canonical_json, chain_hash, leaf_hash
from audit.tlog.merkle import root
from audit.tlog.signed_note import make_checkpoint_body, sign_note, verifier_key_string
from core.db import session_scope
from tests.conftest import test_settings
from tests.factories import Factory

ROOT_DIR = Path(__file__).resolve().parents[2]
SCRIPT = ROOT_DIR / "tools" / "verify_log_export.py"
DOC = ROOT_DIR / "docs" / "verify-the-log.md"
VIGIL_PACKAGES = {"app", "core", "access_control", "audit", "privacy", "moderation", "tests"}
# A key from golang.org/x/mod/sumdb/note: its key ID was computed by Go, not by Vigil.
GO_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
GO_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
FORMAT_1 = (
    "format", "seq", "occurred_at", "actor_id", "actor_label", "action", "decision",
    "reason_code", "case_id", "conversation_id", "evidence_version", "request_id",
    "client_address", "note_commitment",
)  # fmt: skip
FORMAT_2_EXTRAS = (
    {"queue": "child_safety", "message": 3, "grant_id": "17"},
    {"queue": "", "message": None, "grant_id": ""},  # none of the three
)


@dataclass(frozen=True)
class Evidence:
    """What an auditor holds: the export, one checkpoint note and the verifier key."""

    raw: str  # the export exactly as Vigil sent it
    lines: list[dict]
    checkpoint: str
    key: str
    signer: object
    csv: str


def _append(app, actor, note: str | None = None, **overrides) -> None:
    fields = {
        "action": AccessAction.OPEN,
        "decision": Decision.ALLOWED,
        "reason_code": ReasonCode.ASSIGNED_REVIEW,
        "case_id": "case-1",
        "conversation_id": "conv-1",
        "evidence_version": 1,
    } | overrides
    with app.app_context(), session_scope(app.extensions["vigil.engine"]) as session:
        record_access(session, actor=actor, note=note, **fields)


@pytest.fixture(scope="module")
def evidence(sqlite_template, tmp_path_factory) -> Evidence:
    """A log of six entries, a checkpoint over the first five, and the auditor's export."""
    tmp = tmp_path_factory.mktemp("verifier")
    shutil.copy(sqlite_template, tmp / "vigil.db")
    app = create_app(test_settings(f"sqlite:///{tmp / 'vigil.db'}", tmp))
    try:
        factory = Factory(app)
        rita = factory.make_user(email="rita@vigil.test", roles=("reviewer:general",))
        rita.display_name = "Rita Ünal"  # non-ASCII labels hash as UTF-8
        _append(app, rita, note="claimed from the queue")
        _append(app, rita, case_id="case-2", evidence_version=None)
        _append(app, None, decision=Decision.DENIED, reason_code=None, action=AccessAction.REVEAL)
        _append(app, rita, note="to be erased")
        _append(app, rita, reason_code=ReasonCode.SPECIALIST_ESCALATION, note="asked by lead")
        runner = app.test_cli_runner()
        result = runner.invoke(args=["audit", "erase-note", "--seq", "3", "--reason", "GDPR"])
        assert result.exit_code == 0, result.output
        result = runner.invoke(args=["audit", "checkpoint"])
        assert result.exit_code == 0, result.output
        _append(app, rita, case_id="case-3")  # after the checkpoint: chained, not signed
        (note_file,) = (tmp / "checkpoints").glob("*.checkpoint")
        client = app.test_client()
        factory.login_as(client, "auditor")
        response = client.get("/audit/export/jsonl")
        assert response.status_code == 200
        text = response.get_data(as_text=True)
        csv = client.get("/audit/export/csv").get_data(as_text=True)
        signer = current_signer(app)
        yield Evidence(
            raw=text,
            lines=[json.loads(line) for line in text.splitlines()],
            checkpoint=note_file.read_text(encoding="utf-8"),
            key=signer.verifier_key,
            signer=signer,
            csv=csv,
        )
    finally:
        app.extensions["vigil.engine"].dispose()


def run(
    tmp_path: Path, lines: list[dict] | str, checkpoint: str, key: str, *extra: str
) -> tuple[int, str]:
    """Write the files and run the script the way the doc tells an auditor to."""
    export = tmp_path / "access-log.jsonl"
    if isinstance(lines, str):
        export.write_text(lines, encoding="utf-8")
    else:
        body = "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines)
        export.write_text(body, encoding="utf-8")
    note = tmp_path / "log.checkpoint"
    note.write_text(checkpoint, encoding="utf-8")
    args = ["--export", str(export), "--checkpoint", str(note), "--key", key, *extra]
    done = subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=60
    )
    return done.returncode, done.stdout + done.stderr


def rehash(lines: list[dict], fields_of=None) -> list[dict]:
    """Recompute every leaf and chain link, as an attacker rewriting the export would."""
    prev = GENESIS
    for line in lines:
        names = list(fields_of(line) if fields_of else _fields(line))
        leaf = leaf_hash({name: line[name] for name in names})
        entry = chain_hash(prev, leaf)
        line.update(prev_hash=prev.hex(), leaf_hash=leaf.hex(), entry_hash=entry.hex())
        prev = entry
    return lines


def _fields(line: dict) -> list[str]:
    not_hashed = {"note", "note_status", "prev_hash", "leaf_hash", "entry_hash", "entry_mac"}
    return [name for name in line if name not in not_hashed]


def sign(evidence: Evidence, lines: list[dict], size: int | None = None) -> str:
    """A checkpoint over the first `size` lines, signed with the app's key the way Vigil does."""
    size = len(lines) if size is None else size
    head = bytes.fromhex(lines[size - 1]["entry_hash"]) if size else GENESIS
    leaves = [bytes.fromhex(line["leaf_hash"]) for line in lines[:size]]
    body = make_checkpoint_body(
        evidence.signer.name,
        size,
        root(leaves),
        [
            "vigil-chain-head " + base64.b64encode(head).decode(),
            "vigil-time 2026-01-01T00:00:00.000000Z",
        ],
    )
    return sign_note(body, evidence.signer.name, evidence.signer.private_key)


def copy(evidence: Evidence) -> list[dict]:
    return [dict(line) for line in evidence.lines]


def test_a_clean_export_verifies(evidence, tmp_path):
    assert len(evidence.lines) == 6 and {line["format"] for line in evidence.lines} <= {1, 2}
    assert [line["note_status"] for line in evidence.lines[:5]] == [
        "present", "none", "none", "redacted", "present",
    ]  # fmt: skip
    code, output = run(tmp_path, evidence.raw, evidence.checkpoint, evidence.key)
    assert code == 0, output
    assert "OK: the export's first 5 entries are exactly the ones signed" in output
    assert "1 entries after those are chained but not signed" in output
    assert "PROBLEM" not in output


def test_the_origin_can_be_given_and_must_match(evidence, tmp_path):
    given = (tmp_path, evidence.raw, evidence.checkpoint, evidence.key, "--origin")
    code, output = run(*given, evidence.signer.name)
    assert code == 0, output
    code, output = run(*given, "other.example/log")
    assert code == 1 and "PROBLEM origin_mismatch" in output


def test_an_entry_mac_column_is_ignored(evidence, tmp_path):
    lines = [line | {"entry_mac": "ab" * 32} for line in copy(evidence)]
    code, output = run(tmp_path, lines, evidence.checkpoint, evidence.key)
    assert code == 0, output
    assert "entry_mac values are not checked" in output


def test_an_edited_field_is_named(evidence, tmp_path):
    lines = copy(evidence)
    lines[1]["case_id"] = "case-9"
    code, output = run(tmp_path, lines, evidence.checkpoint, evidence.key)
    assert code == 1
    assert "PROBLEM edited: line 2 (entry 1)" in output
    assert "PROBLEM root_mismatch" in output and "FAILED" in output


def test_an_edit_with_every_hash_recomputed_is_caught_by_the_checkpoint(evidence, tmp_path):
    lines = copy(evidence)
    lines[2]["actor_label"] = "someone else"
    code, output = run(tmp_path, rehash(lines), evidence.checkpoint, evidence.key)
    assert code == 1
    assert "PROBLEM edited" not in output and "PROBLEM chain_broken" not in output
    assert "PROBLEM root_mismatch" in output and "PROBLEM chain_head_mismatch" in output


def test_a_deleted_line_is_named(evidence, tmp_path):
    lines = copy(evidence)
    del lines[2]
    code, output = run(tmp_path, lines, evidence.checkpoint, evidence.key)
    assert code == 1
    assert "PROBLEM sequence_gap: line 3 (entry 3): entry 2 not before it" in output
    assert "PROBLEM root_mismatch" in output


def test_swapped_lines_are_named(evidence, tmp_path):
    lines = copy(evidence)
    lines[1], lines[2] = lines[2], lines[1]
    code, output = run(tmp_path, lines, evidence.checkpoint, evidence.key)
    assert code == 1
    assert "PROBLEM sequence_gap: line 2 (entry 2): entry 1 not before it" in output
    assert "PROBLEM sequence_order: line 3 (entry 1): after entry 2" in output
    assert "sequence_gap: line 4" not in output  # entry 3 is where it belongs
    assert "PROBLEM chain_broken" in output and "PROBLEM root_mismatch" in output


def test_a_short_export_cannot_be_held_against_the_checkpoint(evidence, tmp_path):
    code, output = run(tmp_path, copy(evidence)[:3], evidence.checkpoint, evidence.key)
    assert code == 1
    assert "PROBLEM export_short: the checkpoint signs 5 entries, the export holds 3" in output


def test_a_flipped_signature_byte_is_a_bad_signature(evidence, tmp_path):
    body, _, line = evidence.checkpoint[:-1].rpartition("\n")
    prefix, _, sig64 = line.rpartition(" ")
    raw = bytearray(base64.b64decode(sig64))
    raw[10] ^= 0x01  # inside the Ed25519 signature, after the 4-byte key ID
    forged = f"{body}\n{prefix} {base64.b64encode(bytes(raw)).decode()}\n"
    code, output = run(tmp_path, evidence.lines, forged, evidence.key)
    assert code == 1
    assert "PROBLEM bad_signature" in output and "OK" not in output


def test_an_edited_checkpoint_body_is_a_bad_signature(evidence, tmp_path):
    forged = evidence.checkpoint.replace("\n5\n", "\n4\n", 1)
    code, output = run(tmp_path, evidence.lines, forged, evidence.key)
    assert code == 1 and "PROBLEM bad_signature" in output


def test_a_wrong_key_does_not_verify(evidence, tmp_path):
    other = verifier_key_string(evidence.signer.name, Ed25519PrivateKey.generate().public_key())
    code, output = run(tmp_path, evidence.lines, evidence.checkpoint, other)
    assert code == 1 and "PROBLEM unknown_key" in output
    name, key_id, key64 = evidence.key.split("+", 2)  # base64 may hold "+" too
    raw = bytearray(base64.b64decode(key64))
    raw[-1] ^= 0x01  # another public key under the old key ID
    tampered = f"{name}+{key_id}+{base64.b64encode(bytes(raw)).decode()}"
    code, output = run(tmp_path, evidence.lines, evidence.checkpoint, tampered)
    assert code == 1 and "PROBLEM bad_key: the verifier key's id does not match" in output


def test_the_worked_example_in_the_doc_verifies(tmp_path):
    doc = DOC.read_text(encoding="utf-8")
    canonical = doc.split("canonical JSON:\n", 1)[1].split("\n", 1)[0]
    note = doc.split("```text\n")[2].split("```", 1)[0]
    key = re.search(r"--key '([^']+)'", doc).group(1)
    fields = json.loads(canonical)
    assert canonical.encode() == canonical_json(fields)
    leaf = leaf_hash(fields)
    assert leaf.hex() in doc and chain_hash(GENESIS, leaf).hex() in doc
    line = fields | {"note": None, "note_status": "none"}
    rehash([line])
    code, output = run(tmp_path, [line], note, key)
    assert code == 0, output


def test_go_verifier_keys_are_understood(tmp_path):
    seed = base64.b64decode(GO_SKEY.split("+", 4)[4])[1:]  # PRIVATE+KEY+name+id+0x01||seed
    head = "vigil-chain-head " + base64.b64encode(GENESIS).decode()
    body = make_checkpoint_body("PeterNeumann", 0, root([]), [head])
    note = sign_note(body, "PeterNeumann", Ed25519PrivateKey.from_private_bytes(seed))
    code, output = run(tmp_path, [], note, GO_VKEY)
    assert code == 0, output
    assert "by PeterNeumann+c74f20a3 (signature good)" in output


def test_a_csv_export_is_refused(evidence, tmp_path):
    code, output = run(tmp_path, evidence.csv, evidence.checkpoint, evidence.key)
    assert code == 1 and "PROBLEM bad_export: line 1 is not a JSON object" in output
    assert "use the JSON Lines export" in output


def test_a_field_the_leaf_does_not_cover_is_a_problem(evidence, tmp_path):
    lines = copy(evidence)
    lines[0]["verdict"] = "no concern"  # readers might trust it; no leaf commits to it
    code, output = run(tmp_path, lines, evidence.checkpoint, evidence.key)
    assert code == 1 and "PROBLEM uncommitted_field: line 1 (entry 0): verdict" in output


def _with_format_2(evidence: Evidence) -> list[dict]:
    """The real log followed by format-2 entries, chained and hashed with Vigil's primitives.

    Format 2 is being added to the writer; until it writes such entries, they are built
    here: the format-1 fields plus queue, message and grant_id, appended at the end.
    """
    lines = copy(evidence)
    prev = bytes.fromhex(lines[-1]["entry_hash"])
    template = lines[1]
    for offset, extra in enumerate(FORMAT_2_EXTRAS):
        line = {**template, "format": 2, "seq": len(lines), **extra}
        line["occurred_at"] = f"2026-01-01T00:00:0{offset}.000000Z"
        leaf = leaf_hash({name: line[name] for name in _fields(line)})
        entry = chain_hash(prev, leaf)
        line.update(prev_hash=prev.hex(), leaf_hash=leaf.hex(), entry_hash=entry.hex())
        lines.append(line)
        prev = entry
    return lines


def test_format_2_entries_verify_alongside_format_1(evidence, tmp_path):
    lines = _with_format_2(evidence)
    assert [line["format"] for line in lines[-2:]] == [2, 2]
    code, output = run(tmp_path, lines, sign(evidence, lines), evidence.key)
    assert code == 0, output
    assert f"OK: the export's first {len(lines)} entries" in output


def test_a_format_2_field_is_committed(evidence, tmp_path):
    lines = _with_format_2(evidence)
    checkpoint = sign(evidence, lines)
    lines[-2]["message"] = 4
    code, output = run(tmp_path, lines, checkpoint, evidence.key)
    assert code == 1 and f"PROBLEM edited: line {len(lines) - 1}" in output


def test_a_format_2_leaf_over_the_format_1_fields_does_not_verify(evidence, tmp_path):
    lines = _with_format_2(evidence)
    rehash(lines, fields_of=lambda line: FORMAT_1)
    code, output = run(tmp_path, lines, sign(evidence, lines), evidence.key)
    format_2 = sum(line["format"] == 2 for line in lines)  # all of them once Vigil writes 2
    assert code == 1 and output.count("PROBLEM edited") == format_2 >= 2


def test_an_unknown_format_is_refused(evidence, tmp_path):
    lines = copy(evidence)
    lines[-1]["format"] = 3
    rehash(lines)
    code, output = run(tmp_path, lines, sign(evidence, lines), evidence.key)
    assert code == 1
    assert "PROBLEM unknown_format: line 6 (entry 5): unknown entry format 3" in output


def test_the_script_imports_nothing_from_vigil_and_stays_short():
    source = SCRIPT.read_text(encoding="utf-8")
    assert len(source.splitlines()) <= 400
    imported = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, "no relative imports"
            imported.add(node.module.split(".")[0])
    assert not imported & VIGIL_PACKAGES
    assert imported - sys.stdlib_module_names == {"cryptography"}
    assert "__import__" not in source and "importlib" not in source
