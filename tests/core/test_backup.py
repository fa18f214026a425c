"""Backup drill (issue 14, item 7), on SQLite and PostgreSQL, through the real command line.

A thread files reports through the API and claims and opens cases through the reviewer's
pages while `backup create` runs; the backup is restored into a fresh database with
`backup restore`; then the restored database passes its integrity check, holds exactly the
rows the backup file holds and every report acknowledged before the backup began (each
whole: case, key, evidence, exclusion), its access log verifies against the checkpoint
signed before the backup, the restored app signs a reviewer in and opens a case, and
neither the file nor its SQL rendering contains a message's text."""

from __future__ import annotations

import hashlib
import re
import stat
import subprocess
import threading
import time
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from app import create_app
from core.backup import check_integrity, row_counts
from tests import figures
from tests.conftest import empty_database_url
from tests.factories import Factory, make_token
from tests.helpers import Api, claim_next, report_body

CANARY = f"canary-{uuid.uuid4().hex} [simulated scam message]"
PROBLEM_RE = re.compile(r"^PROBLEM (\w+):", re.MULTILINE)
COPY_RE = re.compile(r"^COPY public\.(\"?[\w]+\"?) .*? FROM stdin;\n(.*?)^\\\.$", re.S | re.M)


class Load:
    """Reports through the API and claims + opens through the reviewer's pages, in a thread."""

    def __init__(self, app, reviewer_client) -> None:
        self.api = Api(app.test_client(), make_token(app))
        self.reviewer = reviewer_client
        self.sent: list[str] = []  # conversation ids, appended before each request
        self.acked: list[str] = []  # report references answered 201
        self.opened = 0
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        i = 0
        try:
            while not self._stop.is_set():
                i += 1
                body = report_body(
                    texts=("hello", f"load message {i} [simulated scam message]"),
                    reporter_id=f"load-{i}",
                )
                self.sent.append(body["conversation"]["id"])
                response = self.api.post(body)
                if response.status_code != 201:
                    self.errors.append(f"report {i}: {response.status_code}")
                    return
                self.acked.append(response.json["reference"])
                if i % 3 == 0:
                    claim_next(self.reviewer)  # asserts the claim and the case page
                    self.opened += 1
        except Exception as exc:  # reported to the test, which fails on it
            self.errors.append(repr(exc))

    def start(self) -> None:
        self._thread.start()

    def wait_for(self, acked: int, seconds: float = 60) -> None:
        deadline = time.monotonic() + seconds
        while len(self.acked) < acked and not self.errors and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not self.errors, self.errors
        assert len(self.acked) >= acked, f"only {len(self.acked)} reports in {seconds}s"

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=60)
        assert not self.errors, self.errors


def _dump_text(path: Path) -> str:
    """What the backup holds, as text: SQLite's raw pages, or pg_dump's SQL rendering."""
    raw = path.read_bytes()
    if raw.startswith(b"PGDMP"):
        return subprocess.run(
            ["pg_restore", "--file=-", str(path)], capture_output=True, check=True
        ).stdout.decode("utf-8", "replace")
    return raw.decode("utf-8", "replace")


def _rows_in_backup(path: Path, dump: str) -> dict[str, int]:
    """Rows per table as the backup file itself holds them."""
    if dump.startswith("SQLite format 3"):
        return row_counts(f"sqlite:///{path}")
    return {name.strip('"'): len(body.splitlines()) for name, body in COPY_RE.findall(dump)}


def _torn_rows(url: str) -> list[str]:
    """Reports, cases and exclusions that are not whole (what a torn backup would show)."""
    checks = {
        "report without its case's key": "SELECT count(*) FROM report r "
        "LEFT JOIN case_key k ON k.case_id = r.case_id WHERE k.case_id IS NULL",
        "report without its evidence": "SELECT count(*) FROM report r LEFT JOIN "
        "evidence_version e ON e.id = r.evidence_version_id WHERE e.id IS NULL",
        "report without its training exclusion": "SELECT count(*) FROM report r LEFT JOIN "
        "training_exclusion x ON x.conversation_id = r.conversation_id "
        "WHERE x.conversation_id IS NULL",
        "case whose report count is off": "SELECT count(*) FROM moderation_case c WHERE "
        "c.report_count <> (SELECT count(*) FROM report r WHERE r.case_id = c.id)",
        "evidence version past its case's latest": "SELECT count(*) FROM evidence_version e "
        "JOIN moderation_case c ON c.id = e.case_id WHERE e.version > c.evidence_version",
    }
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            counts = {what: conn.execute(text(sql)).scalar_one() for what, sql in checks.items()}
    finally:
        engine.dispose()
    return [f"{n} {what}" for what, n in counts.items() if n]


