"""Drills (issue 14, items 4-6): real gunicorn servers, real concurrency, real kills.

A drill starts Vigil the way production does (`gunicorn 'app:create_app()'`) on the test's
database, drives it over HTTP from threads, and injects the failure from outside: kill -9 a
worker or a writer, stop PostgreSQL or Redis. What it checks is what an auditor would: rows
in the database, the access log's verification, the answers clients got."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from sqlalchemy import inspect, text

from core.config import SECRET_SETTINGS
from core.db import read_only
from tests.test_many_hosts import Browser

ROOT = Path(__file__).resolve().parents[2]
STARTUP_SECONDS = 60.0

__all__ = ["Browser", "Server", "free_port", "row_counts", "twin", "wait_for"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(check, seconds: float, what: str):
    """Poll `check()` until it returns something truthy; fail naming `what`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if result := check():
            return result
        time.sleep(0.05)
    raise AssertionError(f"timed out after {seconds:.0f}s waiting for {what}")


def server_env(app, database_url: str, tmp_path: Path, **extra: str) -> dict[str, str]:
    """The environment of a gunicorn on this test's database, with the in-process app's
    secrets (so the test can verify its log and read its evidence)."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("VIGIL_")}
    return {
        **base,
        "PYTHONUNBUFFERED": "1",
        "VIGIL_ENV": "test",
        "VIGIL_DATABASE_URL": database_url,
        "VIGIL_INSTANCE_PATH": str(tmp_path / "server" / "instance"),
        "VIGIL_CHECKPOINT_DIR": str(tmp_path / "server" / "checkpoints"),
        # Every client is 127.0.0.1: limits keyed by address must not trip in a drill.
        "VIGIL_LOGIN_LIMIT_PER_ADDRESS": "100000 per minute",
        "VIGIL_REPORT_LIMIT_PER_ADDRESS": "100000 per minute",
        "VIGIL_REPORT_LIMIT_PER_REPORTER": "100000 per minute",
        "VIGIL_DENIAL_LIMIT_PER_ACTOR": "100000 per minute",
        **{f"VIGIL_{name}": app.config["VIGIL"][name] for name in SECRET_SETTINGS},
        **extra,
    }


class Server:
    """`gunicorn --workers N --threads T 'app:create_app()'` on a free loopback port."""

    def __init__(self, env: dict[str, str], log_path: Path, *, workers=1, threads=1) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log_path.open("w+")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "--workers",
                str(workers),
                "--threads",
                str(threads),
                "--worker-class",
                "gthread" if threads > 1 else "sync",
                "--bind",
                f"127.0.0.1:{self.port}",
                "--graceful-timeout",
                "5",
                "app:create_app()",
            ],
            cwd=ROOT,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    def up(self) -> bool:
        assert self.process.poll() is None, f"gunicorn exited:\n{self.tail()}"
        try:
            with urllib.request.urlopen(
                f"http://127.0.0.1:{self.port}/login", timeout=5
            ) as response:
                return response.status == 200
        except OSError:
            return False

    def wait_up(self) -> Server:
        wait_for(self.up, STARTUP_SECONDS, f"gunicorn to answer /login\n{self.tail()}")
        return self

    def output(self) -> str:
        """Everything gunicorn and Vigil logged so far (read through a handle of its own: the
        one gunicorn writes through shares its file offset with ours)."""
        return Path(self.log.name).read_text(encoding="utf-8", errors="replace")

    def tail(self) -> str:
        return self.output()[-3000:]

    def workers(self) -> set[int]:
        """The pids of the master's worker processes."""
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return {int(pid) for pid in children.read_text().split()}

    def stop(self) -> None:
        """gunicorn's quick shutdown (SIGINT); killed if it lingers."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
        self.log.close()


@pytest.fixture
def start_server(tmp_path):
    """start_server(env, workers=, threads=): a running gunicorn, stopped afterwards."""
    started: list[Server] = []

    def start(env: dict[str, str], **kwargs) -> Server:
        server = Server(env, tmp_path / f"gunicorn-{len(started)}.log", **kwargs)
        started.append(server)
        return server.wait_up()

    yield start
    for server in started:
        server.stop()


def post_json(server: Server, path: str, body: dict, headers: dict) -> tuple[int, dict, dict]:
    """POST JSON to the server; (status, headers, decoded body), errors included (a body
    that is not JSON comes back as {"raw": text}, for the assertion to show)."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{server.port}{path}",
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json", **headers},
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310 (loopback http)
            return response.status, dict(response.headers), _decoded(response.read())
    except urllib.error.HTTPError as error:
        with error:
            return error.code, dict(error.headers), _decoded(error.read())


def _decoded(raw: bytes) -> dict:
    try:
        return json.loads(raw)
    except ValueError:
        return {"raw": raw.decode("utf-8", "replace")}


def twin(browser: Browser) -> Browser:
    """A second tab of the same browser: its own connection, the same cookies."""
    other = Browser(f"http://127.0.0.1:{browser.port}")
    jars = [
        handler.cookiejar
        for b in (browser, other)
        for handler in b.opener.handlers
        if isinstance(handler, urllib.request.HTTPCookieProcessor)
    ]
    for cookie in jars[0]:
        jars[1].set_cookie(cookie)
    return other


def row_counts(engine) -> dict[str, int]:
    """Rows in every table: what a crash may have half-written shows up as a difference."""
    with read_only(engine).connect() as conn:
        names = [n for n in inspect(conn).get_table_names() if n != "alembic_version"]
        return {n: conn.execute(text(f'SELECT count(*) FROM "{n}"')).scalar_one() for n in names}


def changed(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    """The tables whose row count moved, and by how much."""
    return {n: after[n] - before.get(n, 0) for n in after if after[n] != before.get(n, 0)}


PAUSED_RE = re.compile(r"paused at (\w+) in process (\d+)")


def wait_paused(server: Server, point: str, seconds: float = 30.0) -> int:
    """The pid of the worker that reached the named pause point (see core.faults)."""

    def paused() -> int | None:
        for name, pid in PAUSED_RE.findall(server.output()):
            if name == point:
                return int(pid)
        return None

    return wait_for(paused, seconds, f"a worker to pause at {point}\n{server.tail()}")


def csrf(browser: Browser, url: str) -> str:
    """The CSRF token of a page, as a browser reads it."""
    from tests.helpers import CSRF_RE

    match = CSRF_RE.search(browser.get(url).get_data(as_text=True))
    assert match, f"no CSRF token on {url}"
    return match.group(1) or match.group(2)
