"""The access-log writer: gap-free hash chain, committed fields, notes, summaries."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from access_control.journal import AdminEvent
from audit.access_log import (
    LEAF_FIELDS,
    access_summary,
    entry_fields,
    erase_note,
    format_time,
    note_commitment,
    record_access,
)
from audit.models import AccessEntry, AccessNote
from audit.reasons import AccessAction, Decision, ReasonCode
from audit.tlog.canonical import GENESIS, canonical_json, chain_hash
from core.db import session_scope


def _entries(db) -> list[AccessEntry]:
    return list(db.exec(select(AccessEntry).order_by(AccessEntry.seq)))


def test_entries_form_one_gap_free_chain_from_genesis(access_log, db):
    access_log.append(5)
    entries = _entries(db)
    assert [e.seq for e in entries] == [0, 1, 2, 3, 4]
    prev = GENESIS
    for entry in entries:
        expected_leaf = hashlib.sha256(b"\x00" + canonical_json(entry_fields(entry))).digest()
        assert entry.prev_hash == prev
        assert entry.leaf_hash == expected_leaf
        assert entry.entry_hash == chain_hash(prev, expected_leaf)
        prev = entry.entry_hash


def test_an_entry_commits_to_every_field_and_no_content(app, factory, db):
    reviewer = factory.make_user(roles=("reviewer:general",))
    with app.test_request_context("/cases/7", environ_base={"REMOTE_ADDR": "203.0.113.9"}):
        from flask import g

        g.request_id = "req-123"
        with session_scope(app.extensions["vigil.engine"]) as session:
            record_access(
                session,
                actor=reviewer,
                action=AccessAction.REVEAL,
                decision=Decision.ALLOWED,
                reason_code=ReasonCode.SECOND_REVIEW,
                case_id=7,
                conversation_id="conv-9",
                evidence_version=2,
                mac_key=app.extensions["vigil.keys"].entry_mac,
            )
    fields = entry_fields(_entries(db)[0])
    assert tuple(fields) == LEAF_FIELDS
    assert fields["actor_id"] == reviewer.id
    assert fields["actor_label"] == reviewer.label
    assert fields["action"] == "reveal"
    assert fields["reason_code"] == "SECOND_REVIEW"
    assert (fields["case_id"], fields["conversation_id"]) == ("7", "conv-9")
    assert fields["evidence_version"] == 2
    assert (fields["request_id"], fields["client_address"]) == ("req-123", "203.0.113.9")
    assert fields["occurred_at"].endswith("Z")


def test_time_is_hashed_as_utc_whatever_zone_the_driver_returns():
    utc = datetime(2026, 3, 4, 5, 6, 7, 89, tzinfo=UTC)
    berlin = utc.astimezone(timezone(timedelta(hours=1)))
    naive = utc.replace(tzinfo=None)  # SQLite gives naive UTC back
    assert {format_time(utc), format_time(berlin), format_time(naive)} == {
        "2026-03-04T05:06:07.000089Z"
    }


def test_an_allowed_access_needs_a_reason_but_a_denial_may_lack_one(access_log, db):
    with pytest.raises(ValueError, match="reason code"):
        access_log.append(reason=None)
    with pytest.raises(ValueError):
        access_log.append(reason="CURIOSITY")
    access_log.append(decision=Decision.DENIED, reason=None)
    assert [(e.decision, e.reason_code) for e in _entries(db)] == [("denied", "")]


def test_the_note_is_kept_apart_behind_a_salted_commitment(access_log, db):
    (seq,) = access_log.append(note="ticket LEGAL-42 from the prosecutor")
    entry, note = _entries(db)[0], db.get(AccessNote, seq)
    assert "LEGAL-42" not in repr(entry_fields(entry))
    assert entry.note_commitment == note_commitment(note.salt, note.text)
    # Same text, different salt: the commitment does not reveal equal notes.
    (other,) = access_log.append(note="ticket LEGAL-42 from the prosecutor")
    assert db.get(AccessEntry, other).note_commitment != entry.note_commitment


def test_erasing_a_note_deletes_text_and_salt_and_records_who_and_why(app, access_log, db):
    (seq,) = access_log.append(note="free text that must go")
    with session_scope(access_log.engine) as session:
        assert erase_note(session, actor=None, seq=seq, reason="GDPR request 17")
        assert not erase_note(session, actor=None, seq=seq, reason="again")
    db.expire_all()
    assert db.get(AccessNote, seq) is None
    assert db.get(AccessEntry, seq).note_commitment  # the entry itself is untouched
    event = db.exec(select(AdminEvent).where(AdminEvent.event_type == "access_log.note_erased"))
    assert event.one().reason == "GDPR request 17"


def test_the_unique_previous_hash_refuses_a_fork(access_log, db):
    access_log.append(2)
    first = _entries(db)[1]
    with pytest.raises(IntegrityError), session_scope(access_log.engine) as session:
        # A buggy writer that read a stale head: same previous hash, next sequence number.
        session.add(
            AccessEntry(
                seq=2,
                actor_label="bug",
                action="open",
                decision="allowed",
                prev_hash=first.prev_hash,
                leaf_hash=bytes(32),
                entry_hash=bytes(range(32)),
            )
        )


def test_access_summary_counts_staff_who_looked_by_reason_without_names(access_log, factory):
    first, second = factory.make_user(), factory.make_user()
    access_log.append(3, case_id="42", actor=first)  # one person, three page loads: one
    access_log.append(1, case_id="42", actor=second)
    access_log.append(1, case_id="42", actor=second, reason=ReasonCode.SECOND_REVIEW)
    access_log.append(1, case_id="42", actor=first, decision=Decision.DENIED, reason=None)
    access_log.append(3, case_id="other", actor=first)
    with session_scope(access_log.engine) as session:
        summary = access_summary(session, 42)
    assert summary == {"ASSIGNED_REVIEW": 2, "SECOND_REVIEW": 1}


def test_two_appends_in_one_transaction_chain_onto_each_other(access_log, db):
    with session_scope(access_log.engine) as session:
        for case_id in ("a", "b"):
            record_access(
                session,
                actor=None,
                action=AccessAction.EXPORT,
                decision=Decision.ALLOWED,
                reason_code=ReasonCode.LEGAL_REQUEST,
                case_id=case_id,
                conversation_id=None,
                evidence_version=None,
                mac_key=access_log.app.extensions["vigil.keys"].entry_mac,
            )
    first, second = _entries(db)
    assert (first.seq, second.seq) == (0, 1) and second.prev_hash == first.entry_hash
    assert access_log.verify()[:2] == (0, {})
