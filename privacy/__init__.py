"""privacy: the user's side (conversations, training exclusion). Imports no moderation or audit."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """The user's conversation pages and their home link."""
    from core.views import add_home_link
    from privacy.views import privacy_bp

    app.register_blueprint(privacy_bp)
    add_home_link(
        app,
        order=50,
        label="Your conversations",
        endpoint="privacy.conversations",
        shown=lambda user: True,
    )
