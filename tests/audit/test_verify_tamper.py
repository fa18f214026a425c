"""One attack per test, on SQLite and PostgreSQL: the verifier names each one.

The attacker here can write the database directly (triggers out of the way, as an
owner or superuser could) but does not hold the checkpoint signing key.
"""

from __future__ import annotations

import base64
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import text

from audit.access_log import entry_fields, format_time
from audit.checkpoints import CHAIN_HEAD, SIGNED_AT, checkpoint_dir
from audit.models import AccessEntry
from audit.signing import current_signer
from audit.tlog.canonical import GENESIS, chain_hash, leaf_hash
from audit.tlog.merkle import root
from audit.tlog.signed_note import make_checkpoint_body, sign_note
from core.timeutil import utcnow
from tests.audit.conftest import only_postgres


@pytest.fixture
def signed_log(access_log):
    """Ten entries (two with notes) under a signed checkpoint."""
    access_log.append(4)
    access_log.append(2, note="justification")
    access_log.append(4, case_id="case-2")
    access_log.checkpoint()
    return access_log


def _leaves(log, size: int | None = None) -> list[bytes]:
    with log.engine.connect() as conn:
        rows = conn.execute(text("SELECT leaf_hash FROM access_entry ORDER BY seq")).scalars()
        leaves = [bytes(leaf) for leaf in rows]
    return leaves[:size] if size is not None else leaves


def _forge(log, tmp_path: Path, *, size: int, root_hash: bytes, key=None, minutes: int = 5) -> Path:
    """A checkpoint note signed by the real key (or `key`), `minutes` from now."""
    signer = current_signer(log.app)
    when = format_time(utcnow() + timedelta(minutes=minutes))
    head = base64.b64encode(GENESIS).decode()
    body = make_checkpoint_body(signer.name, size, root_hash, [CHAIN_HEAD + head, SIGNED_AT + when])
    note = sign_note(body, signer.name, key or signer.private_key)
    path = tmp_path / f"forged-{size}-{minutes}.note"
    path.write_text(note, encoding="utf-8")
    return path


def test_a_clean_log_verifies_and_records_the_run(signed_log, db):
    code, codes, output = signed_log.verify()
    assert (code, codes) == (0, {}), output
    assert "OK: 10 entries, 1 signed checkpoints checked" in output
    last = db.exec(text("SELECT ok, tree_size, problems FROM audit_verification")).one()
    assert tuple(last) == (True, 10, 0)


def test_an_empty_log_verifies(access_log):
    assert access_log.verify()[:2] == (0, {})


def test_an_edited_row_is_named(signed_log):
    signed_log.tamper("UPDATE access_entry SET reason_code = 'LEGAL_REQUEST' WHERE seq = 3")
    code, codes, output = signed_log.verify()
    assert code == 1
    assert codes["edited"] == 1 and "entry 3: fields do not match" in output
    assert codes["root_mismatch"] == 1  # and the signed root no longer matches


def test_an_edited_row_with_recomputed_hashes_breaks_the_next_link(signed_log, db):
    entry = db.get(AccessEntry, 3)
    fields = {**entry_fields(entry), "actor_label": "someone else"}
    leaf = leaf_hash(fields)
    signed_log.tamper(
        "UPDATE access_entry SET actor_label = 'someone else', leaf_hash = :leaf, "
        "entry_hash = :entry WHERE seq = 3",
        leaf=leaf,
        entry=chain_hash(bytes(entry.prev_hash), leaf),
    )
    code, codes, output = signed_log.verify()
    assert code == 1 and codes["chain_broken"] == 1
    assert "entry 4 does not link" in output


def test_a_deleted_row_is_a_sequence_gap(signed_log):
    signed_log.tamper("DELETE FROM access_entry WHERE seq = 5")
    code, codes, output = signed_log.verify()
    assert code == 1 and codes["sequence_gap"] == 1
    assert "entry 5 is missing (deleted)" in output
    assert codes["truncated"] == 1  # nine entries now, ten signed


def test_reordered_rows_are_named(signed_log):
    signed_log.tamper(
        "UPDATE access_entry SET seq = 1000 WHERE seq = 3",
        "UPDATE access_entry SET seq = 3 WHERE seq = 4",
        "UPDATE access_entry SET seq = 4 WHERE seq = 1000",
    )
    code, codes, output = signed_log.verify()
    assert code == 1 and codes["reordered"] == 2, output
    assert "entry 3 was written as entry 4" in output
    assert "edited" not in codes and "chain_broken" not in codes


def test_a_truncated_tail_is_caught_by_the_checkpoint(signed_log):
    signed_log.tamper("DELETE FROM access_entry WHERE seq >= 7")
    code, codes, output = signed_log.verify()
    assert code == 1 and codes["truncated"] == 1
    assert "the log has 7 entries but a checkpoint signed 10" in output
    assert "sequence_gap" not in codes  # the rows left are a perfect chain


