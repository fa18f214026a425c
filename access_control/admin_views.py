"""Admin pages: accounts, role grants, the journal and the policy."""

from __future__ import annotations

import secrets
from datetime import UTC, date, datetime, time, timedelta

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlmodel import col, select

from access_control import accounts, enrolment, policy_changes, role_requests
from access_control.forms import (
    CreateAccountForm,
    RoleForm,
    StatusForm,
    role_choices,
)
from access_control.guard import authorize, requires
from access_control.journal import AdminEvent, EventType
from access_control.models import AccountStatus, PolicyRule, User
from access_control.policy import PolicyError, current_version, offered_roles, roles_of
from core.config import setting
from core.db import get_session
from core.timeutil import utcnow
from core.web import MAX_ID

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


def _me() -> User:
    return current_user._get_current_object()


def _link_lifetime() -> timedelta:
    return timedelta(hours=setting("ENROL_LINK_HOURS"))


@admin_bp.route("/accounts/new", methods=["GET", "POST"])
@requires("account", "create")
def account_new():
    db, now = get_session(), utcnow()
    form = CreateAccountForm()
    form.roles.choices = role_choices(offered_roles(db))
    if form.validate_on_submit():
        try:
            # Nobody knows this password: the person sets their own through the link.
            user = accounts.create_account(
                db,
                actor=_me(),
                email=form.email.data,
                display_name=form.display_name.data,
                password=secrets.token_urlsafe(32),
            )
            requests = [
                role_requests.request_role(
                    db,
                    actor=_me(),
                    user=user,
                    role=role,
                    reason=form.reason.data,
                    lifetime=timedelta(hours=setting("ROLE_REQUEST_HOURS")),
                    now=now,
                    authorize=authorize,
                )
                for role in form.roles.data
            ]
            token = enrolment.invite(db, actor=_me(), user=user, lifetime=_link_lifetime(), now=now)
        except accounts.AccountError as exc:
            db.rollback()
            form.email.errors.append(str(exc))
        else:
            db.commit()
            return render_template(
                "access_control/admin/account_created.html",
                user=user,
                link=url_for("auth.enrol", token=token, _external=True),
                hours=setting("ENROL_LINK_HOURS"),
                requests=requests,
            )
    return render_template("access_control/admin/account_new.html", form=form), (
        422 if form.errors else 200
    )


def _detail(user: User, *, role_form=None, status=200):
    db, now = get_session(), utcnow()
    events = db.exec(
        select(AdminEvent)
        .where(AdminEvent.target_id.in_([str(user.id), user.subject]))
        .order_by(AdminEvent.id.desc())
        .limit(50)
    ).all()
    pending = role_requests.pending_requests(db, now=now, user_id=user.id)
    db.commit()  # expired requests are marked on the way
    return render_template(
        "access_control/admin/account_detail.html",
        user=user,
        roles=roles_of(db, user),
        role_form=role_form or RoleForm(offered=offered_roles(db)),
        status_form=StatusForm(),
        reset_form=StatusForm(prefix="reset"),
        pending=pending,
        resets=enrolment.pending_resets(db, user_id=user.id),
        enrolled=enrolment.enrolment_of(db, user_id=user.id),
        events=events,
    ), status


@admin_bp.route("/accounts/<int:user_id>")
@requires("account", "read")
def account_detail(user_id: int):
    return _detail(_account_or_404(user_id))


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
        accounts.set_status(db, actor=_me(), user=user, status=new, reason=form.reason.data)
    except accounts.AccountError as exc:
        flash(str(exc), "error")
        return redirect(url_for("admin.account_detail", user_id=user_id))
    db.commit()
    flash(f"{user.email} is now {new}.")
    return redirect(url_for("admin.account_detail", user_id=user_id))


