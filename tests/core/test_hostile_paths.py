"""Findings of issue 14 at the door: ids too large for PostgreSQL, NUL in the path, CR/LF
in `next=`, and `VIGIL_<NAME>_FILE` values: a clear 4xx (or the setting as typed), never
a 500, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from core.config import read_settings
from tests.helpers import post_form

HUGE = "9" * 30
TEN_DIGITS = "9999999999"  # past PostgreSQL's integer, within ten digits

# (role signed in, path) for GET routes with an integer id.
ID_ROUTES = [
    ("admin", "/admin/accounts/{n}"),
    ("auditor", "/audit/actors/{n}"),
    ("", "/conversations/{n}"),
    ("reviewer:general", "/review/cases/{n}"),
    ("reviewer:general", "/review/cases/{n}/holds"),
]


@pytest.mark.parametrize(("role", "path"), ID_ROUTES)
@pytest.mark.parametrize("number", [HUGE, TEN_DIGITS])
def test_ids_too_large_for_the_database_are_not_found(client, factory, role, path, number):
    factory.login_as(client, *((role,) if role else ()))
    assert client.get(path.format(n=number)).status_code == 404


# Query cursors and filters past what the columns hold (found by tests/test_authz_matrix.py).
QUERY_ROUTES = [
    ("auditor", "/audit/?actor={n}", 200),
    ("auditor", "/audit/export/jsonl?actor={n}", 200),
    ("admin", "/admin/events?before={n}", 200),
]


@pytest.mark.parametrize(("role", "path", "status"), QUERY_ROUTES)
@pytest.mark.parametrize("number", [TEN_DIGITS, HUGE])
def test_numbers_too_large_for_the_database_in_queries_are_not_a_500(
    client, factory, role, path, status, number
):
    factory.login_as(client, role)
    response = client.get(path.format(n=number))
    response.get_data()  # an export streams: its rows are read only now
    assert response.status_code in (status, 400)


@pytest.mark.parametrize(
    "path",
    ["/notice/ab%00cd", "/audit/cases/1%00", "/decisions/x%00", "/reports/x%00", "/s/ab%00"],
)
def test_nul_in_the_path_is_not_found(client, factory, path):
    factory.login_as(client, "auditor")
    assert client.get(path).status_code == 404


@pytest.mark.parametrize(
    "target",
    ["/%0D%0ASet-Cookie:%20x=1", "/review/%0Afoo", "/\\evil.example", "//evil.example/"],
)
def test_an_unsafe_next_after_sign_in_goes_home_with_a_session(client, factory, target):
    user = factory.make_user(roles=("auditor",))
    post_form(client, f"/login?next={target}", {"email": user.email, "password": factory.password})
    response = post_form(
        client, "/login/mfa", {"code": factory.fresh_code(user)}, token_from="/login/mfa"
    )
    assert response.status_code == 302
    location = response.headers["Location"]
    assert "\r" not in location and "\n" not in location and "evil" not in location
    assert client.get("/audit/").status_code == 200  # signed in, not thrown out


def test_file_settings_are_converted_like_variables(tmp_path):
    hours, proxies = tmp_path / "hours", tmp_path / "proxies"
    hours.write_text("12\n", encoding="utf-8")
    proxies.write_text("1", encoding="utf-8")
    env = {"VIGIL_SESSION_HOURS_FILE": str(hours), "VIGIL_TRUSTED_PROXIES_FILE": str(proxies)}
    settings = read_settings(env, None)
    assert (settings["SESSION_HOURS"], settings["TRUSTED_PROXIES"]) == (12, 1)
