"""Vigil: the application factory."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import Any

from flask import Flask
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_wtf.csrf import CSRFProtect
from werkzeug.middleware.proxy_fix import ProxyFix

from core.config import SECRET_SETTINGS, check_production, read_settings


def _database_url(settings: dict, instance: Path) -> str:
    url = settings["DATABASE_URL"] or f"sqlite:///{instance / 'vigil.db'}"
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return url


def _attach_store_keys(engine, settings: dict) -> None:
    from core.sealed_text import attach_keys
    from core.secrets import decode_key

    old = [v.strip() for v in (settings.get("EVIDENCE_OLD_KEYS") or "").split(",") if v.strip()]
    masters = [decode_key(settings["EVIDENCE_KEY"], "EVIDENCE_KEY")]
    masters += [decode_key(value, "EVIDENCE_OLD_KEYS") for value in old]
    attach_keys(engine, masters)


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Build a configured Vigil application."""
    app = Flask(__name__, instance_relative_config=True)
    settings = read_settings(os.environ, test_config)
    check_production(settings)
    instance = Path(settings.get("INSTANCE_PATH") or app.instance_path)
    instance.mkdir(parents=True, exist_ok=True)
    if settings["ENV"] != "production":
        from core.secrets import ensure_dev_secret

        for name in SECRET_SETTINGS:
            settings[name] = settings[name] or ensure_dev_secret(instance, name)
    secure = settings["SECURE_COOKIES"]
    app.config.update(
        VIGIL=settings,
        VIGIL_INSTANCE=instance,
        SECRET_KEY=settings["SECRET_KEY"],
        DEBUG=settings["DEBUG"],
        TESTING=settings["ENV"] == "test",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings["ENV"] == "production" if secure is None else secure,
        SESSION_COOKIE_NAME="vigil_session",
        PERMANENT_SESSION_LIFETIME=timedelta(hours=settings["SESSION_HOURS"]),
        REMEMBER_COOKIE_DURATION=timedelta(seconds=0),
        MAX_CONTENT_LENGTH=1024 * 1024,
        WTF_CSRF_TIME_LIMIT=None,  # the token lives as long as the session
        RATELIMIT_STORAGE_URI=settings["RATELIMIT_STORAGE_URI"],
        RATELIMIT_HEADERS_ENABLED=True,
        WTF_CSRF_ENABLED=settings.get("CSRF", True),
    )
    if settings["TRUSTED_PROXIES"]:
        count = settings["TRUSTED_PROXIES"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=count, x_proto=count, x_host=count)

    from access_control.policy import EnforcerHolder
    from core.db import close_session, make_engine

    app.extensions["vigil.engine"] = make_engine(_database_url(settings, instance))
    _attach_store_keys(app.extensions["vigil.engine"], settings)
    app.extensions["vigil.enforcer"] = EnforcerHolder()
    app.extensions["vigil.limiter"] = Limiter(
        get_remote_address,
        app=app,
        storage_uri=settings["RATELIMIT_STORAGE_URI"],
        # A moving window: a fixed one lets twice the limit through across a window edge.
        strategy="moving-window",
    )
    app.teardown_appcontext(close_session)
    CSRFProtect(app)  # app.extensions['csrf']; API blueprints call .exempt(bp)

    from access_control.sessions import init_login

    init_login(app, LoginManager())

    from core.web import init_web

    init_web(app)

    from access_control.views import admin_bp, auth_bp
    from core.views import core_bp

    app.register_blueprint(core_bp)
    app.register_blueprint(auth_bp)
    app.register_blueprint(admin_bp)

    from audit.views import audit_bp

    app.register_blueprint(audit_bp)

    from moderation.setup import init_moderation
    from privacy.views import privacy_bp

    app.register_blueprint(privacy_bp)
    init_moderation(app)  # report intake: web, public notice, JSON API (CSRF-exempt), CLI

    from moderation.review_views import review_bp

    app.register_blueprint(review_bp)

    from core.cli import register_cli

    register_cli(app)
    return app


def _module_app() -> Flask | None:
    # `flask --app app` and `gunicorn app:app` import this module; tests call create_app.
    if os.environ.get("VIGIL_NO_MODULE_APP"):
        return None
    return create_app()


app = _module_app()
