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
