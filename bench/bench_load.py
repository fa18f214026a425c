"""Issue 14, item 8: a bounded mixed load on gunicorn (2 sync workers) + PostgreSQL.

Reporters file reports through the API, reviewers press "Next case" and open the case
they got, an auditor searches the access log, all at once over loopback HTTP, with the
checkpoint sidecar running beside the servers as in production. Afterwards: no 5xx, every
report answered 201 is stored and nothing else is (submitted = stored), and the access log
verifies. `make bench` runs 60 s and writes p50/p95/p99 per kind of request to
BENCHMARKS.md; tests/test_load.py runs it for 10 s and checks the same outcomes.
"""

from __future__ import annotations

import argparse
import http.cookiejar
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import pyotp

from bench.http_load import ROOT, gunicorn
from bench.report import PG_ADMIN, write_section

PASSWORD = "load password 123"  # noqa: S105  (throwaway accounts in a throwaway database)
REPORTERS, WEB_REPORTERS, REVIEWERS, AUDITORS = 2, 1, 2, 1
CONVERSATIONS_PER_USER = 20
CSRF_RE = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')
CASE_RE = re.compile(r"/review/cases/(\d+)$")
KINDS = (
    "report (API)",
    "report (web form)",
    "reporter's page",
    "claim next case",
    "open case",
    "search the log",
    "a case's log",
)


@dataclass
class Outcome:
    """What the load did and what the database holds afterwards."""

    seconds: float
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    statuses: Counter = field(default_factory=Counter)  # (kind, status) -> count
    unexpected: list[str] = field(default_factory=list)  # non-5xx surprises, transport errors
    acked: set[str] = field(default_factory=set)  # API report references answered 201
    stored: set[str] = field(default_factory=set)  # API report references in the database
    web_acked: int = 0  # web form reports answered with the redirect to /reports
    web_stored: int = 0  # reports by the web reporters in the database
    verified: bool = False
    verify_output: str = ""

    @property
    def five_xx(self) -> int:
        return sum(n for (_kind, status), n in self.statuses.items() if status >= 500)

    @property
    def lost(self) -> int:
        return len(self.acked - self.stored) + max(0, self.web_acked - self.web_stored)

    @property
    def submitted(self) -> int:
        return len(self.acked) + self.web_acked

    @property
    def requests(self) -> int:
        return sum(self.statuses.values())


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *_args, **_kwargs):
        return None  # a 302 is an answer to time, not a page to follow


class Browser:
    """One person's cookies on one server; every request timed under its kind."""

    def __init__(self, port: int, outcome: Outcome, lock: threading.Lock) -> None:
        self.base, self.outcome, self.lock = f"http://127.0.0.1:{port}", outcome, lock
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(self.jar), _NoRedirect
        )
        self.csrf = ""

    def call(self, kind: str | None, method: str, path: str, *, data=None, headers=None):
        """(status, body, Location); kind None: setup, not counted."""
        body = None
        if isinstance(data, dict):
            body = urllib.parse.urlencode(data).encode()
        elif data is not None:
            body = data
        req = urllib.request.Request(  # noqa: S310  (always http://127.0.0.1:<port>)
            self.base + path, data=body, method=method, headers=headers or {}
        )
        started = time.perf_counter()
        try:
            with self.opener.open(req, timeout=60) as response:
                status, text, location = response.status, response.read(), None
        except urllib.error.HTTPError as answer:
            status, text = answer.code, answer.read()
            location = answer.headers.get("Location")
        except OSError as exc:
            with self.lock:
                self.outcome.unexpected.append(f"{kind or 'setup'} {path}: {exc!r}")
            return 0, b"", None
        elapsed = time.perf_counter() - started
        if kind is not None:
            with self.lock:
                self.outcome.latencies[kind].append(elapsed)
                self.outcome.statuses[(kind, status)] += 1
        return status, text.decode("utf-8", "replace"), location

    def sign_in(self, email: str, secret: str | None) -> None:
        """Password, then TOTP for staff (secret None: an end user, no second factor)."""
        steps = [("/login", {"email": email, "password": PASSWORD})]
        if secret is not None:
            steps.append(("/login/mfa", {"code": pyotp.TOTP(secret).now()}))
        for path, data in steps:
            page = self.call(None, "GET", path)[1]
            token = CSRF_RE.search(page).group(1)
            status = self.call(None, "POST", path, data={"csrf_token": token, **data})[0]
            if status != 302:
                raise RuntimeError(f"sign-in of {email} at {path} answered {status}")
        self.csrf = CSRF_RE.search(self.call(None, "GET", "/account")[1]).group(1)


