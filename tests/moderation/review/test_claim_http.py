"""Sixteen reviewers press "Next case" at once over HTTP, served by separate gunicorn
worker processes: exactly one gets the case, the others are told the queue is empty."""

from __future__ import annotations

import http.client
import threading
from http.cookies import SimpleCookie
from urllib.parse import urlencode

from sqlmodel import Session

from bench.http_load import gunicorn
from core.db import read_only
from moderation.review.models import CaseClaim
from tests.conftest import test_settings
from tests.factories import make_case
from tests.helpers import CSRF_RE

REVIEWERS = 16


class HttpClient:
    """A minimal browser: one cookie jar, no redirects followed, a fresh connection each time."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.cookies: dict[str, str] = {}

    def send(self, method: str, path: str, form: dict | None = None) -> tuple[int, str, str]:
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}
        body = None
        if form is not None:
            body = urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            text = response.read().decode()
            for raw in response.headers.get_all("Set-Cookie") or []:
                for name, morsel in SimpleCookie(raw).items():
                    self.cookies[name] = morsel.value
            return response.status, response.headers.get("Location", ""), text
        finally:
            conn.close()

    def post(self, path: str, form: dict, *, token_from: str) -> tuple[int, str, str]:
        match = CSRF_RE.search(self.send("GET", token_from)[2])
        assert match, f"no CSRF token on {token_from}"
        return self.send("POST", path, {"csrf_token": match.group(1) or match.group(2), **form})

    def sign_in(self, factory, user) -> None:
        status, location, _ = self.post(
            "/login", {"email": user.email, "password": factory.password}, token_from="/login"
        )
        assert status == 302 and location.endswith("/login/mfa"), (status, location)
        code = factory.fresh_code(user)
        status, location, body = self.post("/login/mfa", {"code": code}, token_from="/login/mfa")
        assert status == 302, body[:300]


def test_sixteen_reviewers_in_separate_processes_one_wins(app, factory, database_url, tmp_path):
    case_id = make_case(app)
    reviewers = [factory.make_user(roles=("reviewer:general",)) for _ in range(REVIEWERS)]
    settings = test_settings(database_url, tmp_path)  # same database and instance keys
    with gunicorn(f"app:create_app({settings!r})", {}, workers=4) as port:
        clients = [HttpClient(port) for _ in reviewers]
        for client, reviewer in zip(clients, reviewers, strict=True):
            client.sign_in(factory, reviewer)
        barrier = threading.Barrier(REVIEWERS)
        outcomes: list[tuple[int, str]] = []
        errors: list[BaseException] = []

        def press_next(client: HttpClient) -> None:
            match = CSRF_RE.search(client.send("GET", "/account")[2])
            token = match.group(1) or match.group(2)
            barrier.wait()
            try:
                status, location, _ = client.send(
                    "POST", "/review/next", {"csrf_token": token, "queue": "general"}
                )
                outcomes.append((status, location))
            except BaseException as exc:  # a crash is a failure, not a lost race
                errors.append(exc)

        threads = [threading.Thread(target=press_next, args=(c,)) for c in clients]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
    assert errors == []
    assert len(outcomes) == REVIEWERS
    assert all(status == 302 for status, _ in outcomes), outcomes
    winners = [loc for _, loc in outcomes if loc.endswith(f"/review/cases/{case_id}")]
    assert len(winners) == 1, outcomes
    assert sum(loc.endswith("/review/") for _, loc in outcomes) == REVIEWERS - 1
    with Session(read_only(app.extensions["vigil.engine"])) as session:
        claim = session.get(CaseClaim, case_id)
        assert claim is not None and claim.reviewer_id in {r.id for r in reviewers}
