"""privacy: the user's side (conversations, consent, feedback, share links, data rights, and the
training export). Imports no moderation or audit: they register hooks here instead."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """The user's pages, their home links, and the `training` and `privacy` commands."""
    from core.views import add_home_link
    from privacy import cli
    from privacy.views import privacy_bp

    app.register_blueprint(privacy_bp)
    cli.init_app(app)
    add_home_link(
        app,
        order=50,
        label="Your conversations",
        endpoint="privacy.conversations",
        shown=lambda user: True,
    )
    add_home_link(
        app,
        order=55,
        label="Privacy settings and your data",
        endpoint="privacy.settings",
        shown=lambda user: True,
    )
