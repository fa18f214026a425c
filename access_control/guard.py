"""Declare on each view who may call it: @requires(obj, act, queue=..., resource=...) or @public."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import abort, current_app, flash, g, session
from flask_login import current_user, logout_user

from access_control.models import User
from access_control.permissions import OBJECTS, QUEUES, Resource
from access_control.policy import EnforcerHolder, check
from core.db import get_session
from core.web import public  # noqa: F401  (views import both guards from here)

# queue=ANY_QUEUE: allowed when the policy allows obj/act in at least one queue (Next case).
ANY_QUEUE = "any queue"
Resolver = Callable[..., Any]


def holder() -> EnforcerHolder:
    """This app's per-process enforcer cache."""
    return current_app.extensions["vigil.enforcer"]


def authorize(user: User | None, obj: str | Resource, act: str, *, queue: str = "*") -> bool:
    """Ask the policy about the current request's session; errors deny."""
    if user is None or not getattr(user, "is_authenticated", False):
        return False
    return check(holder(), get_session(), user, obj, act, queue)


def _is_staff(user: User) -> bool:
    return bool(holder().decisions(get_session()).roles(user.subject))


def guarded_resource() -> Resource | None:
    """The Resource (with its facts) the current view's guard was decided on, if any."""
    return g.get("vigil_resource")


def _allowed(user: User, obj: str, act: str, queue: Any, resource: Any, kwargs: dict) -> bool:
    target: str | Resource = obj
    if resource is not None:
        target = resource(**kwargs)
        g.vigil_resource = target
    if queue == ANY_QUEUE:
        return any(authorize(user, target, act, queue=q) for q in QUEUES)
    where = queue(**kwargs) if callable(queue) else "*"
    return authorize(user, target, act, queue=where)


def requires(
    obj: str,
    act: str,
    *,
    queue: Resolver | str | None = None,
    resource: Resolver | None = None,
    on_deny: Callable | None = None,
) -> Callable:
    """Guard a view: sign-in required, then the policy must allow obj/act.

    `queue(**view_args)` names the queue the request is about (ANY_QUEUE: some queue);
    `resource(**view_args)` builds the Resource with the case facts the policy's conditions
    read (content routes); both may abort 404. `on_deny(**view_args)` runs on a refusal
    (content routes log it there) and may return the response; otherwise the answer is 403.
    """
    if obj not in OBJECTS:
        raise ValueError(f"unknown object {obj!r}")

    def decorate(view: Callable) -> Callable:
        @wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            if not current_user.is_authenticated:
                return current_app.login_manager.unauthorized()
            user = current_user._get_current_object()
            if not session.get("mfa") and _is_staff(user):
                # Signed in without a second factor, then granted a staff role: sign in again.
                logout_user()
                session.clear()
                flash("Staff accounts sign in with a second factor. Please sign in again.")
                return current_app.login_manager.unauthorized()
            if not _allowed(user, obj, act, queue, resource, kwargs):
                refusal = on_deny(*args, **kwargs) if on_deny is not None else None
                return refusal if refusal is not None else abort(403)
            return view(*args, **kwargs)

        guarded.vigil_guard = (obj, act)
        guarded.vigil_scope = "any" if queue == ANY_QUEUE else ("queue" if queue else "global")
        return guarded

    return decorate


def signed_in(view: Callable) -> Callable:
    """Any signed-in, active account (its own pages); the policy still applies."""
    return requires("self_service", "use")(view)
