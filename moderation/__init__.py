"""moderation: intake (web, notice, cases, evidence), the JSON API, the reviewer workspace,
and webhooks to the chat backend (notify)."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Intake and webhook settings, the intake, API, review and transparency blueprints, the
    CLI, home links."""
    from access_control.guard import authorize
    from audit.names import register as register_audit_names
    from core.config import ConfigError
    from core.views import add_home_link
    from moderation import cli
    from moderation.api.views import api_bp
    from moderation.intake.rights import reported_conversations, reports_filed_by
    from moderation.intake.settings import intake_settings
    from moderation.intake.views import moderation_bp
    from moderation.notify import cli as webhooks_cli
    from moderation.review import (  # noqa: F401
        break_glass_views,
        case_views,
        oversight_views,
        queue_views,
    )
    from moderation.review.audit_names import NAMES
    from moderation.review.outcome_views import outcomes_bp
    from moderation.review.queues import may_use_workspace
    from moderation.review.rules import review_rules
    from moderation.review.transparency_views import transparency_bp
    from moderation.review.web import review_bp
    from privacy.rights import add_data_section, add_hold_check

    try:
        # Read keys and SLA overrides once, so a bad setting stops start-up, not a report.
        app.extensions["vigil.intake"] = intake_settings(
            app.config["VIGIL"], app.extensions["vigil.keys"]
        )
        app.extensions["vigil.review_rules"] = review_rules(app.config["VIGIL"])
    except (KeyError, ValueError) as exc:
        raise ConfigError(f"report intake: {exc}") from exc
    register_audit_names(app, NAMES)
    app.register_blueprint(moderation_bp)
    app.register_blueprint(api_bp)
    # The API authenticates with bearer tokens, never cookies, so CSRF does not apply.
    app.extensions["csrf"].exempt(api_bp)
    app.register_blueprint(review_bp)
    app.register_blueprint(outcomes_bp)
    app.register_blueprint(transparency_bp)
    cli.init_app(app)
    webhooks_cli.init_app(app)
    # Data rights: a person's download lists their reports; erasure keeps report evidence.
    add_data_section(app, "reports", reports_filed_by)
    add_hold_check(app, reported_conversations)
    add_home_link(
        app,
        order=10,
        label="Review queues",
        endpoint="review.overview",
        shown=lambda user: may_use_workspace(user, authorize),
    )
    add_home_link(
        app,
        order=25,
        label="Transparency figures",
        endpoint="transparency.figures",
        shown=lambda user: authorize(user, "transparency", "read"),
    )
    add_home_link(
        app,
        order=55,
        label="Decisions about your content",
        endpoint="outcomes.my_decisions",
        shown=lambda user: True,
    )
    add_home_link(
        app,
        order=60,
        label="Your reports",
        endpoint="moderation.my_reports",
        shown=lambda user: True,
    )
