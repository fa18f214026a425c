"""Home and health endpoints."""

from __future__ import annotations

from flask import Blueprint, redirect, render_template, url_for
from flask_login import current_user
from sqlalchemy import text

from access_control.guard import authorize, public
from access_control.policy import roles_of
from core.db import get_session

core_bp = Blueprint("core", __name__)


@core_bp.route("/")
@public
def home():
    if not current_user.is_authenticated:
        return redirect(url_for("auth.login"))
    user = current_user._get_current_object()
    from moderation.queues import readable_queues

    links = {
        "admin": authorize(user, "account", "read"),
        "events": authorize(user, "admin_event", "read"),
        "access_log": authorize(user, "access_log", "read"),
        "review": bool(readable_queues(user, authorize))
        or authorize(user, "break_glass", "approve"),
    }
    return render_template("core/home.html", roles=roles_of(get_session(), user), links=links)


@core_bp.route("/healthz")
@public
def healthz():
    get_session().exec(text("SELECT 1"))
    return {"status": "ok"}
