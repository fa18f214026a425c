"""Signed checkpoints: the note, the copy outside the database, the sidecar loop, key rotation."""

from __future__ import annotations

import json
import os
from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import select

from access_control.journal import AdminEvent
from app import create_app
from audit.checkpoints import (
    CHAIN_HEAD,
    SignedIndex,
    build_checkpoint,
    checkpoint_dir,
    checkpoint_due,
    write_checkpoint_file,
)
from audit.models import AccessEntry, AuditCheckpoint, VerificationRun
from audit.signing import current_signer, known_keys, read_verifier_keys, verifier_keys_path
from audit.tlog.merkle import root
from audit.tlog.signed_note import parse_checkpoint_body, verify_note
from core.db import session_scope
from core.timeutil import as_utc, utcnow
from tests.conftest import test_settings


def _checkpoints(db) -> list[AuditCheckpoint]:
    db.expire_all()
    return list(db.exec(select(AuditCheckpoint).order_by(AuditCheckpoint.id)))


def _directory(app) -> Path:
    return checkpoint_dir(app.config["VIGIL"], app.config["VIGIL_INSTANCE"])


def _leaves(db, size=None) -> list[bytes]:
    rows = db.exec(select(AccessEntry.leaf_hash).order_by(AccessEntry.seq)).all()
    return [bytes(leaf) for leaf in rows][:size]


def test_a_checkpoint_is_signed_stored_and_copied_out(app, access_log, db):
    access_log.append(6)
    result = access_log.checkpoint()
    (row,) = _checkpoints(db)
    assert f"checkpoint {row.id}: size 6" in result.output
    copy = _directory(app) / row.file_name
    assert copy.read_text(encoding="utf-8") == row.note
    signer = current_signer(app)
    body = parse_checkpoint_body(verify_note(row.note, known_keys([signer.verifier_key])))
    assert (body.origin, body.size, body.root) == (signer.name, 6, root(_leaves(db)))
    assert any(line.startswith(CHAIN_HEAD) for line in body.extensions)
    # Whoever holds the public key file can verify later: the key was remembered.
    keys_file = verifier_keys_path(app.config["VIGIL"], app.config["VIGIL_INSTANCE"])
    assert read_verifier_keys(keys_file) == [signer.verifier_key]


def test_a_copy_is_never_overwritten(app, access_log, db):
    access_log.append(1)
    access_log.checkpoint()
    (row,) = _checkpoints(db)
    with pytest.raises(FileExistsError):
        write_checkpoint_file(_directory(app), row)


def test_the_checkpointer_refuses_to_sign_a_rewritten_or_truncated_log(access_log):
    access_log.append(5)
    access_log.checkpoint()
    access_log.tamper("UPDATE access_entry SET leaf_hash = entry_hash WHERE seq = 1")
    result = access_log.cli("audit", "checkpoint")
    assert result.exit_code == 1 and "history was rewritten" in result.output
    access_log.tamper("DELETE FROM access_entry WHERE seq = 4")
    result = access_log.cli("audit", "checkpoint")
    assert result.exit_code == 1 and "truncated" in result.output


def test_the_sidecar_signs_on_volume_verifies_and_stops_on_ctrl_c(access_log, db, monkeypatch):
    naps = []

    def fake_sleep(seconds: float) -> None:
        naps.append(seconds)
        if len(naps) == 2:
            access_log.append(3)  # the log grows between the second and third round
        if len(naps) == 3:
            raise KeyboardInterrupt

    monkeypatch.setitem(access_log.app.config["VIGIL"], "CHECKPOINT_MAX_ENTRIES", 3)
    monkeypatch.setattr("audit.sidecar.time.sleep", fake_sleep)
    access_log.append(2)
    result = access_log.cli("audit", "sidecar", "--every", "60")
    assert result.exit_code == 0 and result.output.rstrip().endswith("stopped")
    assert naps == [60.0, 60.0, 60.0]
    # Round 1 signs (no checkpoint yet), round 2 is idle, round 3 has 3 unsigned entries.
    assert [row.tree_size for row in _checkpoints(db)] == [2, 5]
    # The first round also verified (nothing had been verified yet); the hour is not up.
    assert result.output.count("verification (schedule): OK, 2 entries") == 1
    db.expire_all()
    (run,) = db.exec(select(VerificationRun)).all()
    assert (run.trigger, run.ok, run.tree_size) == ("schedule", True, 2)


