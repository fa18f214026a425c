"""Column types every package's models share: UTC timestamps and StrEnum-valued strings."""

from __future__ import annotations

import enum
from datetime import UTC

from sqlalchemy import Column, DateTime, String
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator):
    """A timezone-aware timestamp, converted to UTC before it is stored.

    PostgreSQL keeps the instant either way; SQLite stores the wall-clock digits and
    drops the offset, so 10:00+02:00 would read back as 10:00 UTC without this."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None and getattr(value, "tzinfo", None) is not None:
            return value.astimezone(UTC)
        return value


def utc_column(nullable: bool = False, *, index: bool = False) -> Column:
    """A timezone-aware timestamp column (every model's times are stored this way)."""
    return Column(UTCDateTime(), nullable=nullable, index=index)


class StrEnumType(TypeDecorator):
    """A VARCHAR that holds a StrEnum's values and reads back enum members.

    The schema stays a plain string column (no database enum type to migrate when a
    member is added); unknown values are refused on write.
    """

    impl = String
    cache_ok = True

    def __init__(self, enum_class: type[enum.StrEnum], length: int) -> None:
        super().__init__(length)
        self.enum_class = enum_class

    def process_bind_param(self, value, dialect):
        return None if value is None else self.enum_class(value).value

    def process_result_value(self, value, dialect):
        return None if value is None else self.enum_class(value)


def enum_column(enum_class: type[enum.StrEnum], length: int, **kwargs) -> Column:
    """A non-null column typed with `enum_class`."""
    return Column(StrEnumType(enum_class, length), nullable=False, **kwargs)
