"""Outage drills (issue 14, item 6): the database or the rate-limit store goes away.

PostgreSQL, on a private cluster of the drill's own (never the shared server), is stopped
with `pg_ctl stop -m immediate` under load: pages answer a 503 page, the API an RFC 9457
503, neither with a trace; nothing is half-written; once the cluster is back the same
workers serve again (the pool's pre-ping), no restart. Redis, a private redis-server, is
killed: sign-in throttling goes on counting in memory, neither failing open nor failing."""

from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import NamedTuple

import pytest
from flask import request
from sqlalchemy import text

from access_control.signin import BAD_LOGIN
from app import create_app
from core.db import get_session, make_engine
from tests import figures
from tests.audit.conftest import Log, only_postgres
from tests.conftest import IN_CI, _migrate, pg_execute, test_settings
from tests.drills.conftest import Browser, free_port, post_json, server_env, wait_for
from tests.factories import Factory, make_token
from tests.helpers import Api, post_form, report_body


def _major(path: Path) -> int:
    return int(path.parent.name) if path.parent.name.isdigit() else 0


# Debian's server binaries (initdb, pg_ctl), the newest installed; VIGIL_TEST_PG_BIN overrides.
PG_BIN = Path(
    os.environ.get("VIGIL_TEST_PG_BIN")
    or max(Path("/usr/lib/postgresql").glob("*/bin"), default=Path("/nonexistent"), key=_major)
)
CLIENTS = 4


def _unavailable(what: str) -> None:
    if IN_CI:
        pytest.fail(f"CI=true but {what}")
    pytest.skip(what)


class Cluster:
    """A throw-away PostgreSQL cluster on a free port, run as a non-root user."""

    def __init__(self, base: Path, as_user: list[str]) -> None:
        self.base, self.as_user, self.port = base, as_user, free_port()
        self.data = base / "data"
        self.admin_url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def run(self, *args: str) -> None:
        subprocess.run([*self.as_user, *args], check=True, capture_output=True, timeout=120)

    def init(self) -> None:
        self.run(
            str(PG_BIN / "initdb"),
            "-D",
            str(self.data),
            "-A",
            "trust",
            "-U",
            "postgres",
            "-E",
            "UTF8",
            "--no-sync",
        )

    def start(self) -> None:
        options = f"-p {self.port} -k {self.base} -c listen_addresses=127.0.0.1 -c fsync=off"
        self.run(
            str(PG_BIN / "pg_ctl"),
            "start",
            "-w",
            "-D",
            str(self.data),
            "-l",
            str(self.base / "server.log"),
            "-o",
            options,
        )

    def stop(self) -> None:
        self.run(str(PG_BIN / "pg_ctl"), "stop", "-m", "immediate", "-D", str(self.data))


