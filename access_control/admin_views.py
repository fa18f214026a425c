"""Admin pages: accounts, role grants, the journal and the policy."""

from __future__ import annotations

import secrets

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlmodel import select

from access_control import accounts
from access_control.forms import (
    CreateAccountForm,
    RoleForm,
    StatusForm,
)
from access_control.guard import authorize, requires
from access_control.journal import AdminEvent
from access_control.models import AccountStatus, PolicyRule, User
from access_control.policy import current_version, roles_of
from core.db import get_session

admin_bp = Blueprint("admin", __name__, url_prefix="/admin")


def _account_or_404(user_id: int) -> User:
    user = get_session().get(User, user_id)
    if user is None:
        abort(404)
    return user


@admin_bp.route("/")
@requires("account", "read")
def accounts_list():
    users = get_session().exec(select(User).order_by(User.email)).all()
    return render_template("access_control/admin/accounts.html", users=users)


@admin_bp.route("/accounts/new", methods=["GET", "POST"])
@requires("account", "create")
def account_new():
    form = CreateAccountForm()
    actor = current_user._get_current_object()
    if form.validate_on_submit():
        db = get_session()
        password = secrets.token_urlsafe(12)
        try:
            user = accounts.create_account(
                db,
                actor=actor,
                email=form.email.data,
                display_name=form.display_name.data,
                password=password,
            )
            for role in form.roles.data:
                accounts.grant_role(
                    db,
                    actor=actor,
                    user=user,
                    role=role,
                    reason=form.reason.data,
                    authorize=authorize,
                )
        except accounts.AccountError as exc:
            db.rollback()
            form.email.errors.append(str(exc))
        else:
            db.commit()
            return render_template(
                "access_control/admin/account_created.html", user=user, password=password
            )
    return render_template("access_control/admin/account_new.html", form=form)


@admin_bp.route("/accounts/<int:user_id>")
@requires("account", "read")
def account_detail(user_id: int):
    user = _account_or_404(user_id)
    db = get_session()
    events = db.exec(
        select(AdminEvent)
        .where(AdminEvent.target_id.in_([str(user.id), user.subject]))
        .order_by(AdminEvent.id.desc())
        .limit(50)
    ).all()
    return render_template(
        "access_control/admin/account_detail.html",
        user=user,
        roles=roles_of(db, user),
        role_form=RoleForm(),
        status_form=StatusForm(),
        events=events,
    )


@admin_bp.route("/accounts/<int:user_id>/status", methods=["POST"])
@requires("account", "disable")
def account_status(user_id: int):
    user = _account_or_404(user_id)
    form = StatusForm()
    if not form.validate_on_submit():
        flash("Give a reason for the change.", "error")
        return redirect(url_for("admin.account_detail", user_id=user_id))
    new = AccountStatus.ACTIVE if user.status == AccountStatus.DISABLED else AccountStatus.DISABLED
    db = get_session()
    try:
        accounts.set_status(
            db,
            actor=current_user._get_current_object(),
            user=user,
            status=new,
            reason=form.reason.data,
        )
    except accounts.AccountError as exc:
        flash(str(exc), "error")
        return redirect(url_for("admin.account_detail", user_id=user_id))
    db.commit()
    flash(f"{user.email} is now {new}.")
    return redirect(url_for("admin.account_detail", user_id=user_id))


@admin_bp.route("/accounts/<int:user_id>/roles", methods=["POST"])
@requires("role_grant", "write")
def account_roles(user_id: int):
    user = _account_or_404(user_id)
    form = RoleForm()
    action = request.form.get("action", "grant")
    if not form.validate_on_submit() or action not in ("grant", "revoke"):
        flash("Choose a role and give a reason.", "error")
        return redirect(url_for("admin.account_detail", user_id=user_id))
    verb = accounts.grant_role if action == "grant" else accounts.revoke_role
    db = get_session()
    try:
        verb(
            db,
            actor=current_user._get_current_object(),
            user=user,
            role=form.role.data,
            reason=form.reason.data,
            authorize=authorize,
        )
    except accounts.AccountError as exc:
        db.rollback()
        flash(str(exc), "error")
        return render_template(
            "access_control/admin/account_detail.html",
            user=user,
            roles=roles_of(db, user),
            role_form=form,
            status_form=StatusForm(),
            events=[],
        ), exc.status
    db.commit()
    done = "Granted" if action == "grant" else "Revoked"
    flash(f"{done} {form.role.data} for {user.email}.")
    return redirect(url_for("admin.account_detail", user_id=user_id))


@admin_bp.route("/events")
@requires("admin_event", "read")
def events():
    before = request.args.get("before", type=int)
    query = select(AdminEvent).order_by(AdminEvent.id.desc()).limit(100)
    if before:
        query = query.where(AdminEvent.id < before)
    rows = get_session().exec(query).all()
    return render_template("access_control/admin/events.html", events=rows)


@admin_bp.route("/policy")
@requires("policy", "read")
def policy():
    db = get_session()
    rows = db.exec(select(PolicyRule).where(PolicyRule.ptype == "p").order_by(PolicyRule.id)).all()
    return render_template(
        "access_control/admin/policy.html", rows=rows, version=current_version(db)
    )