def test_a_chain_rewritten_with_fresh_hashes_is_caught_by_the_checkpoint(signed_log, db):
    entries = list(db.exec(text("SELECT seq FROM access_entry ORDER BY seq")).scalars())
    prev, updates = GENESIS, []
    for seq in entries:
        fields = entry_fields(db.get(AccessEntry, seq))
        if seq == 2:
            fields["decision"] = "denied"  # hide an access
        leaf = leaf_hash(fields)
        entry = chain_hash(prev, leaf)
        updates.append((seq, fields["decision"], prev, leaf, entry))
        prev = entry
    statements = [
        f"UPDATE access_entry SET decision = '{d}', prev_hash = :p{s}, leaf_hash = :l{s}, "
        f"entry_hash = :e{s} WHERE seq = {s}"
        for s, d, *_ in updates
    ]
    params = {}
    for s, _d, p, leaf, e in updates:
        params.update({f"p{s}": p, f"l{s}": leaf, f"e{s}": e})
    # Move every prev_hash out of the way first: the unique constraint sees each row.
    signed_log.tamper("UPDATE access_entry SET prev_hash = leaf_hash", *statements, **params)
    code, codes, output = signed_log.verify()
    assert code == 1
    assert codes["root_mismatch"] == 1 and codes["chain_head_mismatch"] == 1, output
    assert not {"edited", "chain_broken", "hash_mismatch", "sequence_gap"} & set(codes)


def test_a_checkpoint_with_a_bad_signature_is_named(signed_log):
    directory = checkpoint_dir(signed_log.app.config["VIGIL"], signed_log.app.instance_path)
    (copy,) = Path(directory).glob("*.checkpoint")
    lines = copy.read_text(encoding="utf-8").split("\n")
    lines[1] = "11"  # claim a bigger tree under the old signature
    copy.write_text("\n".join(lines), encoding="utf-8")
    code, codes, output = signed_log.verify()
    assert code == 1 and codes["bad_signature"] == 1, output


def test_a_checkpoint_from_an_unknown_key_is_named(signed_log, tmp_path):
    stranger, real_root = Ed25519PrivateKey.generate(), root(_leaves(signed_log))
    forged = _forge(signed_log, tmp_path, size=10, root_hash=real_root, key=stranger)
    code, codes, output = signed_log.verify("--checkpoint", str(forged))
    assert code == 1 and codes["unknown_key"] == 1, output


def test_a_checkpoint_that_shrinks_is_named(signed_log, tmp_path):
    later_and_smaller = _forge(signed_log, tmp_path, size=5, root_hash=root(_leaves(signed_log, 5)))
    code, codes, output = signed_log.verify("--checkpoint", str(later_and_smaller))
    assert code == 1 and codes["checkpoint_shrinks"] == 1, output
    assert "root_mismatch" not in codes  # its root is right: only the order is wrong


def test_a_fork_same_size_other_root_is_named(signed_log, tmp_path):
    other = root([leaf_hash({"forged": i}) for i in range(10)])
    forked = _forge(signed_log, tmp_path, size=10, root_hash=other)
    code, codes, output = signed_log.verify("--checkpoint", str(forked))
    assert code == 1 and codes["fork"] == 1, output


def test_an_edited_note_is_named_and_a_silently_deleted_one_is_missing(signed_log):
    signed_log.tamper(
        "UPDATE access_note SET text = 'nothing to see' WHERE entry_seq = 4", table="access_note"
    )
    # DELETE on access_note is granted (for erasure), so no trigger is in the way: a
    # deletion without its `access_log.note_erased` event is not taken for an erasure.
    signed_log.tamper("DELETE FROM access_note WHERE entry_seq = 5", table="access_note")
    code, codes, output = signed_log.verify()
    assert code == 1 and codes == {"note_mismatch": 1, "note_missing": 1}, output
    assert "entry 5: note missing, and no erasure was recorded for it" in output
    assert "redacted notes" not in output


def test_an_erased_note_still_verifies(signed_log):
    result = signed_log.cli("audit", "erase-note", "--seq", "4", "--reason", "GDPR 12")
    assert "note of entry 4 erased" in result.output
    code, codes, output = signed_log.verify()
    assert (code, codes) == (0, {}), output
    assert "redacted notes (erasure recorded, chain intact): 1 entries" in output


def test_a_checkpoint_row_removed_from_the_table_is_named(signed_log):
    signed_log.tamper("DELETE FROM audit_checkpoint", table="audit_checkpoint")
    code, codes, output = signed_log.verify()
    assert code == 1 and codes["checkpoint_missing"] == 1, output


def test_malformed_hashes_are_reported_not_crashed_on(signed_log):
    signed_log.tamper("UPDATE access_entry SET prev_hash = :short WHERE seq = 4", short=b"abc")
    code, codes, output = signed_log.verify()
    assert code == 1 and codes["hash_mismatch"] == 1 and codes["chain_broken"] == 1, output


def test_every_problem_is_reported_not_just_the_first(signed_log):
    signed_log.tamper(
        "UPDATE access_entry SET actor_label = 'x' WHERE seq = 1",
        "DELETE FROM access_entry WHERE seq = 6",
        "DELETE FROM access_entry WHERE seq = 9",
    )
    code, codes, _ = signed_log.verify()
    assert code == 1
    assert codes["edited"] == 1 and codes["sequence_gap"] == 1 and codes["truncated"] == 1


@only_postgres
def test_a_superuser_who_switches_the_triggers_off_is_still_caught(signed_log):
    with signed_log.engine.connect() as conn:
        conn.execute(text("SET session_replication_role = replica"))
        conn.execute(text("ALTER TABLE access_entry DISABLE TRIGGER ALL"))
        conn.execute(text("UPDATE access_entry SET case_id = 'case-9' WHERE seq = 2"))
        conn.execute(text("ALTER TABLE access_entry ENABLE TRIGGER ALL"))
        conn.commit()
    code, codes, output = signed_log.verify()
    assert code == 1 and codes["edited"] == 1 and "entry 2" in output
