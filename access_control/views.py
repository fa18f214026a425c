"""Sign-in, account settings and admin pages."""

from __future__ import annotations

import secrets
from urllib.parse import urlsplit

from flask import Blueprint, abort, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, logout_user
from sqlmodel import select

from access_control import accounts, mfa, signin
from access_control.forms import (
    CodeForm,
    CreateAccountForm,
    EmptyForm,
    EnrollForm,
    LoginForm,
    PasswordForm,
    RoleForm,
    StatusForm,
)
from access_control.guard import authorize, public, requires, signed_in
from access_control.models import AccountStatus, PolicyRule, User
from access_control.policy import current_version, roles_of
from access_control.sessions import pending_user, set_pending, start_session
from audit.models import AdminEvent
from core.db import get_session

auth_bp = Blueprint("auth", __name__)
admin_bp = Blueprint("admin", __name__, url_prefix="/admin")


def _safe_next(target: str | None) -> str:
    parts = urlsplit(target or "")
    if target and target.startswith("/") and not target.startswith("//") and not parts.netloc:
        return target
    return url_for("core.home")


def _finish_login(user: User, *, mfa: bool):
    db = get_session()
    signin.record_login(db, user)
    db.commit()
    nxt = session.get("next")
    start_session(user, mfa=mfa)
    return redirect(_safe_next(nxt))


@auth_bp.route("/login", methods=["GET", "POST"])
@public
def login():
    form = LoginForm()
    if form.validate_on_submit():
        db = get_session()
        user = signin.check_password(db, email=form.email.data, password=form.password.data)
        db.commit()
        if user is None:
            form.password.errors.append(signin.BAD_LOGIN)
        else:
            stage = signin.next_stage(db, user)
            if stage == "done":
                session["next"] = request.args.get("next")
                return _finish_login(user, mfa=False)
            nxt = request.args.get("next")
            set_pending(user, stage)
            session["next"] = nxt
            return redirect(url_for("auth.mfa" if stage == "mfa" else "auth.enroll"))
    return render_template("auth/login.html", form=form)


@auth_bp.route("/login/mfa", methods=["GET", "POST"], endpoint="mfa")
@public
def mfa_step():
    user, stage = pending_user()
    if user is None or stage != "mfa":
        return redirect(url_for("auth.login"))
    form = CodeForm()
    if form.validate_on_submit():
        db = get_session()
        ok = signin.check_second_factor(
            db, user=user, code=form.code.data or "", recovery_code=form.recovery_code.data or ""
        )
        db.commit()
        if ok:
            return _finish_login(user, mfa=True)
        form.code.errors.append("That code did not work. Codes work once; wait for the next.")
    return render_template("auth/mfa.html", form=form)


@auth_bp.route("/login/enroll", methods=["GET", "POST"])
@public
def enroll():
    user, stage = pending_user()
    if user is None or stage != "enroll":
        return redirect(url_for("auth.login"))
    secret = session.setdefault("enroll_secret", mfa.new_secret())
    form = EnrollForm()
    if form.validate_on_submit():
        db = get_session()
        codes = mfa.enroll(db, user=user, secret=secret, code=form.code.data)
        if codes is not None:
            signin.record_login(db, user)
            db.commit()
            start_session(user, mfa=True)
            return render_template("auth/recovery_codes.html", codes=codes)
        form.code.errors.append("That code does not match. Check the clock of your device.")
    uri = mfa.provisioning_uri(user, secret)
    return render_template(
        "auth/enroll.html", form=form, qr=mfa.qr_data_uri(uri), secret=secret, uri=uri
    )


@auth_bp.route("/logout", methods=["POST"])
@signed_in
def logout():
    EmptyForm().validate_on_submit() or abort(400)
    db = get_session()
    signin.sign_out(db, current_user._get_current_object())
    db.commit()
    logout_user()
    session.clear()
    flash("You are signed out on every device.")
    return redirect(url_for("auth.login"))


@auth_bp.route("/account", methods=["GET", "POST"])
@signed_in
def account():
    form = PasswordForm()
    user = current_user._get_current_object()
    if form.validate_on_submit():
        db = get_session()
        try:
            signin.change_password(db, user=user, current=form.current.data, new=form.new.data)
        except accounts.AccountError as exc:
            db.commit()  # nothing changed but the journal of a wrong guess, if any
            form.current.errors.append(str(exc))
        else:
            db.commit()
            # This session continues with the new token (others end), keeping its factor.
            start_session(user, mfa=bool(session.get("mfa")))
            flash("Password changed. Other sessions have been signed out.")
            return redirect(url_for("auth.account"))
    roles = roles_of(get_session(), user)
    return render_template("auth/account.html", form=form, roles=roles, codes_form=EmptyForm())


@auth_bp.route("/account/recovery-codes", methods=["POST"])
@signed_in
def recovery_codes():
    EmptyForm().validate_on_submit() or abort(400)
    user = current_user._get_current_object()
    if not user.totp_secret:
        abort(409)
    db = get_session()
    codes = mfa.regenerate_recovery_codes(db, user=user)
    db.commit()
    return render_template("auth/recovery_codes.html", codes=codes)


# --- administration -------------------------------------------------------------


def _account_or_404(user_id: int) -> User:
    user = get_session().get(User, user_id)
    if user is None:
        abort(404)
    return user


@admin_bp.route("/")
@requires("account", "read")
def accounts_list():
    users = get_session().exec(select(User).order_by(User.email)).all()
    return render_template("admin/accounts.html", users=users)


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
            return render_template("admin/account_created.html", user=user, password=password)
    return render_template("admin/account_new.html", form=form)


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
        "admin/account_detail.html",
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
            "admin/account_detail.html",
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
    return render_template("admin/events.html", events=rows)


@admin_bp.route("/policy")
@requires("policy", "read")
def policy():
    db = get_session()
    rows = db.exec(select(PolicyRule).where(PolicyRule.ptype == "p").order_by(PolicyRule.id)).all()
    return render_template("admin/policy.html", rows=rows, version=current_version(db))