@admin_bp.route("/accounts/<int:user_id>/roles", methods=["POST"])
@requires("role_grant", "write")
def account_roles(user_id: int):
    user, db = _account_or_404(user_id), get_session()
    form = RoleForm(offered=offered_roles(db))
    action = request.form.get("action", "grant")
    if not form.validate_on_submit() or action not in ("grant", "revoke"):
        return _detail(user, role_form=form, status=422)
    try:
        if action == "grant":
            role_requests.request_role(
                db,
                actor=_me(),
                user=user,
                role=form.role.data,
                reason=form.reason.data,
                lifetime=timedelta(hours=setting("ROLE_REQUEST_HOURS")),
                now=utcnow(),
                authorize=authorize,
            )
        else:
            accounts.revoke_role(
                db,
                actor=_me(),
                user=user,
                role=form.role.data,
                reason=form.reason.data,
                authorize=authorize,
            )
    except accounts.AccountError as exc:
        db.rollback()
        form.role.errors.append(str(exc))
        return _detail(user, role_form=form, status=exc.status)
    db.commit()
    if action == "grant":
        flash(f"Requested {form.role.data} for {user.email}: a second admin must approve it.")
    else:
        flash(f"Revoked {form.role.data} for {user.email}.")
    return redirect(url_for("admin.account_detail", user_id=user_id))


@admin_bp.route("/accounts/<int:user_id>/reset", methods=["POST"])
@requires("account", "write")
def account_reset(user_id: int):
    user, db = _account_or_404(user_id), get_session()
    form = StatusForm(prefix="reset")
    try:
        if not form.validate_on_submit():
            raise accounts.AccountError("Say why the reset is needed.")
        enrolment.request_reset(db, actor=_me(), user=user, reason=form.reason.data, now=utcnow())
    except accounts.AccountError as exc:
        db.rollback()
        flash(str(exc), "error")
        return redirect(url_for("admin.account_detail", user_id=user_id))
    db.commit()
    flash(f"Reset of {user.email} requested: a second admin must approve it.")
    return redirect(url_for("admin.account_detail", user_id=user_id))


@admin_bp.route("/approvals")
@requires("role_grant", "write")
def approvals():
    db, now = get_session(), utcnow()
    pending = role_requests.pending_requests(db, now=now)
    db.commit()
    people = {u.id: u for u in db.exec(select(User)).all()}
    return render_template(
        "access_control/admin/approvals.html",
        pending=pending,
        resets=enrolment.pending_resets(db),
        people=people,
        enrolled={r.user_id: enrolment.enrolment_of(db, user_id=r.user_id) for r in pending},
        me=_me(),
        form=StatusForm(),
    )


@admin_bp.route("/approvals/roles/<int:request_id>", methods=["POST"])
@requires("role_grant", "write")
def decide_role_request(request_id: int):
    db, now = get_session(), utcnow()
    verdict = request.form.get("verdict", "")
    try:
        if verdict == "approve":
            done = role_requests.approve_request(
                db, actor=_me(), request_id=request_id, now=now, authorize=authorize
            )
        elif verdict == "refuse":
            done = role_requests.refuse_request(
                db,
                actor=_me(),
                request_id=request_id,
                reason=request.form.get("reason", ""),
                now=now,
                authorize=authorize,
            )
        else:
            abort(400)
    except accounts.AccountError as exc:
        db.rollback()
        db.commit()  # an expiry found on the way stays recorded
        flash(str(exc), "error")
        return redirect(url_for("admin.approvals"))
    db.commit()
    flash(f"{done.role} {done.state}.")
    return redirect(url_for("admin.approvals"))


@admin_bp.route("/approvals/resets/<int:reset_id>", methods=["POST"])
@requires("account", "write")
def decide_reset(reset_id: int):
    db, now = get_session(), utcnow()
    try:
        if request.form.get("verdict") == "approve":
            user, token = enrolment.approve_reset(
                db, actor=_me(), reset_id=reset_id, lifetime=_link_lifetime(), now=now
            )
        else:
            enrolment.refuse_reset(
                db, actor=_me(), reset_id=reset_id, reason=request.form.get("reason", ""), now=now
            )
            db.commit()
            flash("Reset refused.")
            return redirect(url_for("admin.approvals"))
    except accounts.AccountError as exc:
        db.rollback()
        flash(str(exc), "error")
        return redirect(url_for("admin.approvals"))
    db.commit()
    return render_template(
        "access_control/admin/reset_approved.html",
        user=user,
        link=url_for("auth.enrol", token=token, _external=True),
        hours=setting("ENROL_LINK_HOURS"),
    )


EVENTS_PAGE = 100


