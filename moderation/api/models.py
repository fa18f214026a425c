"""The API's own table: the first response to each Idempotency-Key, per token."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Column, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from core.columns import enum_column, utc_column
from core.timeutil import utcnow


class IdempotencyState(enum.StrEnum):
    IN_FLIGHT = "in_flight"
    DONE = "done"


class IdempotencyRecord(SQLModel, table=True):
    """The first response to an Idempotency-Key, per token, replayed for retries."""

    __tablename__ = "idempotency_record"
    __table_args__ = (UniqueConstraint("token_id", "key"),)

    id: int | None = Field(default=None, primary_key=True)
    token_id: int = Field(foreign_key="service_token.id")
    key: str = Field(max_length=255)
    request_hash: str = Field(max_length=64)
    state: IdempotencyState = Field(
        default=IdempotencyState.IN_FLIGHT, sa_column=enum_column(IdempotencyState, 16)
    )
    status_code: int | None = Field(default=None)
    response_body: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    created_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())
    updated_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())
