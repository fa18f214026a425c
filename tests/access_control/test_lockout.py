"""Nobody locks a staff account by failing its password on purpose (issue 14): on a
known device (a browser where the account fully signed in), a right password and a
valid TOTP still pass after strangers spent the per-account budget; a stranger's
browser, or an account without a second factor, stays stopped at the limit."""

from __future__ import annotations

import pytest

from tests.helpers import post_form


@pytest.fixture
def tight(app):
    app.config["VIGIL"]["LOGIN_LIMIT_PER_ACCOUNT"] = "3 per 15 minutes"
    return app


def _fail_from_elsewhere(app, email: str, times: int) -> int:
    attacker = app.test_client()
    attacker.environ_base["REMOTE_ADDR"] = "203.0.113.66"
    statuses = [
        post_form(attacker, "/login", {"email": email, "password": "wrong guess 123"}).status_code
        for _ in range(times)
    ]
    return statuses[-1]


def test_a_known_device_still_signs_in_after_strangers_spent_the_budget(tight, client, factory):
    user = factory.make_user(roles=("reviewer:general",))
    factory.login(client, user)  # a full sign-in: this browser becomes a known device
    post_form(client, "/logout", {}, token_from="/account")
    assert _fail_from_elsewhere(tight, user.email, 4) == 429  # strangers are stopped
    response = post_form(client, "/login", {"email": user.email, "password": factory.password})
    assert response.status_code == 302 and response.headers["Location"].endswith("/login/mfa")
    done = post_form(
        client, "/login/mfa", {"code": factory.fresh_code(user)}, token_from="/login/mfa"
    )
    assert done.status_code == 302
    assert client.get("/review/").status_code == 200


def test_a_new_browser_is_stopped_at_the_limit_even_with_the_right_password(tight, factory):
    user = factory.make_user(roles=("reviewer:general",))
    assert _fail_from_elsewhere(tight, user.email, 4) == 429
    fresh = tight.test_client()
    response = post_form(fresh, "/login", {"email": user.email, "password": factory.password})
    assert response.status_code == 429 and response.headers["Retry-After"]


def test_a_forged_device_cookie_counts_for_nothing(tight, factory):
    user = factory.make_user(roles=("reviewer:general",))
    assert _fail_from_elsewhere(tight, user.email, 4) == 429
    fresh = tight.test_client()
    fresh.set_cookie("vigil_device", "eyJ1IjoxfQ.forged.signature")
    response = post_form(fresh, "/login", {"email": user.email, "password": factory.password})
    assert response.status_code == 429