def _event_filters(args) -> tuple[list, dict[str, str], list[str]]:
    """The journal query's conditions from the page's filters, their values, and errors."""
    conditions, values, errors = [], {}, []
    kind = args.get("type", "")[:64]
    if kind:
        if kind in EventType.__members__.values():
            conditions.append(AdminEvent.event_type == EventType(kind))
        else:
            errors.append(f"Unknown event type {kind!r}.")
    actor = args.get("actor", "").strip()[:120]
    if actor:
        conditions.append(col(AdminEvent.actor_label).contains(actor, autoescape=True))
    target = args.get("target", "").strip()[:120]
    if target:
        conditions.append(col(AdminEvent.target_label).contains(target, autoescape=True))
    for name, op in (("since", "ge"), ("until", "le")):
        raw = args.get(name, "").strip()[:10]
        if not raw:
            continue
        try:
            day = date.fromisoformat(raw)
        except ValueError:
            errors.append(f"Give {name} as a date (YYYY-MM-DD).")
            continue
        edge = datetime.combine(day, time.min if op == "ge" else time.max, tzinfo=UTC)
        column = col(AdminEvent.occurred_at)
        conditions.append(column >= edge if op == "ge" else column <= edge)
        values[name] = raw
    values.update(type=kind, actor=actor, target=target)
    return conditions, values, errors


@admin_bp.route("/events")
@requires("admin_event", "read")
def events():
    conditions, values, errors = _event_filters(request.args)
    before = request.args.get("before", "")
    query = select(AdminEvent).order_by(col(AdminEvent.id).desc()).limit(EVENTS_PAGE)
    if before:
        if before.isdigit() and len(before) <= 18:
            # Ids stop at MAX_ID (PostgreSQL integer): a larger cursor is "from the newest".
            query = query.where(col(AdminEvent.id) <= min(int(before) - 1, MAX_ID))
        else:
            errors.append("That page link is not valid.")
    rows = [] if errors else get_session().exec(query.where(*conditions)).all()
    return render_template(
        "access_control/admin/events.html",
        events=rows,
        values=values,
        errors=errors,
        types=[t.value for t in EventType],
        older=rows[-1].id if len(rows) == EVENTS_PAGE else None,
    ), (400 if errors else 200)


def _policy_page(*, error: str = "", status: int = 200, row: str = ""):
    db, now = get_session(), utcnow()
    rows = db.exec(select(PolicyRule).where(PolicyRule.ptype == "p").order_by(PolicyRule.id)).all()
    pending = policy_changes.pending_policy_requests(db, now=now)
    db.commit()
    return render_template(
        "access_control/admin/policy.html",
        rows=rows,
        version=current_version(db),
        pending=pending,
        me=_me(),
        form=StatusForm(),
        error=error,
        row=row,
    ), status


@admin_bp.route("/policy")
@requires("policy", "read")
def policy():
    return _policy_page()


def _change_from_form():
    return policy_changes.parse_change(
        request.form.get("verb", ""), request.form.get("row", "")[:400]
    )


@admin_bp.route("/policy/preview", methods=["POST"])
@requires("policy", "write")
def policy_preview():
    try:
        change = _change_from_form()
    except PolicyError as exc:
        return _policy_page(error=str(exc), status=422, row=request.form.get("row", "")[:400])
    return render_template(
        "access_control/admin/policy_preview.html", change=change, form=StatusForm()
    )


@admin_bp.route("/policy/apply", methods=["POST"])
@requires("policy", "write")
def policy_apply():
    db = get_session()
    try:
        change = _change_from_form()
        pending = policy_changes.propose(
            db,
            actor=_me(),
            change=change,
            reason=request.form.get("reason", ""),
            lifetime=timedelta(hours=setting("ROLE_REQUEST_HOURS")),
            now=utcnow(),
        )
    except (PolicyError, accounts.AccountError) as exc:
        db.rollback()
        return _policy_page(error=str(exc), status=getattr(exc, "status", 422))
    db.commit()
    if pending is None:
        flash(f"Applied: {change.describe()}")
    else:
        flash(f"This change widens access: a second admin must approve it ({change.describe()}).")
    return redirect(url_for("admin.policy"))


@admin_bp.route("/policy/requests/<int:request_id>", methods=["POST"])
@requires("policy", "write")
def policy_request_decision(request_id: int):
    db = get_session()
    try:
        policy_changes.decide_policy_request(
            db,
            actor=_me(),
            request_id=request_id,
            approve=request.form.get("verdict") == "approve",
            now=utcnow(),
        )
    except (PolicyError, accounts.AccountError) as exc:
        db.rollback()
        return _policy_page(error=str(exc), status=getattr(exc, "status", 422))
    db.commit()
    flash("Decided.")
    return redirect(url_for("admin.policy"))
