"""The access log against a database writer: each attack issue 12 lists is named by
`audit verify` (non-zero exit), on SQLite and on PostgreSQL, where the attacker is the
application's own NOSUPERUSER role with exactly the README's grants."""

from __future__ import annotations

import os
from types import SimpleNamespace

import pytest
from sqlalchemy import insert, text

from audit.access_log import entry_fields, entry_mac, log_head
from audit.checkpoints import checkpoint_dir
from audit.models import AccessEntry
from audit.tlog.canonical import chain_hash, leaf_hash
from core.db import is_postgres, session_scope
from core.timeutil import utcnow


@pytest.fixture
def writer(request, access_log):
    """Who attacks: on PostgreSQL the app role (INSERT on the log, DELETE on notes); on
    SQLite, whoever can open the file (the triggers still stand)."""
    if is_postgres(access_log.engine):
        return request.getfixturevalue("app_role")
    return access_log.engine


@pytest.fixture
def anchored(access_log):
    """Six entries (two with notes) under a signed checkpoint, then two more unsigned."""
    access_log.append(4)
    access_log.append(2, note="a justification")
    access_log.checkpoint()
    access_log.append(2, case_id="case-2")
    return access_log


def _forge(engine, *, mac: bytes | None) -> int:
    """Append an entry with correct hashes, as anyone who can INSERT and read the code can."""
    with session_scope(engine) as session:
        seq, prev = log_head(session)
        entry = SimpleNamespace(
            seq=seq,
            format=2,
            occurred_at=utcnow(),
            actor_id=7,
            actor_label="Spec Ialist <specialist@vigil.example>",
            action="export",
            decision="allowed",
            reason_code="SPECIALIST_ESCALATION",
            case_id="3",
            conversation_id="c-3",
            evidence_version=1,
            request_id="",
            client_address="",
            note_commitment="",
            queue="escalations",
            message=None,
            grant_id="",
        )
        leaf = leaf_hash(entry_fields(entry))
        row = {**vars(entry), "prev_hash": prev, "leaf_hash": leaf}
        row.update(entry_hash=chain_hash(prev, leaf), entry_mac=mac)
        session.execute(insert(AccessEntry.__table__), [row])
    return seq


@pytest.mark.parametrize("mac", [None, b"\x00" * 32], ids=["no-mac", "made-up-mac"])
def test_a_forged_entry_after_the_last_checkpoint_is_named_and_never_signed(anchored, writer, mac):
    seq = _forge(writer, mac=mac)
    code, codes, output = anchored.verify()
    assert code == 1 and codes == {"bad_mac": 1}, output
    assert f"entry {seq}" in output
    refused = anchored.cli("audit", "checkpoint")
    assert refused.exit_code == 1 and f"entry {seq} has no valid MAC" in refused.output


def test_a_mac_copied_from_another_entry_does_not_fit(anchored, writer):
    with writer.connect() as conn:
        copied = conn.execute(text("SELECT entry_mac FROM access_entry WHERE seq = 7")).scalar()
    _forge(writer, mac=bytes(copied))
    code, codes, output = anchored.verify()
    assert code == 1 and codes == {"bad_mac": 1}, output


def test_an_edited_and_fully_rehashed_tail_is_named(anchored, app):
    """The owner (triggers out of the way) edits the last, unsigned entry and recomputes
    its leaf and entry hash: every hash is right, only the MAC gives it away."""
    with session_scope(anchored.engine) as session:
        entry = session.get(AccessEntry, 7)
        entry.actor_label = "Nobody <nobody@vigil.example>"
        leaf = leaf_hash(entry_fields(entry))
        fresh = {"leaf": leaf, "hash": chain_hash(bytes(entry.prev_hash), leaf)}
        session.expunge(entry)
    anchored.tamper(
        "UPDATE access_entry SET actor_label = 'Nobody <nobody@vigil.example>', "
        "leaf_hash = :leaf, entry_hash = :hash WHERE seq = 7",
        **fresh,
    )
    code, codes, output = anchored.verify()
    assert code == 1 and codes == {"bad_mac": 1}, output
    assert "entry 7: MAC does not verify" in output


def test_a_note_deleted_without_an_erasure_event_is_missing(anchored, writer):
    with writer.connect() as conn:
        conn.execute(text("DELETE FROM access_note"))  # allowed by the grants, for erasure
        conn.commit()
    code, codes, output = anchored.verify()
    assert code == 1 and codes == {"note_missing": 2}, output
    # (A lawful erasure, with its event, still verifies: test_verify_tamper.py.)


def test_a_bogus_checkpoint_row_is_named_and_cannot_stop_checkpointing(anchored, writer):
    with writer.connect() as conn:
        conn.execute(
            text(
                "INSERT INTO audit_checkpoint (created_at, origin, tree_size, root_hash, "
                "chain_head, key_id, note, file_name) SELECT created_at, origin, 999999, "
                "root_hash, chain_head, key_id, note, file_name FROM audit_checkpoint"
            )
        )
        conn.commit()
    code, codes, output = anchored.verify()
    assert code == 1 and codes["bad_checkpoint"] == 1, output
    assert "size 999999 in the row, 6 signed" in output
    result = anchored.cli("audit", "checkpoint")  # the builder reads the signed note
    assert result.exit_code == 0 and "size 8" in result.output, result.output
    _code, codes, output = anchored.verify()
    assert codes == {"bad_checkpoint": 1}, output  # the row stays wrong; the log is anchored


def test_a_log_with_every_checkpoint_gone_is_unanchored(anchored, app, monkeypatch):
    anchored.tamper("DELETE FROM audit_checkpoint", table="audit_checkpoint")
    directory = checkpoint_dir(app.config["VIGIL"], app.config["VIGIL_INSTANCE"])
    for path in directory.iterdir():
        os.remove(path)
    # An interval of 0: every entry is older than the interval (no sleeping in tests).
    monkeypatch.setitem(app.config["VIGIL"], "CHECKPOINT_INTERVAL_SECONDS", 0)
    code, codes, output = anchored.verify()
    assert code == 1 and codes == {"unanchored": 1}, output
    assert "8 entries" in output and "anchor: no signed checkpoint" in output


def test_fresh_unsigned_entries_are_within_the_window(anchored):
    code, codes, output = anchored.verify()
    assert (code, codes) == (0, {}), output
    assert "anchor: 6 of 8 entries signed; newest checkpoint 0m 0" in output


def test_a_checkpoint_row_without_its_copy_is_named(anchored, app):
    directory = checkpoint_dir(app.config["VIGIL"], app.config["VIGIL_INSTANCE"])
    for path in directory.iterdir():
        os.remove(path)
    code, codes, output = anchored.verify()
    assert code == 1 and codes == {"checkpoint_file_missing": 1}, output


def test_the_mac_is_keyed_with_a_key_outside_the_database(anchored, app):
    key = app.extensions["vigil.keys"].entry_mac
    with anchored.engine.connect() as conn:
        row = conn.execute(text("SELECT entry_hash, entry_mac FROM access_entry WHERE seq = 0"))
        entry_hash, mac = row.one()
        stored = " ".join(
            str(value) for value in conn.execute(text("SELECT * FROM admin_event")).all()
        )
    assert bytes(mac) == entry_mac(key, bytes(entry_hash))
    assert key.hex() not in stored and app.config["VIGIL"]["AUDIT_MAC_KEY"] not in stored