def _expect(outcome: Outcome, lock, kind: str, status: int, wanted: tuple[int, ...]) -> bool:
    if status in wanted or status >= 500:  # 5xx are counted by status, not listed
        return status in wanted
    with lock:
        outcome.unexpected.append(f"{kind}: {status}")
    return False


def _reporter(browser: Browser, token: str, stop: threading.Event) -> None:
    from tests.helpers import report_body

    outcome, lock = browser.outcome, browser.lock
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    while not stop.is_set():
        tag = uuid.uuid4().hex[:12]
        body = report_body(
            conversation_id=f"load-{tag}",
            texts=("hello", f"load {tag}: [simulated scam message]"),
            reporter_id=f"load-{tag}",
        )
        status, text, _ = browser.call(
            "report (API)", "POST", "/api/v1/reports", data=json.dumps(body).encode(),
            headers=headers,
        )  # fmt: skip
        if _expect(outcome, lock, "report (API)", status, (201,)):
            with lock:
                outcome.acked.add(json.loads(text)["reference"])


def _web_reporter(browser: Browser, conversations: list[int], stop: threading.Event) -> None:
    outcome, lock = browser.outcome, browser.lock
    turn = 0
    while not stop.is_set():
        path = f"/conversations/{conversations[turn % len(conversations)]}/report"
        turn += 1
        form = {"csrf_token": browser.csrf, "category": "scam_fraud", "message_ids": "m1"}
        status, _, location = browser.call("report (web form)", "POST", path, data=form)
        if _expect(outcome, lock, "report (web form)", status, (302,)):
            with lock:
                outcome.web_acked += 1
            # A browser follows the redirect; the page it lands on reads the "thank you"
            # flash out of the session cookie (unread flashes would pile up in the cookie
            # until the server refuses its size, 431).
            landing = urllib.parse.urlsplit(location or "/reports").path
            status = browser.call("reporter's page", "GET", landing)[0]
            _expect(outcome, lock, "reporter's page", status, (200,))


def _reviewer(browser: Browser, opened: list[int], stop: threading.Event) -> None:
    outcome, lock = browser.outcome, browser.lock
    while not stop.is_set():
        form = {"csrf_token": browser.csrf, "queue": ""}
        status, _, location = browser.call("claim next case", "POST", "/review/next", data=form)
        if not _expect(outcome, lock, "claim next case", status, (302,)):
            continue
        found = CASE_RE.search(urllib.parse.urlsplit(location or "").path)
        if found is None:  # nothing to claim yet: the queue is empty
            time.sleep(0.2)
            continue
        status = browser.call("open case", "GET", found.group(0))[0]
        if _expect(outcome, lock, "open case", status, (200,)):
            with lock:
                opened.append(int(found.group(1)))


def _auditor(browser: Browser, opened: list[int], stop: threading.Event) -> None:
    outcome, lock = browser.outcome, browser.lock
    while not stop.is_set():
        status = browser.call("search the log", "GET", "/audit/?action=open&decision=allowed")[0]
        _expect(outcome, lock, "search the log", status, (200,))
        with lock:
            case_id = opened[-1] if opened else None
        if case_id is not None:
            status = browser.call("a case's log", "GET", f"/audit/cases/{case_id}")[0]
            _expect(outcome, lock, "a case's log", status, (200,))
        time.sleep(0.05)


def _env(database_url: str, instance: Path) -> dict[str, str]:
    return {
        "VIGIL_INSTANCE_PATH": str(instance),
        "VIGIL_DATABASE_URL": database_url,
        "VIGIL_CHECKPOINT_DIR": str(instance / "checkpoints"),
        # One loopback address sends everything: the per-address limits would only measure
        # themselves; so would the web reporter's own (API reports each have their own id).
        "VIGIL_REPORT_LIMIT_PER_ADDRESS": "1000000 per minute",
        "VIGIL_REPORT_LIMIT_PER_REPORTER": "1000000 per minute",
        "VIGIL_LOGIN_LIMIT_PER_ADDRESS": "1000000 per minute",
        "VIGIL_DENIAL_LIMIT_PER_ACTOR": "1000000 per minute",
        "VIGIL_VIEWER_CAP": "1000",
    }