def _reports(url: str) -> tuple[set[str], set[str]]:
    """(report references, conversation ids) in the database at `url`."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT r.ref, v.external_id FROM report r "
                    "JOIN conversation v ON v.id = r.conversation_id"
                )
            ).all()
    finally:
        engine.dispose()
    return {ref for ref, _ in rows}, {conv for _, conv in rows}


def test_backup_under_load_restores_whole_sealed_and_verifying(app, request, tmp_path):
    settings = {
        "ENV": "test",
        "INSTANCE_PATH": str(tmp_path / "instance"),
        "CHECKPOINT_DIR": str(tmp_path / "checkpoints"),
    }
    live_url = app.config["VIGIL"]["DATABASE_URL"]
    factory = Factory(app)
    reviewer = factory.make_user(roles=("reviewer:general",))
    api = Api(app.test_client(), make_token(app))
    canary = report_body(texts=("hello", CANARY), description=CANARY, reporter_id="canary")
    answer = api.post(canary)
    assert answer.status_code == 201, answer.get_data(as_text=True)
    canary_ref = answer.json["reference"]
    reviewer_client = app.test_client()
    factory.login(reviewer_client, reviewer)
    cli = app.test_cli_runner()

    load = Load(app, reviewer_client)
    load.start()
    load.wait_for(6)
    signed = cli.invoke(args=["audit", "checkpoint"])  # under load, before the backup
    assert signed.exit_code == 0, signed.output
    signed_size = int(re.search(r"size (\d+)", signed.output).group(1))
    assert signed_size > 0
    load.wait_for(len(load.acked) + 3)
    acked_before = list(load.acked)
    backup_path = tmp_path / "backups" / "vigil.backup"
    made = cli.invoke(args=["backup", "create", "--output", str(backup_path)])
    sent_by_end = list(load.sent)
    assert made.exit_code == 0, made.output
    load.wait_for(len(load.acked) + 3)  # the app kept serving during and after the backup
    load.stop()
    assert load.opened > 0
    assert stat.S_IMODE(backup_path.stat().st_mode) == 0o600
    assert f"sha256 {hashlib.sha256(backup_path.read_bytes()).hexdigest()}" in made.output

    # Evidence, message text and the report's own words stay sealed in the backup file,
    # while plaintext metadata (the receipt number) is there: the search would find it.
    dump = _dump_text(backup_path)
    assert canary_ref in dump
    assert CANARY.split()[0] not in dump
    assert CANARY.split()[0].encode() not in backup_path.read_bytes()

    # Refused over a non-empty database; restored into a fresh one.
    refused = cli.invoke(args=["backup", "restore", str(backup_path)])
    assert refused.exit_code != 0 and "not empty" in refused.output
    restored_url = empty_database_url(request, live_url, tmp_path)
    done = cli.invoke(args=["backup", "restore", str(backup_path), "--to", restored_url])
    assert done.exit_code == 0, done.output
    assert "integrity: ok" in done.output
    assert check_integrity(restored_url) == "ok"

    # Exactly what the backup holds, a snapshot taken inside the run, with no torn rows.
    restored_counts = row_counts(restored_url)
    assert restored_counts == _rows_in_backup(backup_path, dump)
    refs, conversations = _reports(restored_url)
    figures.add("data lost", len(set(acked_before) - refs))
    assert set(acked_before) | {canary_ref} <= refs
    assert conversations - {canary["conversation"]["id"]} <= set(sent_by_end)
    assert len(refs) < len(_reports(live_url)[0])  # the live database went on growing
    assert _torn_rows(restored_url) == []

    # The restored access log verifies against the checkpoint signed before the backup.
    restored = create_app({**settings, "DATABASE_URL": restored_url})
    try:
        rcli = restored.test_cli_runner()
        verified = rcli.invoke(args=["audit", "verify"])
        assert verified.exit_code == 0, verified.output
        assert f"anchor: {signed_size} of " in verified.output
        assert restored_counts["access_entry"] >= signed_size

        # A checkpoint the live app signs later covers entries the backup never had: the
        # restored log is named truncated against it (why checkpoint copies stay outside).
        claim_next(reviewer_client)
        assert cli.invoke(args=["audit", "checkpoint"]).exit_code == 0
        later = rcli.invoke(args=["audit", "verify"])
        assert later.exit_code == 1
        assert "truncated" in PROBLEM_RE.findall(later.output), later.output

        # The restored app serves the restored data: sign in, claim, open, decrypt.
        client = restored.test_client()
        Factory(restored).login(client, reviewer)
        case_id, token = claim_next(client)
        page = client.get(f"/review/cases/{case_id}").get_data(as_text=True)
        csrf = page.split('name="csrf-token" content="')[1].split('"')[0]
        shown = client.post(f"/review/cases/{case_id}/reveal/1", headers={"X-CSRFToken": csrf})
        assert token and shown.status_code == 200, shown.get_data(as_text=True)[:300]
        assert "[simulated scam message]" in shown.json["html"]  # decrypted with the same key
    finally:
        restored.extensions["vigil.engine"].dispose()


@pytest.mark.parametrize("replace", [False, True], ids=["refused", "replaced"])
def test_restore_over_a_non_empty_database_only_when_told(app, request, tmp_path, replace):
    cli = app.test_cli_runner()
    backup_path = tmp_path / "one.backup"
    assert cli.invoke(args=["backup", "create", "--output", str(backup_path)]).exit_code == 0
    again = cli.invoke(args=["backup", "create", "--output", str(backup_path)])
    assert again.exit_code != 0 and "never overwrites" in again.output
    before = row_counts(app.config["VIGIL"]["DATABASE_URL"])
    api = Api(app.test_client(), make_token(app))
    assert api.post(report_body()).status_code == 201  # the target now differs from the file
    args = ["backup", "restore", str(backup_path), *(["--replace"] if replace else [])]
    result = cli.invoke(args=args)
    after = row_counts(app.config["VIGIL"]["DATABASE_URL"])
    if replace:
        assert result.exit_code == 0, result.output
        assert after == before
    else:
        assert result.exit_code != 0 and "not empty" in result.output
        assert after["report"] == before["report"] + 1  # nothing touched


def test_a_backup_of_the_other_kind_or_not_a_backup_is_refused(app, tmp_path):
    cli = app.test_cli_runner()
    junk = tmp_path / "junk.backup"
    junk.write_bytes(b"not a backup at all")
    result = cli.invoke(args=["backup", "restore", str(junk), "--to", "sqlite:///x.db"])
    assert result.exit_code != 0 and "not a Vigil backup" in result.output
    other = tmp_path / "other.backup"
    on_sqlite = app.config["VIGIL"]["DATABASE_URL"].startswith("sqlite")
    other.write_bytes(b"PGDMP" if on_sqlite else b"SQLite format 3\x00")
    result = cli.invoke(args=["backup", "restore", str(other), "--replace"])
    assert result.exit_code != 0 and "the target database is not" in result.output


def test_a_damaged_backup_restores_nothing(app, request, tmp_path):
    cli = app.test_cli_runner()
    whole = tmp_path / "whole.backup"
    assert cli.invoke(args=["backup", "create", "--output", str(whole)]).exit_code == 0
    damaged = tmp_path / "damaged.backup"
    damaged.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    target = empty_database_url(request, app.config["VIGIL"]["DATABASE_URL"], tmp_path)
    result = cli.invoke(args=["backup", "restore", str(damaged), "--to", target])
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output and "Error:" in result.output
    assert row_counts(target) == {}  # not one table half-restored
