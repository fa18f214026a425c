"""Fixtures for the webhook tests: a real HTTP receiver on 127.0.0.1 that checks signatures,
and helpers that add endpoints and enqueue events the way Vigil does."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlmodel import Session, select

from core.db import read_only, session_scope
from moderation.notify.endpoints import add_endpoint
from moderation.notify.outbox import enqueue
from moderation.notify.settings import WebhookSettings
from moderation.notify.signing import verify

HOOK_PATH = "/hook"
# Quick settings for driving time by hand: 30 s, 60 s, 120 s ... between attempts.
FAST = WebhookSettings(
    timeout_seconds=2, max_attempts=3, backoff_seconds=30, backoff_cap_seconds=3600
)
DROP = "drop"  # close the connection without an answer


@dataclass(frozen=True)
class Received:
    """One request the receiver saw."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    verified: bool  # the signature checked out with the endpoint's secret
    answer: int | str

    @property
    def event_id(self) -> str:
        return self.headers.get("Vigil-Event-Id", "")

    def envelope(self) -> dict:
        return json.loads(self.body)


class Receiver:
    """The chat backend's side: answers from a script (then 200), records every request."""

    def __init__(self) -> None:
        self.secret = ""
        self.script: list[int | str | tuple[str, float]] = []
        self.delay = 0.0  # seconds before each answer (widens race windows)
        self.received: list[Received] = []
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self.server.daemon_threads = True
        self.server.handle_error = lambda request, address: None  # dropped sockets are quiet
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}{HOOK_PATH}"

    def next_answer(self) -> int | str | tuple[str, float]:
        with self.lock:
            return self.script.pop(0) if self.script else 200

    def record(self, received: Received) -> None:
        with self.lock:
            self.received.append(received)

    def delivered(self) -> Counter:
        """How often each event id was answered with a 2xx."""
        with self.lock:
            return Counter(
                r.event_id
                for r in self.received
                if isinstance(r.answer, int) and 200 <= r.answer < 300
            )


def _handler_for(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:
            return

        def do_GET(self) -> None:  # a followed redirect would arrive here
            receiver.record(Received("GET", self.path, dict(self.headers), b"", False, 200))
            self.send_response(200)
            self.end_headers()

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            verified = verify(
                receiver.secret,
                self.headers.get("Vigil-Timestamp", ""),
                body,
                self.headers.get("Vigil-Signature", ""),
                now=time.time(),
            )
            answer = receiver.next_answer()
            receiver.record(Received("POST", self.path, dict(self.headers), body, verified, answer))
            if receiver.delay:
                time.sleep(receiver.delay)
            if answer == DROP:
                self.close_connection = True
                return
            if isinstance(answer, tuple):  # ("sleep", seconds): slower than the timeout
                time.sleep(answer[1])
                answer = 200
            self.send_response(answer)
            if 300 <= answer < 400:
                self.send_header("Location", "/elsewhere")
            self.send_header("Content-Length", "0")
            self.end_headers()

    return Handler


@pytest.fixture
def receiver():
    """A live receiver on 127.0.0.1 (port 0), stopped after the test."""
    live = Receiver()
    live.thread.start()
    yield live
    live.server.shutdown()
    live.server.server_close()


@pytest.fixture
def unreachable_url() -> str:
    """A local URL nothing listens on (connection refused)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}{HOOK_PATH}"


def add_hook(app, url: str, *, name: str = "chat-backend") -> str:
    """Add an endpoint the way `webhooks add` does; returns its secret."""
    with session_scope(app.extensions["vigil.engine"]) as session:
        _, secret = add_endpoint(session, name=name, url=url)
    return secret


def enqueue_event(app, event_type: str = "decision.final", **payload) -> str:
    """Enqueue one event in its own committed transaction; returns its event id."""
    with session_scope(app.extensions["vigil.engine"]) as session:
        return enqueue(session, event_type=event_type, payload=payload or {"case": 1}).event_id


def rows(app, model) -> list:
    """Every row of `model`, read fresh (no identity map left over from earlier reads)."""
    with Session(read_only(app.extensions["vigil.engine"])) as session:
        return list(session.exec(select(model).order_by(model.id)))


@pytest.fixture(autouse=True)
def _no_stray_proxy(monkeypatch):
    """The receiver is local: no proxy from the environment may sit in between."""
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY"):
        monkeypatch.delenv(name, raising=False)