@dataclass
class People:
    """Who takes part: (email, TOTP secret) per account; web reporters' conversation ids."""

    token: str
    web_reporters: list[tuple[str, None, list[int]]]
    reviewers: list[tuple[str, str]]
    auditors: list[tuple[str, str]]


def _accounts(app) -> People:
    """A service token, web reporters with conversations, reviewers and auditors."""
    from core.db import session_scope
    from tests.factories import make_conversation_in, make_token_in, make_user

    with session_scope(app.extensions["vigil.engine"]) as session:
        token = make_token_in(session, name=f"load-{uuid.uuid4().hex[:6]}")
        people = {}
        for role, count in (("reviewer:general", REVIEWERS), ("auditor", AUDITORS)):
            people[role] = [
                make_user(
                    session,
                    email=f"load-{uuid.uuid4().hex[:8]}@vigil.test",
                    roles=(role,),
                    password=PASSWORD,
                )
                for _ in range(count)
            ]
        web = []
        for _ in range(WEB_REPORTERS):
            user = make_user(
                session, email=f"load-{uuid.uuid4().hex[:8]}@vigil.test", password=PASSWORD
            )
            session.flush()
            owned = [
                make_conversation_in(session, user, texts=("hi", "[simulated scam message]")).id
                for _ in range(CONVERSATIONS_PER_USER)
            ]
            web.append((user.email, None, owned))
    as_pairs = {role: [(u.email, u.totp_secret) for u in users] for role, users in people.items()}
    return People(token, web, as_pairs["reviewer:general"], as_pairs["auditor"])


def _stored(app, web_emails: list[str]) -> tuple[set[str], int]:
    """(references of API reports, count of reports by the web reporters) in the database."""
    from sqlmodel import Session, col, func, select

    from access_control.models import User
    from core.db import read_only
    from moderation.intake.models import Report

    with Session(read_only(app.extensions["vigil.engine"])) as session:
        api = set(session.exec(select(Report.ref).where(col(Report.token_id).is_not(None))))
        web = session.exec(
            select(func.count())
            .select_from(Report)
            .join(User, col(User.id) == col(Report.reporter_user_id))
            .where(col(User.email).in_(web_emails))
        ).one()
    return api, web


def run_load(database_url: str, instance: Path, seconds: float) -> Outcome:
    """Run the mixed load against a migrated database; return what happened."""
    from app import create_app

    env = _env(database_url, instance)
    settings = {
        "DATABASE_URL": database_url,
        "INSTANCE_PATH": str(instance),
        "CHECKPOINT_DIR": env["VIGIL_CHECKPOINT_DIR"],
    }
    app = create_app(settings)  # the same instance/ as the servers: the same keys
    outcome, lock, stop, opened = Outcome(seconds), threading.Lock(), threading.Event(), []
    try:
        people = _accounts(app)
        web_emails = [email for email, _secret, _owned in people.web_reporters]
        before = _stored(app, web_emails)[0]
        # This interpreter running the audit sidecar: no outside input.
        sidecar = subprocess.Popen(  # nosec B603
            [sys.executable, "-m", "flask", "--app", "app", "audit", "sidecar"],
            cwd=ROOT,
            env={**os.environ, **env},
            stdout=subprocess.DEVNULL,
        )
        try:
            with gunicorn("app:create_app()", env, workers=2) as port:
                threads = []
                for _ in range(REPORTERS):
                    browser = Browser(port, outcome, lock)
                    args = (browser, people.token, stop)
                    threads.append(threading.Thread(target=_reporter, args=args))
                for email, secret, owned in people.web_reporters:
                    browser = Browser(port, outcome, lock)
                    browser.sign_in(email, secret)
                    args = (browser, owned, stop)
                    threads.append(threading.Thread(target=_web_reporter, args=args))
                for group, loop in ((people.reviewers, _reviewer), (people.auditors, _auditor)):
                    for email, secret in group:
                        browser = Browser(port, outcome, lock)
                        browser.sign_in(email, secret)
                        threads.append(threading.Thread(target=loop, args=(browser, opened, stop)))
                for thread in threads:
                    thread.start()
                time.sleep(seconds)
                stop.set()
                for thread in threads:
                    thread.join(timeout=120)
        finally:
            sidecar.send_signal(signal.SIGINT)
            sidecar.wait(timeout=30)
        api_refs, outcome.web_stored = _stored(app, web_emails)
        outcome.stored = api_refs - before
        cli = app.test_cli_runner()
        signed = cli.invoke(args=["audit", "checkpoint"])  # anchor the last few seconds
        verified = cli.invoke(args=["audit", "verify"])
        outcome.verify_output = signed.output + verified.output
        outcome.verified = signed.exit_code == 0 and verified.exit_code == 0
    finally:
        app.extensions["vigil.engine"].dispose()
    return outcome