@pytest.fixture
def cluster():
    if not (PG_BIN / "initdb").exists():
        _unavailable(f"no PostgreSQL server binaries ({PG_BIN}) for a private cluster")
    base = Path(tempfile.mkdtemp(prefix="vigil-drill-pg-"))
    as_user: list[str] = []
    if os.geteuid() == 0:  # initdb refuses root: run the cluster as the postgres user
        try:
            owner = pwd.getpwnam("postgres")
        except KeyError:
            _unavailable("running as root and no `postgres` user to run a private cluster")
        os.chown(base, owner.pw_uid, owner.pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"]
    cluster = Cluster(base, as_user)
    try:
        cluster.init()
        cluster.start()
        yield cluster
    finally:
        subprocess.run(
            [*as_user, str(PG_BIN / "pg_ctl"), "stop", "-m", "immediate", "-D", str(cluster.data)],
            capture_output=True,
        )
        shutil.rmtree(base, ignore_errors=True)


class Answer(NamedTuple):
    at: float  # time.monotonic() when it came back
    kind: str  # "api" or "page"
    status: int
    content_type: str
    retry_after: str | None
    body: str


class Load:
    """Client threads submitting reports and loading a signed-in page until stopped."""

    def __init__(self, server, token: str, browser: Browser) -> None:
        self.server, self.token, self.browser = server, token, browser
        self.answers: list[Answer] = []
        self.references: list[str] = []  # of the reports answered 201
        self.stopped = threading.Event()
        self.threads = [threading.Thread(target=self._api) for _ in range(CLIENTS - 1)]
        self.threads.append(threading.Thread(target=self._page))

    def __enter__(self) -> Load:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        self.stopped.set()
        for thread in self.threads:
            thread.join(timeout=60)

    def _api(self) -> None:
        headers = {"Authorization": f"Bearer {self.token}"}
        while not self.stopped.is_set():
            body = report_body(reporter_id=f"r-{uuid.uuid4().hex[:8]}")
            status, got, answer = post_json(self.server, "/api/v1/reports", body, headers)
            if status == 201:
                self.references.append(answer["reference"])
            self.answers.append(
                Answer(
                    time.monotonic(),
                    "api",
                    status,
                    got.get("Content-Type", ""),
                    got.get("Retry-After"),
                    json.dumps(answer),
                )
            )

    def _page(self) -> None:
        while not self.stopped.is_set():
            page = self.browser.get("/account")
            self.answers.append(
                Answer(
                    time.monotonic(),
                    "page",
                    page.status_code,
                    page.headers.get("Content-Type", ""),
                    page.headers.get("Retry-After"),
                    page.get_data(as_text=True),
                )
            )
            time.sleep(0.05)

    def seen_since(self, moment: float) -> set[tuple[str, int]]:
        return {(a.kind, a.status) for a in list(self.answers) if a.at > moment}


@pytest.fixture
def pg_app(cluster, tmp_path):
    """A migrated database `vigil` on the private cluster, and an in-process app on it."""
    pg_execute(cluster.admin_url, 'CREATE DATABASE "vigil"')
    url = cluster.admin_url.rsplit("/", 1)[0] + "/vigil"
    _migrate(url)
    app = create_app(test_settings(url, tmp_path))
    yield app
    app.extensions["vigil.engine"].dispose()


@pytest.mark.postgres
def test_postgresql_stopped_under_load_answers_503_and_recovers_by_itself(
    cluster, pg_app, tmp_path, start_server
):
    app, engine = pg_app, pg_app.extensions["vigil.engine"]
    factory, url = Factory(app), app.config["VIGIL"]["DATABASE_URL"]
    server = start_server(server_env(app, url, tmp_path), workers=2)  # sync, as in production
    workers = server.workers()
    browser = Browser(server.url)
    factory.login(browser, factory.make_user())
    with Load(server, make_token(app), browser) as load:
        wait_for(lambda: len(load.references) >= 5, 60, "reports to flow")
        cluster.stop()
        figures.add("failures injected")
        stopped = time.monotonic()
        outage_seen = {("api", 503), ("page", 503)}
        wait_for(lambda: load.seen_since(stopped) >= outage_seen, 30, "503s (API and page)")
        cluster.start()
        restarted = time.monotonic()
        served = {("api", 201), ("page", 200)}
        wait_for(lambda: load.seen_since(restarted) >= served, 60, "Vigil to serve again")
        recovered = time.monotonic()
        time.sleep(1.0)
    engine.dispose()  # the in-process app's pool went through the outage too

    answers = load.answers
    odd = [a for a in answers if a.status not in (200, 201, 503)]
    assert not odd, f"{odd[:3]}\n{server.tail()}"
    outage = [a for a in answers if a.status == 503]
    for answer in outage:
        assert not any(leak in answer.body for leak in ("Traceback", 'File "', "psycopg")), answer
        assert answer.retry_after == "5", answer
        if answer.kind == "api":
            assert answer.content_type == "application/problem+json", answer
            assert json.loads(answer.body)["status"] == 503, answer
        else:
            assert answer.content_type.startswith("text/html"), answer
            assert "Temporarily unavailable" in answer.body, answer
    after_recovery = [a for a in answers if a.at > recovered + 0.5]
    assert after_recovery and {a.status for a in after_recovery} <= {200, 201}, after_recovery[:3]
    assert server.workers() == workers, "the workers were replaced: Vigil did not recover alone"
    assert "Traceback" not in server.output(), server.tail()

    with engine.connect() as conn:
        stored = set(conn.execute(text("SELECT ref FROM report")).scalars())
        half_written = conn.execute(text(HALF_WRITTEN)).scalar_one()
    lost = set(load.references) - stored
    figures.add("data lost", len(lost))
    assert not lost, f"{len(lost)} acknowledged reports are gone"
    assert half_written == 0, "a report, case or evidence row lacks its other parts"
    code, codes, output = Log(app).verify()
    assert (code, codes) == (0, {}), output
    print(f"{len(answers)} requests, {len(outage)} x 503, {len(load.references)} reports stored")


# Reports without their case or evidence, and cases without a report or a data key.
HALF_WRITTEN = """
SELECT (SELECT count(*) FROM report r
          LEFT JOIN moderation_case c ON c.id = r.case_id
          LEFT JOIN evidence_version e ON e.id = r.evidence_version_id
         WHERE c.id IS NULL OR e.id IS NULL OR e.case_id <> r.case_id)
     + (SELECT count(*) FROM moderation_case c
         WHERE NOT EXISTS (SELECT 1 FROM report r WHERE r.case_id = c.id)
            OR NOT EXISTS (SELECT 1 FROM case_key k WHERE k.case_id = c.id))
"""


# --- Redis ------------------------------------------------------------------------------

ACCOUNT_LIMIT = 5


@pytest.fixture
def redis_server(tmp_path):
    binary = shutil.which("redis-server")
    if binary is None:
        _unavailable("no redis-server binary for a private Redis")
    port = free_port()
    process = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(tmp_path),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    import redis

    client = redis.Redis(port=port, socket_timeout=1)
    wait_for(lambda: _pings(client), 20, "the private redis-server")
    yield process, f"redis://127.0.0.1:{port}/0", client
    if process.poll() is None:
        process.kill()
    process.wait(timeout=10)


def _pings(client) -> bool:
    import redis

    try:
        return bool(client.ping())
    except redis.RedisError:
        return False


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_with_redis_killed_sign_in_throttling_counts_in_memory(
    app, database_url, tmp_path, start_server, factory, redis_server
):
    process, redis_url, client = redis_server
    env = server_env(
        app,
        database_url,
        tmp_path,
        VIGIL_RATELIMIT_STORAGE_URI=redis_url,
        VIGIL_LOGIN_LIMIT_PER_ACCOUNT=f"{ACCOUNT_LIMIT} per 15 minutes",
    )
    server = start_server(env, workers=1)  # one worker: one in-memory counter to reason about
    target, bystander = factory.make_user(), factory.make_user()
    browser = Browser(server.url)
    wrong = {"email": target.email, "password": "not the password"}
    for _ in range(2):  # counted in Redis
        answer = post_form(browser, "/login", wrong)
        assert answer.status_code == 200 and BAD_LOGIN in answer.get_data(as_text=True)
    assert client.dbsize() > 0, "the throttle did not count in Redis"

    process.kill()
    process.wait(timeout=10)
    figures.add("failures injected")
    for attempt in range(ACCOUNT_LIMIT):  # the in-memory count starts afresh: at most N more
        answer = post_form(browser, "/login", wrong)
        assert answer.status_code == 200, (attempt, answer.status_code)
        assert BAD_LOGIN in answer.get_data(as_text=True), attempt
    for password in ("still wrong", factory.password):  # even the right one, as with Redis
        answer = post_form(browser, "/login", {**wrong, "password": password})
        assert answer.status_code == 429, (
            f"attempt {ACCOUNT_LIMIT + 1} after Redis died got {answer.status_code}: "
            "the throttle failed open"
        )
        assert 0 < int(answer.headers["Retry-After"]) <= 15 * 60
    # Nobody else is locked out: throttling fell back, it did not shut the door.
    signed_in = post_form(
        Browser(server.url), "/login", {"email": bystander.email, "password": factory.password}
    )
    assert signed_in.status_code == 302, signed_in.status_code
    assert "rate-limit storage unreachable" in server.output()
    assert "Traceback" not in server.output(), server.tail()


# --- a connection that dies in the middle of a request -----------------------------------


@only_postgres
def test_a_request_whose_connection_dies_is_a_503_and_the_next_request_is_served(
    app, client, factory, pg_admin_url
):
    @app.before_request
    def _database_goes_away() -> None:  # as when PostgreSQL stops under a request
        if request.args.get("drill") != "die":
            return
        pid = get_session().execute(text("SELECT pg_backend_pid()")).scalar_one()
        pg_execute(pg_admin_url, f"SELECT pg_terminate_backend({int(pid)})")
        make_engine("postgresql+psycopg://postgres@127.0.0.1:1/gone").connect()  # refused

    factory.login(client, factory.make_user())
    api = Api(client, make_token(app))
    for path, kind in (("/account", "text/html"), ("/api/v1/reports/R-1", "problem+json")):
        dying = client.get(f"{path}?drill=die", headers=api.headers())
        figures.add("failures injected")
        assert dying.status_code == 503, dying.get_data(as_text=True)[:300]
        assert kind in dying.content_type and dying.headers["Retry-After"] == "5"
        assert "Traceback" not in dying.get_data(as_text=True)
    assert client.get("/account").status_code == 200
    assert api.get("R-1").status_code == 404  # served again: no such report
