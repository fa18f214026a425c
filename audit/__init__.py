"""audit: the content access log (writer, gate, verifier, checkpoints, proofs, auditor pages)."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """The auditor pages, the `audit` CLI and `keys rotate-signing`, the home link."""
    from access_control.guard import authorize
    from audit import cli
    from audit.views import audit_bp
    from core.views import add_home_link

    app.register_blueprint(audit_bp)
    cli.init_app(app)
    add_home_link(
        app,
        order=20,
        label="Access log",
        endpoint="audit.log",
        shown=lambda user: authorize(user, "access_log", "read"),
    )