def _ms(values: list[float], q: int) -> str:
    if len(values) < 2:
        return f"{values[0] * 1000:.0f}" if values else "n/a"
    return f"{statistics.quantiles(values, n=100, method='inclusive')[q - 1] * 1000:.0f}"


def section(outcome: Outcome) -> str:
    """The BENCHMARKS.md section."""
    rows = [
        f"| {kind} | {len(outcome.latencies[kind]):,} | "
        f"{len(outcome.latencies[kind]) / outcome.seconds:.1f} | "
        f"{_ms(outcome.latencies[kind], 50)} | {_ms(outcome.latencies[kind], 95)} | "
        f"{_ms(outcome.latencies[kind], 99)} |"
        for kind in KINDS
    ]
    return "\n".join(
        [
            "## Mixed load (issue 14)",
            "",
            "gunicorn, 2 sync workers, PostgreSQL, loopback, the checkpoint sidecar beside the",
            f"servers; {outcome.seconds:.0f} s of {REPORTERS} reporters (API), {WEB_REPORTERS} "
            "signed-in user reporting through the web form,",
            f"{REVIEWERS} reviewers (Next case, then the case page) and {AUDITORS} auditor (a "
            "log search, then a case's log),",
            "each a closed-loop client thread on the same cores.",
            "",
            "| request | count | per second | p50 ms | p95 ms | p99 ms |",
            "|---|---:|---:|---:|---:|---:|",
            *rows,
            "",
            f"{outcome.requests:,} requests; 5xx: {outcome.five_xx}; other surprises: "
            f"{len(outcome.unexpected)}; reports submitted: {outcome.submitted:,} (API "
            f"{len(outcome.acked):,}, web {outcome.web_acked:,}), stored: "
            f"{len(outcome.stored) + outcome.web_stored:,}, lost: {outcome.lost}; access log "
            "afterwards: "
            f"{'verifies' if outcome.verified else 'FAILED'}.",
        ]
    )


def problems(outcome: Outcome) -> list[str]:
    """Why the run failed (empty: it held)."""
    found = []
    if outcome.five_xx:
        found.append(f"{outcome.five_xx} answers were 5xx")
    if outcome.unexpected:
        found.append(f"unexpected answers: {outcome.unexpected[:5]}")
    if outcome.acked != outcome.stored:
        found.append(
            f"API reports submitted {len(outcome.acked)} != stored {len(outcome.stored)} "
            f"({len(outcome.acked - outcome.stored)} lost, "
            f"{len(outcome.stored - outcome.acked)} unacknowledged)"
        )
    if outcome.web_acked != outcome.web_stored:
        found.append(f"web reports submitted {outcome.web_acked} != stored {outcome.web_stored}")
    if not outcome.verified:
        found.append(f"the access log does not verify:\n{outcome.verify_output}")
    return found


def main() -> None:
    from access_control.policy import load_baseline
    from core import migrate
    from core.db import make_engine, session_scope
    from tests.conftest import pg_database_url, pg_execute

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--quick", action="store_true", help="10 s")
    args = parser.parse_args()
    admin_url = PG_ADMIN
    name = f"vigil_load_{uuid.uuid4().hex[:10]}"
    pg_execute(admin_url, f'CREATE DATABASE "{name}"')
    try:
        url = pg_database_url(admin_url, name)
        engine = make_engine(url)
        migrate.upgrade(engine)
        with session_scope(engine) as session:
            load_baseline(session)
        engine.dispose()
        with tempfile.TemporaryDirectory() as tmp:
            outcome = run_load(url, Path(tmp), 10.0 if args.quick else args.seconds)
    finally:
        pg_execute(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    text = section(outcome)
    print(text)
    if failed := problems(outcome):
        raise SystemExit("load run failed: " + "; ".join(failed))
    write_section("load", text)


if __name__ == "__main__":
    main()
