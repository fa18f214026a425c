"""Home and health endpoints. Packages add their links to the home page (add_home_link)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, Flask, current_app, redirect, render_template, url_for
from flask_login import current_user
from sqlalchemy import text

from core.db import get_session
from core.web import public

core_bp = Blueprint("core", __name__)


@dataclass(frozen=True)
class HomeLink:
    """A link on the home page, shown when `shown(user)` is true; lower `order` first."""

    order: int
    label: str
    endpoint: str
    shown: Callable[[Any], bool]


def add_home_link(
    app: Flask, *, order: int, label: str, endpoint: str, shown: Callable[[Any], bool]
) -> None:
    """Offer a link on the home page (each package adds its own)."""
    links = app.extensions.setdefault("vigil.home_links", [])
    links.append(HomeLink(order, label, endpoint, shown))
    links.sort(key=lambda link: link.order)


def set_home_roles(app: Flask, roles_of: Callable[[Any], list[str]]) -> None:
    """Tell the home page how to name a user's roles (access_control does)."""
    app.extensions["vigil.home_roles"] = roles_of


@core_bp.route("/")
@public
def home():
    if not current_user.is_authenticated:
        return redirect(url_for("auth.login"))
    user = current_user._get_current_object()
    links = [
        link for link in current_app.extensions.get("vigil.home_links", ()) if link.shown(user)
    ]
    roles = current_app.extensions.get("vigil.home_roles", lambda _user: [])(user)
    return render_template("core/home.html", roles=roles, links=links)


@core_bp.route("/healthz")
@public
def healthz():
    get_session().exec(text("SELECT 1"))
    return {"status": "ok"}
