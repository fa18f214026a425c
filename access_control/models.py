"""Accounts, recovery codes, policy rows, service tokens and the admin/security journal."""

from __future__ import annotations

import enum
import secrets
from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import Column, UniqueConstraint
from sqlmodel import Field, SQLModel

from core.columns import enum_column, utc_column
from core.sealed_text import SealedText
from core.timeutil import utcnow


class AccountStatus(enum.StrEnum):
    ACTIVE = "active"
    DISABLED = "disabled"
    DELETED = "deleted"  # erased at the owner's request: no name, no email, no sign-in


class User(UserMixin, SQLModel, table=True):
    """A person who signs in: end user or staff (staff is decided by role grants)."""

    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(max_length=254, unique=True, index=True)
    display_name: str = Field(max_length=120)
    password_hash: str = Field(max_length=255)
    status: AccountStatus = Field(
        default=AccountStatus.ACTIVE, sa_column=enum_column(AccountStatus, 16)
    )
    # Rotated on logout, password change and disable: every older session cookie dies.
    session_token: str = Field(default_factory=lambda: secrets.token_urlsafe(24), max_length=64)
    # Sealed at rest like message text: a database dump gives no second factors.
    totp_secret: str | None = Field(default=None, sa_column=Column(SealedText, nullable=True))
    totp_last_step: int = Field(default=0)
    created_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())
    mfa_enrolled_at: datetime | None = Field(default=None, sa_column=utc_column(True))

    def get_id(self) -> str:
        """The session cookie's id: account id plus the current session token."""
        return f"{self.id}.{self.session_token}"

    @property
    def is_active(self) -> bool:
        """Disabled accounts cannot hold a session."""
        return self.status == AccountStatus.ACTIVE

    @property
    def subject(self) -> str:
        """The Casbin subject name of this account."""
        return f"user:{self.id}"

    @property
    def label(self) -> str:
        """A copyable label for audit entries that survives account deletion."""
        return f"{self.display_name} <{self.email}>"


class RecoveryCode(SQLModel, table=True):
    """A one-time MFA recovery code, stored only as a hash."""

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user.id", index=True)
    code_hash: str = Field(max_length=64)
    used_at: datetime | None = Field(default=None, sa_column=utc_column(True))


class PolicyRule(SQLModel, table=True):
    """One Casbin row (p or g); written only by access_control.policy."""

    __tablename__ = "policy_rule"
    __table_args__ = (UniqueConstraint("ptype", "v0", "v1", "v2", "v3", "v4", "v5"),)

    id: int | None = Field(default=None, primary_key=True)
    ptype: str = Field(max_length=8)
    v0: str = Field(default="", max_length=128)
    v1: str = Field(default="", max_length=128)
    v2: str = Field(default="", max_length=64)
    v3: str = Field(default="", max_length=64)
    v4: str = Field(default="", max_length=64)
    v5: str = Field(default="", max_length=16)

    def values(self) -> tuple[str, ...]:
        """The row's values without trailing blanks, as Casbin reads them."""
        vals = [self.v0, self.v1, self.v2, self.v3, self.v4, self.v5]
        while vals and vals[-1] == "":
            vals.pop()
        return tuple(vals)


class PolicyState(SQLModel, table=True):
    """A single row holding the policy version every worker compares before a check."""

    __tablename__ = "policy_state"

    id: int = Field(default=1, primary_key=True)
    version: int = Field(default=0)
    updated_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())


class ServiceToken(SQLModel, table=True):
    """A chat-backend credential: only its SHA-256 is stored; revocable."""

    __tablename__ = "service_token"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=80, unique=True)
    token_hash: str = Field(max_length=64, unique=True)
    scopes: str = Field(max_length=200)  # space-separated
    created_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())
    revoked_at: datetime | None = Field(default=None, sa_column=utc_column(True))

    def has_scope(self, scope: str) -> bool:
        """True if this token was granted `scope`."""
        return scope in self.scopes.split()


class InvitePurpose(enum.StrEnum):
    ENROL = "enrol"  # a new account sets its own password and second factor
    RESET = "reset"  # a second admin approved: new password, second factor enrolled again


class Invitation(SQLModel, table=True):
    """A one-time link that lets a person set their own credentials (the token only hashed).

    A reset link exists only once a second admin approved it (token_hash empty before).
    """

    __tablename__ = "account_invitation"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user.id", index=True)
    purpose: InvitePurpose = Field(sa_column=enum_column(InvitePurpose, 8))
    token_hash: str = Field(default="", max_length=64, index=True)
    reason: str = Field(default="", max_length=500)
    requested_by: int | None = Field(default=None)  # None: the operator's command line
    requested_by_label: str = Field(max_length=400)
    created_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())
    approved_by: int | None = Field(default=None)
    approved_at: datetime | None = Field(default=None, sa_column=utc_column(True))
    expires_at: datetime | None = Field(default=None, sa_column=utc_column(True))
    used_at: datetime | None = Field(default=None, sa_column=utc_column(True))
    used_from: str = Field(default="", max_length=64)  # the client address that used it
    refused_at: datetime | None = Field(default=None, sa_column=utc_column(True))


class RequestState(enum.StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REFUSED = "refused"
    EXPIRED = "expired"


class RoleRequest(SQLModel, table=True):
    """A role grant waiting for a second admin (four-eyes on power)."""

    __tablename__ = "role_request"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user.id", index=True)
    role: str = Field(max_length=64)
    reason: str = Field(max_length=500)
    requested_by: int = Field(foreign_key="user.id")
    requested_by_label: str = Field(max_length=400)
    requested_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())
    expires_at: datetime = Field(sa_column=utc_column())
    state: RequestState = Field(
        default=RequestState.PENDING, sa_column=enum_column(RequestState, 16)
    )
    decided_by: int | None = Field(default=None)
    decided_by_label: str = Field(default="", max_length=400)
    decided_at: datetime | None = Field(default=None, sa_column=utc_column(True))
    decision_reason: str = Field(default="", max_length=500)


class PolicyRequest(SQLModel, table=True):
    """A policy change that widens content access, waiting for a second admin."""

    __tablename__ = "policy_request"

    id: int | None = Field(default=None, primary_key=True)
    verb: str = Field(max_length=8)  # add or remove
    row: str = Field(max_length=400)  # the p row as Casbin's CSV shows it
    reason: str = Field(max_length=500)
    requested_by: int = Field(foreign_key="user.id")
    requested_by_label: str = Field(max_length=400)
    requested_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())
    expires_at: datetime = Field(sa_column=utc_column())
    state: RequestState = Field(
        default=RequestState.PENDING, sa_column=enum_column(RequestState, 16)
    )
    decided_by_label: str = Field(default="", max_length=400)
    decided_at: datetime | None = Field(default=None, sa_column=utc_column(True))
