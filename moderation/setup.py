"""Wire the moderation package into the app: blueprints, CSRF exemption for the API, CLI."""

from __future__ import annotations

from flask import Flask, current_app

from moderation.intake import IntakeSettings


def current_intake() -> IntakeSettings:
    """The app's intake settings (master keys, SLA overrides)."""
    return current_app.extensions["vigil.intake"]


def init_moderation(app: Flask) -> None:
    """Register the API and web blueprints and the moderation commands."""
    from core.config import ConfigError
    from moderation.api import api_bp
    from moderation.cli import register_cli
    from moderation.intake import intake_settings
    from moderation.views import moderation_bp

    try:
        # Read keys and SLA overrides once, so a bad setting stops start-up, not a report.
        app.extensions["vigil.intake"] = intake_settings(app.config["VIGIL"])
    except (KeyError, ValueError) as exc:
        raise ConfigError(f"report intake: {exc}") from exc

    app.register_blueprint(moderation_bp)
    app.register_blueprint(api_bp)
    # The API authenticates with bearer tokens, never cookies, so CSRF does not apply.
    app.extensions["csrf"].exempt(api_bp)
    register_cli(app)
