"""core: configuration, database, web plumbing, throttles, keys, sealed text, text safety."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Engine, key ring, rate limiter, CSRF, headers and error pages, home page, `db` CLI."""
    from flask_limiter import Limiter
    from flask_limiter.util import get_remote_address
    from flask_wtf.csrf import CSRFProtect

    from core import cli, serve, throttle, views, web
    from core.db import close_session, make_engine
    from core.keys import build_key_ring
    from core.sealed_text import attach_keys

    settings = app.config["VIGIL"]
    engine = make_engine(settings["DATABASE_URL"])
    keys = build_key_ring(settings)
    attach_keys(engine, keys.evidence)
    app.extensions["vigil.engine"] = engine
    app.extensions["vigil.keys"] = keys
    app.extensions["vigil.limiter"] = Limiter(
        get_remote_address,
        app=app,
        storage_uri=settings["RATELIMIT_STORAGE_URI"],
        # A moving window: a fixed one lets twice the limit through across a window edge.
        strategy="moving-window",
        # A Redis that hangs must not hang every sign-in: fail over to memory quickly.
        storage_options=_storage_timeouts(settings["RATELIMIT_STORAGE_URI"]),
    )
    throttle.init_throttle(app)
    app.teardown_appcontext(close_session)
    CSRFProtect(app)  # app.extensions['csrf']; API blueprints call .exempt(bp)
    web.init_web(app)
    app.register_blueprint(views.core_bp)
    cli.init_app(app)
    serve.init_app(app)


def _storage_timeouts(uri: str) -> dict:
    return {"socket_timeout": 2, "socket_connect_timeout": 2} if uri.startswith("redis") else {}
