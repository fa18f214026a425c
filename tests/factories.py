"""make_* factories: each builds one thing the way Vigil itself does, in a session it is given
(make_user, make_token, make_conversation) or through the real API (make_case)."""

from __future__ import annotations

import time
import uuid

import pyotp
from sqlmodel import Session, select

from core.db import read_only, session_scope
from tests.helpers import Api, post_form, report_body


def make_user(
    session: Session,
    *,
    email: str | None = None,
    roles: tuple[str, ...] = (),
    totp: bool = True,
    password: str = "correct horse battery staple",
):
    """An account with these roles (granted through the policy service) and, for staff, TOTP."""
    from access_control import accounts
    from core.timeutil import utcnow

    email = email or f"{uuid.uuid4().hex[:8]}@example.test"
    user = accounts.create_account(
        session, actor=None, email=email, display_name=email.split("@")[0], password=password
    )
    for role in roles:
        accounts.grant_role(
            session, actor=None, user=user, role=role, reason="test", authorize=None
        )
    if totp and roles:
        user.totp_secret, user.mfa_enrolled_at = pyotp.random_base32(), utcnow()
        session.add(user)
    return user


def make_token_in(session: Session, *, name: str | None = None, scopes=("reports:write",)) -> str:
    """A service token created the way the CLI does; returns the secret."""
    from access_control.tokens import create_token

    _, secret = create_token(session, name=name or f"t-{uuid.uuid4().hex[:8]}", scopes=scopes)
    return secret


def make_conversation_in(
    session: Session,
    owner,
    *,
    texts: tuple[str, ...] = ("hi", "[simulated scam message]", "thanks"),
    title: str = "Test conversation",
    external_id: str | None = None,
):
    """A conversation owned by `owner` with alternating user/assistant messages."""
    from privacy.conversations import MessageDraft, create_conversation

    roles = ("user", "assistant")
    return create_conversation(
        session,
        owner=owner,
        model_id="vigil-demo-1",
        title=title,
        external_id=external_id,
        messages=[
            MessageDraft(role=roles[i % 2], text=t, external_id=f"m{i}")
            for i, t in enumerate(texts)
        ],
    )


def make_token(app, *, name: str | None = None, scopes: tuple[str, ...] = ("reports:write",)):
    """make_token_in, in a transaction of its own on the app's database."""
    with session_scope(app.extensions["vigil.engine"]) as session:
        return make_token_in(session, name=name, scopes=scopes)


def make_conversation(app, owner, **kwargs):
    """make_conversation_in, in a transaction of its own on the app's database."""
    with session_scope(app.extensions["vigil.engine"]) as session:
        return make_conversation_in(session, owner, **kwargs)


def make_case(
    app,
    *,
    category: str = "scam_fraud",
    texts=("hello", "[simulated scam message]"),
    source_type: str = "user_notice",
    language: str = "",
) -> int:
    """File a report through the JSON API; return the case id."""
    from moderation.intake.models import Report

    api = Api(app.test_client(), make_token(app))
    body = report_body(
        texts=texts,
        category=category,
        source_type=source_type,
        reporter_id=f"r-{uuid.uuid4().hex[:6]}",
    )
    body["conversation"]["language"] = language
    response = api.post(body)
    assert response.status_code == 201, response.get_data(as_text=True)
    with Session(read_only(app.extensions["vigil.engine"])) as session:
        return session.exec(
            select(Report.case_id).where(Report.ref == response.json["reference"])
        ).one()


class Factory:
    """Small make_* helpers bound to one app."""

    password = "correct horse battery staple"

    def __init__(self, app) -> None:
        self.app = app
        self.engine = app.extensions["vigil.engine"]

    def make_user(self, email: str | None = None, roles: tuple[str, ...] = (), totp: bool = True):
        with session_scope(self.engine) as session:
            return make_user(session, email=email, roles=roles, totp=totp, password=self.password)

    def fresh_code(self, user) -> str:
        """A TOTP code for a step the account has not used yet (one-time use)."""
        from access_control.models import User

        with session_scope(self.engine) as session:
            last = session.get(User, user.id).totp_last_step
        # The current step, not the previous one: the server accepts one step either side,
        # so a code minted just before a step boundary stays valid for a full step after it.
        current = int(time.time() // 30)
        step = max(current, last + 1)
        if step > current + 1:  # a third sign-in within one step: wait for the window
            time.sleep((step - 1) * 30 - time.time() + 0.05)
        return pyotp.TOTP(user.totp_secret).at(step * 30)

    def login(self, client, user, password: str | None = None):
        """Sign in through the real forms: password, then TOTP for staff."""
        response = post_form(
            client, "/login", {"email": user.email, "password": password or self.password}
        )
        if response.status_code == 302 and response.headers["Location"].endswith("/login/mfa"):
            response = post_form(
                client, "/login/mfa", {"code": self.fresh_code(user)}, token_from="/login/mfa"
            )
        assert response.status_code == 302, response.get_data(as_text=True)[:500]
        return response

    def login_as(self, client, *roles: str):
        """Create an account holding `roles` and sign it in."""
        user = self.make_user(roles=roles)
        self.login(client, user)
        return user


def set_plan(app, user=None, *, owner_ref: str | None = None, plan="free", opt_out=None):
    """Record an owner's plan (and choice) the way an administrator's command does."""
    from privacy.consent import Owner, set_privacy
    from privacy.models import ConsentSource, Plan

    owner = Owner(user_id=user.id) if user is not None else Owner(owner_ref=owner_ref)
    with session_scope(app.extensions["vigil.engine"]) as session:
        set_privacy(
            session,
            owner,
            plan=Plan(plan) if plan else None,
            opt_out=opt_out,
            source=ConsentSource.ADMIN,
            actor="test",
        )
