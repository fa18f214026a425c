"""Many hosts (issue 13, item 5): two gunicorn masters, as two hosts would run them, on one
PostgreSQL database and one Redis, with the same secrets and nothing else in common.

Over real HTTP: a role revoked (or a policy row removed) through one host is enforced by the
other on its next request; failed sign-ins on both count against one per-account limit;
access-log appends from both form one gap-free chain; and of two checkpoint sidecars exactly
one signs, the other taking over when it stops."""

from __future__ import annotations

import http.cookiejar
import itertools
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from sqlalchemy import text

from access_control.signin import BAD_LOGIN
from audit.access_log import record_access
from audit.reasons import AccessAction, Decision, ReasonCode
from audit.tlog.canonical import GENESIS
from core.config import SECRET_SETTINGS
from core.db import session_scope
from tests.audit.conftest import only_postgres
from tests.conftest import IN_CI
from tests.factories import make_case
from tests.helpers import post_form

ROOT = Path(__file__).resolve().parents[1]
# A Redis database for Vigil's tests. Nothing is flushed: every counter the assertions read
# is keyed by a fresh account's email, and the limits keyed by things parallel runs share
# (the loopback address, actor ids like "user:3") are set too high to trip.
REDIS_URL = os.environ.get("VIGIL_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
ACCOUNT_LIMIT = 5
STARTUP_SECONDS = 30.0

pytestmark = only_postgres


@pytest.fixture(scope="module")
def redis_url() -> str:
    """The shared Redis; skips when it is absent (fails in CI, like PostgreSQL)."""
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_timeout=2).ping()
    except redis.RedisError as exc:
        if IN_CI:
            pytest.fail(f"CI=true but Redis at {REDIS_URL} is unreachable: {exc}")
        pytest.skip(f"Redis not reachable at {REDIS_URL} (set VIGIL_TEST_REDIS_URL)")
    return REDIS_URL


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for(check, seconds: float, what: str):
    """Poll `check()` until it returns something truthy; fail naming `what`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if result := check():
            return result
        time.sleep(0.1)
    raise AssertionError(f"timed out after {seconds:.0f}s waiting for {what}")


def _stop(processes: list[subprocess.Popen], sig: int) -> None:
    """Signal every process that still runs, then wait for each (killed after 10 s)."""
    for process in processes:
        if process.poll() is None:
            process.send_signal(sig)
    for process in processes:
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


class Deployment:
    """What every host of one deployment shares: the database, Redis and the secrets."""

    def __init__(self, app, database_url: str, redis_url: str, tmp_path: Path) -> None:
        self.app, self.tmp_path = app, tmp_path
        base = {k: v for k, v in os.environ.items() if not k.startswith("VIGIL_")}
        self.env = {
            **base,
            "PYTHONUNBUFFERED": "1",
            "VIGIL_ENV": "production",
            "VIGIL_SECURE_COOKIES": "false",  # plain http on the loopback
            "VIGIL_DATABASE_URL": database_url,
            "VIGIL_RATELIMIT_STORAGE_URI": redis_url,
            "VIGIL_LOGIN_LIMIT_PER_ACCOUNT": f"{ACCOUNT_LIMIT} per 15 minutes",
            # Every client here is 127.0.0.1, and so are parallel runs on this machine.
            "VIGIL_LOGIN_LIMIT_PER_ADDRESS": "100000 per minute",
            "VIGIL_DENIAL_LIMIT_PER_ACTOR": "100000 per minute",
            # The in-process app's secrets (base64 32 bytes each), so it can verify the log.
            **{f"VIGIL_{name}": app.config["VIGIL"][name] for name in SECRET_SETTINGS},
        }

    def env_for(self, name: str, **extra: str) -> dict[str, str]:
        """The environment of one process: its own instance and checkpoint directories."""
        return {
            **self.env,
            "VIGIL_INSTANCE_PATH": str(self.tmp_path / name / "instance"),
            "VIGIL_CHECKPOINT_DIR": str(self.tmp_path / name / "checkpoints"),
            **extra,
        }

    def host(self, name: str) -> Host:
        """One host: its own gunicorn master with one sync worker (started, not yet up)."""
        return Host(name, self.env_for(name), self.tmp_path / f"{name}.log")


class Host:
    """`gunicorn --workers 1 --worker-class sync 'app:create_app()'` on a free port."""

    def __init__(self, name: str, env: dict[str, str], log_path: Path) -> None:
        port = _free_port()
        self.name, self.port, self.url = name, port, f"http://127.0.0.1:{port}"
        self.log = log_path.open("w+")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "--workers",
                "1",
                "--worker-class",
                "sync",
                "--bind",
                f"127.0.0.1:{port}",
                "--log-level",
                "warning",
                "app:create_app()",
            ],
            cwd=ROOT,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    def wait_up(self) -> str:
        def up() -> bool:
            assert self.process.poll() is None, f"host {self.name} exited:\n{_read(self.log)}"
            try:
                with urllib.request.urlopen(
                    f"http://127.0.0.1:{self.port}/login", timeout=2
                ) as response:
                    return response.status == 200
            except OSError:
                return False

        _wait_for(up, STARTUP_SECONDS, f"host {self.name} to answer /login")
        return self.url


def _read(handle) -> str:
    handle.flush()
    handle.seek(0)
    return handle.read()[-3000:]


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None  # a 3xx comes back as the answer, as in Flask's test client


class Response:
    def __init__(self, status: int, headers, body: bytes) -> None:
        self.status_code, self.headers, self.data = status, headers, body

    def get_data(self, as_text: bool = False):
        return self.data.decode("utf-8", "replace") if as_text else self.data


class Browser:
    """A browser on one host over real HTTP (cookies, no redirects), shaped like Flask's test
    client so tests.factories and tests.helpers drive it the same way."""

    def __init__(self, base_url: str) -> None:
        self.port = urllib.parse.urlsplit(base_url).port  # always a loopback host
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()), _NoRedirects()
        )

    def open(self, method: str, path: str, data: dict | None = None) -> Response:
        body = urllib.parse.urlencode(data, doseq=True).encode() if data is not None else None
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{path}", data=body, method=method
        )
        try:
            with self.opener.open(request, timeout=30) as response:
                return Response(response.status, response.headers, response.read())
        except urllib.error.HTTPError as error:
            with error:
                return Response(error.code, error.headers, error.read())

    def get(self, path: str) -> Response:
        return self.open("GET", path)

    def post(self, path: str, data: dict) -> Response:
        return self.open("POST", path, data)


@pytest.fixture
def deployment(app, database_url, redis_url, tmp_path) -> Deployment:
    return Deployment(app, database_url, redis_url, tmp_path)


@pytest.fixture
def hosts(deployment):
    """Hosts A and B, started side by side; both stopped afterwards whatever happens."""
    started: list[Host] = []
    try:
        for name in ("a", "b"):
            started.append(deployment.host(name))
        yield [host.wait_up() for host in started]
    finally:
        _stop([host.process for host in started], signal.SIGINT)  # gunicorn: quick shutdown
        for host in started:
            host.log.close()


# --- 1. authorization changes reach the other host on its next request --------------------


def test_a_role_revoked_through_one_host_is_enforced_by_the_other(hosts, factory):
    host_a, host_b = hosts
    admin = factory.make_user(roles=("admin",))
    auditor = factory.make_user(roles=("auditor",))
    on_a, on_b = Browser(host_a), Browser(host_b)
    factory.login(on_a, admin)
    factory.login(on_b, auditor)
    assert on_b.get("/audit/").status_code == 200
    assert on_b.get("/audit/").status_code == 200  # host B's decisions are cached and warm

    detail = f"/admin/accounts/{auditor.id}"
    form = {"action": "revoke", "role": "auditor", "reason": "left the audit team"}
    revoked = post_form(on_a, f"{detail}/roles", form, token_from=detail)
    assert revoked.status_code == 302, revoked.get_data(as_text=True)[:500]  # no second admin

    # A revocation also ends the account's sessions, on every host: B's next request is
    # sent to sign in; signed in again there, the role is gone from B's decisions.
    after = on_b.get("/audit/")
    assert after.status_code == 302 and "/login" in after.headers["Location"], after.status_code
    factory.login(on_b, auditor)
    assert on_b.get("/audit/").status_code == 403


def test_a_policy_row_removed_through_one_host_is_enforced_by_the_other(hosts, factory):
    # A narrowing policy change applies at once and leaves sessions alone: what B answers
    # next can only come from the policy version row B reads on each request.
    host_a, host_b = hosts
    admin = factory.make_user(roles=("admin",))
    auditor = factory.make_user(roles=("auditor",))
    on_a, on_b = Browser(host_a), Browser(host_b)
    factory.login(on_a, admin)
    factory.login(on_b, auditor)
    assert on_b.get("/audit/").status_code == 200
    assert on_b.get("/audit/").status_code == 200

    row = "p, auditor, *, access_log, read, any, allow"
    form = {"verb": "remove", "row": row, "reason": "auditors read through the replica now"}
    applied = post_form(on_a, "/admin/policy/apply", form, token_from="/admin/policy")
    assert applied.status_code == 302, applied.get_data(as_text=True)[:500]
    page = on_a.get("/admin/policy").get_data(as_text=True)
    assert "Applied: - " in page, "the removal was queued for approval, not applied"

    assert on_b.get("/audit/").status_code == 403  # B's very next request, same session
    assert on_b.get("/account").status_code == 200  # still signed in: the policy said no


# --- 2. one rate-limit counter for the whole deployment ---------------------------------


def test_failed_sign_ins_on_both_hosts_count_against_one_limit(hosts, factory):
    user = factory.make_user()  # a fresh email: a counter no other test or run touches
    browsers = [Browser(url) for url in hosts]
    wrong = {"email": user.email, "password": "not the password"}
    for attempt in range(ACCOUNT_LIMIT):  # A, B, A, B, A: neither host alone reaches 5
        response = post_form(browsers[attempt % 2], "/login", wrong)
        assert response.status_code == 200, (attempt, response.status_code)
        assert BAD_LOGIN in response.get_data(as_text=True), attempt
    for name, browser in zip("ab", browsers, strict=True):
        for password in ("not the password", factory.password):  # even the right one
            response = post_form(browser, "/login", {**wrong, "password": password})
            assert response.status_code == 429, (
                f"host {name} let sign-in attempt {ACCOUNT_LIMIT + 1} through "
                f"({response.status_code}): the hosts do not share their counters"
            )
            retry_after = int(response.headers["Retry-After"])
            assert 0 < retry_after <= 15 * 60, retry_after


# --- 3. access-log appends from both hosts form one chain -------------------------------

THREADS_PER_HOST, REQUESTS_PER_THREAD = 4, 15


def test_appends_from_both_hosts_form_one_gap_free_chain(hosts, factory, app, db):
    case_id = make_case(app)  # unclaimed: a reviewer's look is refused and logged DENIED
    # One reviewer per client thread (a sign-in each), so each entry names its host.
    reviewers, sessions = {}, []
    for url in hosts:
        for _ in range(THREADS_PER_HOST):
            reviewer = factory.make_user(roles=("reviewer:general",))
            browser = Browser(url)
            factory.login(browser, reviewer)
            reviewers[reviewer.id], sessions = url, [*sessions, browser]
    before = db.execute(text("SELECT count(*) FROM access_entry")).scalar_one()

    statuses: list[int] = []
    start = threading.Barrier(len(sessions))

    def hammer(browser: Browser) -> None:
        start.wait()
        for _ in range(REQUESTS_PER_THREAD):
            statuses.append(browser.get(f"/review/cases/{case_id}").status_code)

    threads = [threading.Thread(target=hammer, args=(browser,)) for browser in sessions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a client thread hung"
    requests = len(sessions) * REQUESTS_PER_THREAD
    assert statuses == [403] * requests, sorted(set(statuses))

    rows = db.execute(
        text("SELECT seq, actor_id, decision, prev_hash, entry_hash FROM access_entry ORDER BY seq")
    ).all()
    assert [row.seq for row in rows] == list(range(len(rows))), "the seqs have a gap"
    assert len(rows) == before + requests, (len(rows), before, requests)
    prev = GENESIS
    for row in rows:
        assert bytes(row.prev_hash) == prev, f"entry {row.seq} does not link to {row.seq - 1}"
        prev = bytes(row.entry_hash)
    new = rows[before:]
    assert {row.decision for row in new} == {"denied"}
    per_host = dict.fromkeys(hosts, 0)
    for row in new:
        per_host[reviewers[row.actor_id]] += 1
    assert sorted(per_host.values()) == [requests // 2] * 2, per_host
    hops = itertools.pairwise(reviewers[row.actor_id] for row in new)
    switches = sum(1 for a, b in hops if a != b)
    assert switches > 2, "the two hosts never interleaved their appends; nothing was proved"

    result = app.test_cli_runner().invoke(args=["audit", "verify"])
    assert result.exit_code == 0, result.output
    assert f"OK: {len(rows)} entries" in result.output, result.output


# --- 4. the checkpoint sidecar runs once per deployment ---------------------------------


class Sidecar:
    """`flask --app app audit sidecar --every 1`, its output collected as it comes."""

    def __init__(self, deployment: Deployment, name: str) -> None:
        self.name = name
        self.directory = deployment.tmp_path / name / "checkpoints"
        self.lines: list[str] = []
        self.process = subprocess.Popen(
            [sys.executable, "-m", "flask", "--app", "app", "audit", "sidecar", "--every", "1"],
            cwd=ROOT,
            # Sign as soon as one entry is unsigned: every round with news writes a file.
            env=deployment.env_for(name, VIGIL_CHECKPOINT_MAX_ENTRIES="1"),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    def output(self) -> str:
        return f"--- {self.name} ---\n" + "\n".join(self.lines)

    def said(self, fragment: str) -> bool:
        return any(fragment in line for line in self.lines)

    def files(self) -> list[Path]:
        return sorted(self.directory.glob("*")) if self.directory.exists() else []


def _append(app, count: int) -> None:
    for _ in range(count):
        with session_scope(app.extensions["vigil.engine"]) as session:
            record_access(
                session,
                actor=None,
                action=AccessAction.OPEN,
                decision=Decision.ALLOWED,
                reason_code=ReasonCode.ASSIGNED_REVIEW,
                case_id="case-1",
                conversation_id="conv-1",
                evidence_version=1,
                mac_key=app.extensions["vigil.keys"].entry_mac,
            )


def _signed_size(db) -> int:
    db.rollback()  # a fresh snapshot
    return db.execute(text("SELECT coalesce(max(tree_size), -1) FROM audit_checkpoint")).scalar()


def test_of_two_sidecars_one_signs_and_the_other_takes_over(deployment, app, db):
    standby_line = "another sidecar leads this deployment; standing by"
    sidecars = [Sidecar(deployment, "sidecar-1"), Sidecar(deployment, "sidecar-2")]
    try:
        everyone = lambda: "\n".join(s.output() for s in sidecars)  # noqa: E731
        _wait_for(
            lambda: all(s.said(standby_line) or s.files() for s in sidecars),
            STARTUP_SECONDS,
            f"both sidecars to lead or stand by\n{everyone()}",
        )
        leaders = [s for s in sidecars if not s.said(standby_line)]
        assert len(leaders) == 1, f"not exactly one leader\n{everyone()}"
        (leader,) = leaders
        (standby,) = [s for s in sidecars if s is not leader]

        _append(app, 3)
        _wait_for(lambda: _signed_size(db) == 3, 10, f"the leader to sign size 3\n{everyone()}")
        time.sleep(2.5)  # two more rounds for a standby that would sign as well
        assert standby.files() == [], f"the standby wrote checkpoints\n{everyone()}"
        assert leader.files(), everyone()

        leader.process.send_signal(signal.SIGINT)
        assert leader.process.wait(timeout=30) == 0, everyone()  # a loaded machine is slow
        _append(app, 2)
        _wait_for(standby.files, 10, f"the standby to take over and sign\n{everyone()}")
        _wait_for(lambda: _signed_size(db) == 5, 10, f"size 5 to be signed\n{everyone()}")
        assert standby.said("checkpoint "), everyone()

        sizes = db.execute(text("SELECT tree_size FROM audit_checkpoint")).scalars().all()
        assert len(sizes) == len(set(sizes)), f"a state was signed twice: {sorted(sizes)}"
        assert len(leader.files()) + len(standby.files()) == len(sizes), everyone()
    finally:
        _stop([sidecar.process for sidecar in sidecars], signal.SIGINT)