def test_the_sidecar_survives_a_database_outage(access_log, db, monkeypatch):
    from sqlalchemy.exc import OperationalError

    import audit.sidecar

    real, calls = audit.sidecar.checkpoint_now, []

    def flaky(job, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise OperationalError("SELECT 1", {}, ConnectionError("server closed"))
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(job, **kwargs)

    monkeypatch.setattr(audit.sidecar, "checkpoint_now", flaky)
    monkeypatch.setattr("audit.sidecar.time.sleep", lambda _s: None)
    access_log.append(1)
    result = access_log.cli("audit", "sidecar", "--every", "1")
    assert "round skipped, database unavailable: server closed" in result.output
    assert result.output.rstrip().endswith("stopped")
    assert [row.tree_size for row in _checkpoints(db)] == [1]


def _due(app, db, now, *, max_entries=1000):
    signer = current_signer(app)
    latest = SignedIndex(keys=known_keys([], signer), origin=signer.name).refresh(db)
    return checkpoint_due(
        db,
        latest=latest,
        now=now,
        interval=timedelta(seconds=60),
        max_entries=max_entries,
        heartbeat=timedelta(hours=1),
    )


def test_a_checkpoint_is_due_on_time_on_volume_and_on_the_hourly_heartbeat(app, access_log, db):
    access_log.append(1)
    access_log.checkpoint()
    (row,) = _checkpoints(db)
    signed = as_utc(row.created_at)
    assert not _due(app, db, signed + timedelta(minutes=59))
    assert _due(app, db, signed + timedelta(minutes=61))  # the idle heartbeat
    access_log.append(2)
    db.rollback()  # a fresh snapshot: the new entries
    written = max(as_utc(e.occurred_at) for e in db.exec(select(AccessEntry)))
    assert not _due(app, db, written + timedelta(seconds=29))
    assert _due(app, db, written + timedelta(seconds=31))  # half the interval: signed in time
    assert _due(app, db, written, max_entries=2)  # or as soon as enough entries wait


def test_rotation_keeps_old_checkpoints_verifiable(app, access_log, database_url, tmp_path, db):
    access_log.append(3)
    access_log.checkpoint()
    old_key = current_signer(app).verifier_key
    result = access_log.cli("keys", "rotate-signing")
    assert result.exit_code == 0, result.output
    secret = Path(app.config["VIGIL_INSTANCE"]) / "audit_signing_key.secret"
    assert secret.stat().st_mode & 0o777 == 0o600
    # The next process (sidecar restart) signs with the new key.
    rotated = create_app(test_settings(database_url, tmp_path))
    try:
        new_key = current_signer(rotated).verifier_key
        assert new_key != old_key
        runner = rotated.test_cli_runner()
        access_log.append(2)
        assert runner.invoke(args=["audit", "checkpoint"]).exit_code == 0
        verify = runner.invoke(args=["audit", "verify"])
        assert verify.exit_code == 0, verify.output
        assert "2 signed checkpoints checked" in verify.output
    finally:
        rotated.extensions["vigil.engine"].dispose()
    key_ids = {old_key.split("+")[1], new_key.split("+")[1]}
    assert {row.key_id for row in _checkpoints(db)} == key_ids
    event = db.exec(select(AdminEvent).where(AdminEvent.event_type == "keys.signing_rotated"))
    assert event.one().after == json.dumps(new_key)


def test_without_the_trusted_key_file_old_checkpoints_are_from_an_unknown_key(
    app, access_log, database_url, tmp_path
):
    access_log.append(2)
    access_log.checkpoint()
    assert access_log.cli("keys", "rotate-signing").exit_code == 0
    verifier_keys_path(app.config["VIGIL"], app.config["VIGIL_INSTANCE"]).unlink()
    rotated = create_app(test_settings(database_url, tmp_path))
    try:
        verify = rotated.test_cli_runner().invoke(args=["audit", "verify"])
    finally:
        rotated.extensions["vigil.engine"].dispose()
    assert verify.exit_code == 1 and "PROBLEM unknown_key" in verify.output


def test_a_configured_key_is_rotated_into_a_new_file_only(database_url, tmp_path):
    import base64

    seed = base64.b64encode(os.urandom(32)).decode()
    configured = create_app({**test_settings(database_url, tmp_path), "AUDIT_SIGNING_KEY": seed})
    try:
        runner = configured.test_cli_runner()
        refused = runner.invoke(args=["keys", "rotate-signing"])
        assert refused.exit_code == 1 and "--out" in refused.output
        out = tmp_path / "new-signing.key"
        done = runner.invoke(args=["keys", "rotate-signing", "--out", str(out)])
        assert done.exit_code == 0, done.output
        assert out.stat().st_mode & 0o777 == 0o600
        assert runner.invoke(args=["keys", "rotate-signing", "--out", str(out)]).exit_code == 1
    finally:
        configured.extensions["vigil.engine"].dispose()


def test_build_checkpoint_of_an_empty_log(app, db):
    signer = current_signer(app)
    checkpoint = build_checkpoint(
        db, signer=signer, origin=signer.name, latest=None, mac_key=None, now=utcnow()
    )
    assert checkpoint.tree_size == 0 and checkpoint.root_hash == root([])
    with session_scope(app.extensions["vigil.engine"]) as session:
        session.add(checkpoint)


def test_only_one_sidecar_works_and_a_standby_takes_over(access_log, db, monkeypatch):
    from audit.sidecar import Lead

    other = Lead(access_log.engine)  # another host's sidecar, already leading
    assert other.hold()
    naps = []

    def fake_sleep(_seconds: float) -> None:
        naps.append(1)
        if len(naps) == 2:
            other.release()  # the leader's host goes away
        if len(naps) == 3:
            raise KeyboardInterrupt

    monkeypatch.setattr("audit.sidecar.time.sleep", fake_sleep)
    access_log.append(2)
    result = access_log.cli("audit", "sidecar", "--every", "1")
    assert result.output.count("another sidecar leads this deployment; standing by") == 1
    # Rounds 1 and 2 stood by; round 3 took over and signed.
    assert [row.tree_size for row in _checkpoints(db)] == [2], result.output
    assert Lead(access_log.engine).hold()  # the lead was given up at Ctrl-C
