"""Sign-in, the second factor, sign-out and the account's own settings."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import current_user, logout_user

from access_control import accounts, enrolment, mfa, signin
from access_control.forms import (
    CodeForm,
    EmptyForm,
    EnrollForm,
    LoginForm,
    PasswordForm,
    SetPasswordForm,
)
from access_control.guard import public, signed_in
from access_control.models import User
from access_control.policy import roles_of
from access_control.sessions import pending_user, set_pending, start_session
from core.db import get_session
from core.timeutil import utcnow

auth_bp = Blueprint("auth", __name__)


def _safe_next(target: str | None) -> str:
    """A same-site path to go on to after sign-in; home for anything else (another host,
    a backslash browsers read as a slash, control characters a header cannot carry)."""
    target = target or ""
    plain = target.isprintable() and "\\" not in target and len(target) <= 2000
    parts = urlsplit(target) if plain else None
    if parts and target.startswith("/") and not target.startswith("//") and not parts.netloc:
        return target
    return url_for("core.home")


def _finish_login(user: User, *, mfa: bool):
    db = get_session()
    signin.record_login(db, user)
    db.commit()
    nxt = session.get("next")
    start_session(user, mfa=mfa)
    response = redirect(_safe_next(nxt))
    if mfa:  # this browser is now a known device of the account (see signin.known_device)
        response.set_cookie(
            signin.DEVICE_COOKIE,
            signin.device_token(user),
            max_age=signin.DEVICE_DAYS * 86400,
            httponly=True,
            secure=current_app.config["SESSION_COOKIE_SECURE"],
            samesite="Lax",
        )
    return response


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
    return render_template("access_control/auth/login.html", form=form)


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
    return render_template("access_control/auth/mfa.html", form=form)


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
            return render_template("access_control/auth/recovery_codes.html", codes=codes)
        form.code.errors.append("That code does not match. Check the clock of your device.")
    uri = mfa.provisioning_uri(user, secret)
    return render_template(
        "access_control/auth/enroll.html",
        form=form,
        qr=mfa.qr_data_uri(uri),
        secret=secret,
        uri=uri,
    )


@auth_bp.route("/enrol/<token>", methods=["GET", "POST"])
@public
def enrol(token: str):
    """A one-time link: the person sets their own password, then enrols their second factor."""
    db, now = get_session(), utcnow()
    try:
        invitation = enrolment.find_link(db, token, now=now)
    except enrolment.LinkError as exc:
        return render_template("access_control/auth/link_gone.html", why=str(exc)), exc.status
    form = SetPasswordForm()
    if form.validate_on_submit():
        try:
            user = enrolment.redeem(
                db,
                token=token,
                password=form.new.data,
                address=request.remote_addr or "",
                now=now,
            )
        except enrolment.LinkError as exc:
            db.rollback()
            return render_template("access_control/auth/link_gone.html", why=str(exc)), exc.status
        except accounts.AccountError as exc:
            db.rollback()
            form.new.errors.append(str(exc))
        else:
            db.commit()
            session.clear()
            set_pending(user, "enroll")  # staff always enrol a second factor next
            return redirect(url_for("auth.enroll"))
    user = db.get(User, invitation.user_id)
    return render_template(
        "access_control/auth/enrol.html", form=form, user=user, purpose=invitation.purpose
    ), (422 if form.errors else 200)


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
    return render_template(
        "access_control/auth/account.html", form=form, roles=roles, codes_form=EmptyForm()
    )


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
    return render_template("access_control/auth/recovery_codes.html", codes=codes)
