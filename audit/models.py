"""The admin/security event journal (the content access log is separate)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, DateTime, Text
from sqlmodel import Field, SQLModel

from core.timeutil import utcnow


class AdminEvent(SQLModel, table=True):
    """Who did what to whom, with before/after and reason; append-only."""

    __tablename__ = "admin_event"

    id: int | None = Field(default=None, primary_key=True)
    occurred_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False)
    )
    event_type: str = Field(max_length=64, index=True)
    # Who acted: id plus a copied label so the entry survives the account.
    actor_id: int | None = Field(default=None, index=True)
    actor_label: str = Field(max_length=400)
    # What was affected, kept apart from who acted.
    target_type: str = Field(default="", max_length=32)
    target_id: str = Field(default="", max_length=64, index=True)
    target_label: str = Field(default="", max_length=400)
    reason: str = Field(default="", max_length=500)
    before: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    after: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    request_id: str = Field(default="", max_length=64)
    client_address: str = Field(default="", max_length=64)
