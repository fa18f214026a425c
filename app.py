"""Vigil: the application factory. `flask --app app` and gunicorn 'app:create_app()' call it."""

from __future__ import annotations

import contextlib
import os
from datetime import timedelta
from pathlib import Path
from typing import Any

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from core.config import SECRET_SETTINGS, check_production, read_settings

# Modules that declare tables, so SQLModel.metadata is complete (Alembic, tests).
MODEL_MODULES = (
    "access_control.models",
    "access_control.journal",
    "audit.models",
    "privacy.models",
    "moderation.intake.models",
    "moderation.api.models",
    "moderation.review.models",
    "moderation.notify.models",
)


def load_models() -> None:
    """Import every table module (Alembic's autogenerate and schema tests need them all)."""
    import importlib

    for name in MODEL_MODULES:
        importlib.import_module(name)


def _database_url(settings: dict, instance: Path) -> str:
    url = settings["DATABASE_URL"] or f"sqlite:///{instance / 'vigil.db'}"
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    if url.startswith("sqlite:///") and len(url) > len("sqlite:///"):
        _private_file(Path(url.removeprefix("sqlite:///")))
    return url


def _private_file(path: Path) -> None:
    """Create the SQLite file owner-only (0600) before SQLite does with the umask; its
    -wal and -shm files take the same mode."""
    if path.name and not path.exists() and path.parent.is_dir():
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


def _configure(app: Flask, test_config: dict[str, Any] | None) -> None:
    settings = read_settings(os.environ, test_config)
    check_production(settings)
    instance = Path(settings.get("INSTANCE_PATH") or app.instance_path)
    instance.mkdir(mode=0o700, parents=True, exist_ok=True)  # secrets, SQLite, checkpoints
    with contextlib.suppress(OSError):  # an older checkout's instance/ was 0755
        instance.chmod(0o700)
    if settings["ENV"] != "production":
        from core.keys import ensure_dev_secret

        for name in SECRET_SETTINGS:
            settings[name] = settings[name] or ensure_dev_secret(instance, name)
    settings["DATABASE_URL"] = _database_url(settings, instance)
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


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Build a configured Vigil application: settings, then each package in layer order."""
    import access_control
    import audit
    import core
    import moderation
    import privacy

    app = Flask(__name__, instance_relative_config=True)
    _configure(app, test_config)
    # Lowest layer first (DESIGN.md section 3): each registers its blueprints, CLI and hooks.
    for package in (core, access_control, audit, privacy, moderation):
        package.init_app(app)
    return app
