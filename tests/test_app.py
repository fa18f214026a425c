"""App-wide guarantees: every endpoint guarded or public, headers, errors, config."""

from __future__ import annotations

import os
import stat

import pytest

from app import create_app
from core.config import SECRET_SETTINGS, ConfigError, read_settings

# Endpoints that need no guard decorator, with the reason.
EXEMPT = {"static": "public files (CSS, JS) only"}


def _view_marks(app):
    for endpoint, view in app.view_functions.items():
        yield endpoint, getattr(view, "vigil_public", False), getattr(view, "vigil_guard", None)


def test_every_endpoint_is_guarded_or_public_on_purpose(app):
    unmarked = [
        endpoint
        for endpoint, is_public, guard in _view_marks(app)
        if not is_public and guard is None and endpoint not in EXEMPT
    ]
    assert unmarked == [], f"endpoints with neither @public nor a guard: {unmarked}"


# The workspace permission opens only pages about the workspace itself; everything else in
# /review declares the permission it really needs (with the case's or grant's queue).
WORKSPACE_PAGES = {
    "review.overview": "the workspace's landing page",
    "review.preferences": "the reviewer's own blur and greyscale settings",
    "review.choose_reason": "remembers the reason for the next look; reads nothing",
}


def _rule_args(app) -> dict[str, set[str]]:
    return {rule.endpoint: set(rule.arguments) for rule in app.url_map.iter_rules()}


def test_no_route_uses_the_blanket_workspace_permission_where_a_specific_one_exists(app):
    blanket = {
        endpoint
        for endpoint, _, guard in _view_marks(app)
        if guard == ("workspace", "use") and endpoint not in WORKSPACE_PAGES
    }
    assert blanket == set(), f"say what these routes really need: {sorted(blanket)}"


def test_routes_about_one_case_or_queue_check_that_queue(app):
    args = _rule_args(app)
    unscoped = [
        endpoint
        for endpoint, view in app.view_functions.items()
        if endpoint.startswith("review.")
        and getattr(view, "vigil_guard", None)
        and args.get(endpoint, set()) & {"case_id", "queue", "grant_id"}
        and endpoint not in WORKSPACE_PAGES
        and getattr(view, "vigil_scope", "global") != "queue"
    ]
    assert unscoped == [], f"resolve the queue for: {unscoped}"


def test_content_routes_decide_on_the_case_facts(app):
    content = {
        e: v
        for e, v in app.view_functions.items()
        if getattr(v, "vigil_guard", None) == ("content", "read")
    }
    assert {"review.case_page", "review.reveal_message"} <= set(content)


def _get_urls(app):
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or rule.endpoint == "static":
            continue
        values = {arg: 1 for arg in rule.arguments}
        try:
            yield rule.endpoint, rule.build(values, append_unknown=False)[1]
        except Exception:  # converters that reject 1 (e.g. strings with rules)
            yield rule.endpoint, rule.build({arg: "x" for arg in rule.arguments})[1]


def test_guarded_pages_send_strangers_to_sign_in(app, client):
    guarded = {e for e, _, guard in _view_marks(app) if guard and guard[0] != "token"}
    checked = 0
    for endpoint, url in _get_urls(app):
        if endpoint in guarded and not url.startswith("/api/"):
            response = client.get(url)
            assert response.status_code == 302, url
            assert "/login" in response.headers["Location"], url
            checked += 1
    assert checked >= 5


