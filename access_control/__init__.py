"""access_control: accounts, sign-in + TOTP, sessions, service tokens, the policy, the journal."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Sign-in, the enforcer cache, auth and admin pages, CLI, baseline policy, home links."""
    from flask_login import LoginManager, current_user

    from access_control import cli
    from access_control.admin_views import admin_bp
    from access_control.auth_views import auth_bp
    from access_control.guard import authorize
    from access_control.policy import EnforcerHolder, load_baseline, roles_of
    from access_control.sessions import init_login
    from core.cli import after_upgrade
    from core.db import get_session
    from core.views import add_home_link, set_home_roles

    app.extensions["vigil.enforcer"] = EnforcerHolder()
    # Templates show a link only to someone the policy lets use it: {% if may("policy", "read") %}.
    app.jinja_env.globals["may"] = lambda obj, act: authorize(current_user, obj, act)
    init_login(app, LoginManager())
    app.register_blueprint(auth_bp)
    app.register_blueprint(admin_bp)
    cli.init_app(app)
    after_upgrade(app, lambda session: f"baseline policy rows added: {load_baseline(session)}")
    set_home_roles(app, lambda user: roles_of(get_session(), user))
    add_home_link(
        app,
        order=30,
        label="Accounts and roles",
        endpoint="admin.accounts_list",
        shown=lambda user: authorize(user, "account", "read"),
    )
    add_home_link(
        app,
        order=40,
        label="Admin and security events",
        endpoint="admin.events",
        shown=lambda user: authorize(user, "admin_event", "read"),
    )
    add_home_link(
        app, order=70, label="Your account", endpoint="auth.account", shown=lambda user: True
    )
