"""API input and output models, and their errors as RFC 9457 `errors` entries."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictInt,
    ValidationError,
    WithJsonSchema,
)

from moderation.intake import taxonomy
from moderation.intake.limits import MAX_DESCRIPTION_CHARS, MAX_MESSAGE_CHARS, MAX_MESSAGES
from privacy.models import Plan

MAX_REQUEST_BYTES = 1024 * 1024  # the app-wide MAX_CONTENT_LENGTH
# Ids name things in the chat backend; a tight alphabet keeps them out of HTML and URLs trouble.
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:\-]{0,127}$"
LANGUAGE_PATTERN = r"^(?:[A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,8})*)?$"  # BCP 47, loosely
SOURCE_TYPES = Literal["user_notice", "trusted_flagger", "automated_detection", "own_initiative"]


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("NUL characters are not accepted")
    return value


# The year as written: the OpenAPI document publishes this range as a pattern, and an offset
# of at most a day moves it by one year at most, far inside what every store can hold.
EARLIEST_YEAR, LATEST_YEAR = 1970, 2099
YEAR_PATTERN = r"^(19[7-9][0-9]|20[0-9][0-9])-"


def _plausible_time(value: datetime) -> datetime:
    """A message time as UTC, written with a year from 1970 to 2099: year 1 at +14:00 or
    year 9999 at -14:00 would leave the range of a UTC timestamp and break every later read."""
    if not EARLIEST_YEAR <= value.year <= LATEST_YEAR:
        raise ValueError(f"the year must be {EARLIEST_YEAR}-{LATEST_YEAR}")
    return value.astimezone(UTC)


def _time_text(value: Any) -> Any:
    """Only a JSON string is a date-time (pydantic would also read 29591 as 1970 plus 8 h)."""
    if not isinstance(value, str):
        raise ValueError("a date-time is a string, such as 2026-11-30T09:00:00Z")
    return value


def _json_bool(value: Any) -> Any:
    """Only JSON true and false are booleans (not 1, 1.0 or "yes")."""
    if not isinstance(value, bool):
        raise ValueError("a boolean is true or false")
    return value


JsonBool = Annotated[bool, BeforeValidator(_json_bool)]


def _integral(value: Any) -> Any:
    """JSON has one number type: 12.0 is the integer 12 (as JSON Schema's "integer" says)."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


MessageTime = Annotated[
    AwareDatetime,
    BeforeValidator(_time_text),
    AfterValidator(_plausible_time),
    WithJsonSchema({"type": "string", "format": "date-time", "pattern": YEAR_PATTERN}),
]
# Text Vigil stores or shows as given (not sealed message text): no NUL, which PostgreSQL
# cannot hold in a text column and which has no business in a name or an id.
PlainStr = Annotated[
    str, AfterValidator(_no_nul), Field(json_schema_extra={"pattern": "^[^\\u0000]*$"})
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AttachmentIn(_Strict):
    """Metadata of an attachment; Vigil does not receive the file."""

    name: PlainStr = Field(min_length=1, max_length=255)
    media_type: str = Field(max_length=127, pattern=r"^[A-Za-z0-9.+\-]+/[A-Za-z0-9.+\-]+$")
    size: Annotated[StrictInt, BeforeValidator(_integral)] = Field(ge=0, le=2**31 - 1)  # int4
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


class MessageIn(_Strict):
    """One message of the conversation snapshot."""

    id: str = Field(pattern=ID_PATTERN)
    role: Literal["user", "assistant", "system"]
    text: str = Field(max_length=MAX_MESSAGE_CHARS)
    created_at: MessageTime
    attachment: AttachmentIn | None = None


class ConversationBody(_Strict):
    """PUT /api/v1/conversations/{id}: a conversation's metadata and all its messages."""

    owner_id: PlainStr = Field(
        default="", max_length=128, description="Pseudonymous id of the conversation's owner."
    )
    model_id: PlainStr = Field(min_length=1, max_length=100)
    product: Literal["chat", "api", "ocr"]
    title: PlainStr = Field(
        default="",
        max_length=200,
        description="Kept only inside sealed report evidence; a PUT does not store it.",
    )
    language: str = Field(
        default="",
        max_length=35,
        pattern=LANGUAGE_PATTERN,
        description='BCP 47 language tag, e.g. "de" or "pt-BR"; empty when unknown.',
    )
    messages: list[MessageIn] = Field(min_length=1, max_length=MAX_MESSAGES)


class ConversationIn(ConversationBody):
    """The conversation as the chat backend holds it at the time of the report."""

    id: str = Field(pattern=ID_PATTERN, description="The chat backend's conversation id.")


class ReportIn(_Strict):
    """POST /api/v1/reports: a report with its conversation snapshot."""

    conversation: ConversationIn
    message_ids: list[str] = Field(
        default_factory=list,
        max_length=MAX_MESSAGES,
        description="Reported messages; empty reports the whole conversation.",
    )
    category: str = Field(description="A Vigil category key (see the enum).")
    description: PlainStr = Field(default="", max_length=MAX_DESCRIPTION_CHARS)
    reporter_id: str = Field(pattern=ID_PATTERN, description="Pseudonymous reporter id.")
    source_type: SOURCE_TYPES


class ReportReceipt(BaseModel):
    """The acknowledgement of a report (DSA Art. 16(4)) and its current status."""

    reference: str = Field(examples=["VR-7K2M9QF3XD"])
    status: Literal["received", "closed"]
    received_at: datetime
    category: str
    message_ids: list[str]


class ConversationReceipt(BaseModel):
    """The stored state of a conversation after a PUT."""

    id: str = Field(description="The chat backend's conversation id.")
    reference: str = Field(description="Vigil's public reference, for notice links /notice/{ref}.")
    message_count: int
    updated_at: datetime


class OwnerPrivacyIn(_Strict):
    """PUT /api/v1/owners/{owner_id}/privacy: the owner's plan and training choice."""

    plan: Plan = Field(description="The owner's plan; decides the default (see the operation).")
    training_opt_out: JsonBool | None = Field(
        default=None,
        description="true opts out (any plan, free of charge); false opts back in (refused on "
        "team, enterprise and api_scale, which are never used); omitted keeps the choice.",
    )


class OwnerPrivacyOut(BaseModel):
    """An owner's stored plan and choice, and what they mean for training."""

    owner_id: str
    plan: str | None
    training_opt_out: bool
    used_for_training: bool
    explanation: str


class FeedbackIn(_Strict):
    """PUT .../messages/{message_id}/feedback: a rating of one assistant message."""

    rating: Literal["up", "down"]
    comment: PlainStr = Field(default="", max_length=2000)
    disclosure_shown: Annotated[Literal[True], BeforeValidator(_json_bool)] = Field(
        description="The chat product told the user, before this first rating, that a rating "
        "and the rated input and output may be used to improve models even if they opted out."
    )


class FeedbackOut(BaseModel):
    conversation_id: str
    message_id: str
    rating: str
    received_at: datetime


class ErasureOut(BaseModel):
    """What an erasure did; evidence of reported conversations is kept, and why."""

    conversations_erased: int
    kept_under_legal_hold: list[dict[str, str]]


class AppealIn(BaseModel):
    """An appeal (DSA Art. 20): why the decision is wrong; the owner's id for an owner."""

    statement: PlainStr = Field(min_length=1, max_length=5000)
    owner_id: str | None = Field(default=None, max_length=128)


class AppealOut(BaseModel):
    """The appeal's reference and the case it reopened."""

    appeal: str
    case: str
    filed_at: datetime


class ProblemError(BaseModel):
    """One failing field: a JSON pointer into the request body and what is wrong."""

    pointer: str = Field(examples=["#/conversation/messages/3/text"])
    detail: str
    type: str


class Problem(BaseModel):
    """RFC 9457 problem details."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    instance: str
    errors: list[ProblemError] | None = None


def _pointer(loc: tuple[Any, ...]) -> str:
    # RFC 6901 escaping, so an unknown field named "a/b" still points somewhere precise.
    parts = (str(part).replace("~", "~0").replace("/", "~1") for part in loc)
    return "#/" + "/".join(parts) if loc else "#"


def _error(loc: tuple[Any, ...], detail: str, kind: str) -> dict[str, str]:
    return {"pointer": _pointer(loc), "detail": detail, "type": kind}


Model = TypeVar("Model", bound=BaseModel)


def _duplicate_message_ids(messages: list[MessageIn], *prefix: str) -> list[dict[str, str]]:
    counts = Counter(message.id for message in messages)
    return [
        _error((*prefix, "messages", index, "id"), "Message ids must be unique.", "duplicate")
        for index, message in enumerate(messages)
        if counts[message.id] > 1
    ]


def _report_errors(payload: ReportIn) -> list[dict[str, str]]:
    errors = _duplicate_message_ids(payload.conversation.messages, "conversation")
    known = {message.id for message in payload.conversation.messages}
    reported = Counter(payload.message_ids)
    for index, message_id in enumerate(payload.message_ids):
        if reported[message_id] > 1 and payload.message_ids.index(message_id) != index:
            loc = ("message_ids", index)
            errors.append(_error(loc, "This message is already listed.", "duplicate"))
        if message_id not in known:
            loc = ("message_ids", index)
            errors.append(_error(loc, "No message with this id in the snapshot.", "unknown_id"))
    try:
        taxonomy.category(payload.category)
    except KeyError:
        keys = ", ".join(item.key for item in taxonomy.categories())
        errors.append(_error(("category",), f"Unknown category; one of {keys}.", "enum"))
    return errors


def _parse(
    model: type[Model], data: Any, checks: Callable[[Model], list[dict[str, str]]]
) -> tuple[Model | None, list[dict[str, str]]]:
    try:
        payload = model.model_validate(data)
    except ValidationError as exc:
        errors = [_error(tuple(e["loc"]), e["msg"], e["type"]) for e in exc.errors()]
        return None, errors
    errors = checks(payload)
    return (None, errors) if errors else (payload, [])


def parse_report(data: Any) -> tuple[ReportIn | None, list[dict[str, str]]]:
    """Validate a decoded report body: the model or a list of errors with field pointers."""
    return _parse(ReportIn, data, _report_errors)


def parse_owner_privacy(data: Any) -> tuple[OwnerPrivacyIn | None, list[dict[str, str]]]:
    """Validate a decoded owner privacy body."""
    return _parse(OwnerPrivacyIn, data, lambda body: [])


def parse_feedback(data: Any) -> tuple[FeedbackIn | None, list[dict[str, str]]]:
    """Validate a decoded feedback body."""
    return _parse(FeedbackIn, data, lambda body: [])


def parse_conversation(data: Any) -> tuple[ConversationBody | None, list[dict[str, str]]]:
    """Validate a decoded conversation body: the model or a list of errors with pointers."""
    return _parse(ConversationBody, data, lambda body: _duplicate_message_ids(body.messages))