REQUIRED_HEADERS = {
    "Content-Security-Policy": "frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


def test_security_headers_on_every_route(app, client, factory):
    factory.login_as(client, "admin")
    urls = [url for _, url in _get_urls(app)] + ["/static/css/vigil.css", "/no-such-page"]
    for url in urls:
        response = client.get(url)
        for name, fragment in REQUIRED_HEADERS.items():
            assert fragment in response.headers.get(name, ""), (url, name)
        assert "unsafe-inline" not in response.headers["Content-Security-Policy"]
        if not url.startswith("/static/"):
            assert response.headers["Cache-Control"] == "no-store", url


def test_hsts_only_over_https(client):
    assert "Strict-Transport-Security" not in client.get("/login").headers
    secure = client.get("/login", base_url="https://vigil.example")
    assert "max-age" in secure.headers["Strict-Transport-Security"]


def test_session_cookie_flags(client, factory):
    factory.login_as(client, "admin")
    response = client.get("/login")
    cookie = client.get_cookie("vigil_session")
    assert cookie.http_only
    assert cookie.same_site == "Lax"
    assert response.status_code == 200


def test_secure_cookie_in_production(tmp_path, database_url, monkeypatch):
    for name in SECRET_SETTINGS:
        monkeypatch.setenv(f"VIGIL_{name}", "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE=")
    app = create_app(
        {
            "ENV": "production",
            "DATABASE_URL": database_url,
            "INSTANCE_PATH": str(tmp_path),
            "RATELIMIT_STORAGE_URI": "redis://127.0.0.1:6379",
        }
    )
    assert app.config["SESSION_COOKIE_SECURE"] is True
    app.extensions["vigil.engine"].dispose()


@pytest.mark.parametrize("status", [400, 403, 404, 429, 500, 503])
def test_error_pages_have_no_stack_traces(app, status):
    from werkzeug.exceptions import abort

    def boom():
        if status == 500:
            raise RuntimeError("secret internal detail")
        abort(status)

    boom.vigil_public = True
    app.add_url_rule(f"/boom{status}", f"boom{status}", boom)
    response = app.test_client().get(f"/boom{status}")
    body = response.get_data(as_text=True)
    assert response.status_code == status
    assert "Traceback" not in body and "secret internal detail" not in body
    assert f"{status} ·" in body


def test_api_errors_are_problem_details(client):
    response = client.get("/api/v1/no-such-thing")
    assert response.status_code == 404
    assert response.mimetype == "application/problem+json"
    assert response.json["status"] == 404


def test_production_refuses_debug_and_names_missing_secrets():
    env = {"VIGIL_ENV": "production", "VIGIL_DATABASE_URL": "postgresql://x/y"}
    with pytest.raises(ConfigError, match="VIGIL_SECRET_KEY, VIGIL_EVIDENCE_KEY"):
        from core.config import check_production

        check_production(read_settings(env, None))
    with pytest.raises(ConfigError, match="debug"):
        check_production(read_settings({**env, "VIGIL_DEBUG": "true"}, None))
    secrets_set = {**env} | {f"VIGIL_{name}": "x" for name in SECRET_SETTINGS}
    with pytest.raises(ConfigError, match="VIGIL_RATELIMIT_STORAGE_URI"):
        check_production(read_settings(secrets_set, None))  # memory:// counts per worker
    check_production(
        read_settings({**secrets_set, "VIGIL_RATELIMIT_STORAGE_URI": "redis://r:6379"}, None)
    )


def test_production_start_fails_with_the_variable_name(monkeypatch):
    monkeypatch.setenv("VIGIL_ENV", "production")
    monkeypatch.delenv("VIGIL_SECRET_KEY", raising=False)
    with pytest.raises(ConfigError, match="VIGIL_SECRET_KEY"):
        create_app()


def test_bad_setting_is_named():
    with pytest.raises(ConfigError, match="VIGIL_SESSION_HOURS"):
        read_settings({"VIGIL_SESSION_HOURS": "eight"}, None)


def test_dev_secrets_are_generated_private(tmp_path):
    app = create_app({"ENV": "development", "INSTANCE_PATH": str(tmp_path)})
    for name in ("secret_key", "evidence_key", "audit_signing_key"):
        mode = stat.S_IMODE(os.stat(tmp_path / f"{name}.secret").st_mode)
        assert mode == 0o600, name
    again = create_app({"ENV": "development", "INSTANCE_PATH": str(tmp_path)})
    assert again.config["SECRET_KEY"] == app.config["SECRET_KEY"]
    for each in (app, again):
        each.extensions["vigil.engine"].dispose()


def test_health_answers(client):
    assert client.get("/healthz").json == {"status": "ok"}


def test_readme_documents_every_setting():
    from pathlib import Path

    from core.config import DEFAULTS

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    missing = [name for name in DEFAULTS if f"`VIGIL_{name}`" not in readme]
    assert missing == [], f"README configuration table lacks: {missing}"


def test_a_nul_character_in_any_form_or_query_is_a_clear_400(app, client, factory):
    from tests.helpers import csrf_token

    token = csrf_token(client, "/login")
    response = client.post(
        "/login", data={"csrf_token": token, "email": "a\x00@example.test", "password": "x"}
    )
    assert response.status_code == 400
    assert b"NUL character" in response.data
    assert client.get("/login?next=%00").status_code == 400


def test_instance_files_are_private(tmp_path):
    import stat

    instance = tmp_path / "private-instance"
    app = create_app({"ENV": "test", "INSTANCE_PATH": str(instance)})
    try:
        assert stat.S_IMODE(instance.stat().st_mode) == 0o700
        assert stat.S_IMODE((instance / "vigil.db").stat().st_mode) == 0o600
        assert stat.S_IMODE((instance / "secret_key.secret").stat().st_mode) == 0o600
    finally:
        app.extensions["vigil.engine"].dispose()
