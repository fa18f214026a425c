"""The public notice (EU DSA Art. 16): anyone holding a conversation reference may file one.

Art. 16(2) asks for (a) an explanation of why the content is illegal, (b) its exact location,
(c) the notifier's name and email, except for child sexual abuse offences, and (d) a
statement of good faith. The explanation and contact details are sealed with the evidence.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Sequence

from sqlmodel import Session

from access_control.models import User
from core.config import setting
from moderation.intake.models import Channel, Report
from moderation.intake.reports import Reporter, report_stored_conversation, submit_report
from moderation.intake.settings import IntakeSettings
from privacy.models import Conversation


def notifier_pepper() -> str:
    """The key of notifier hashes: VIGIL_NOTIFIER_PEPPER, else the SECRET_KEY (older hashes)."""
    return setting("NOTIFIER_PEPPER") or setting("SECRET_KEY")


def notifier_key(*, email: str, user: User | None, pepper: str) -> str:
    """Who counts as the same notifier, without storing the email in the clear.

    A signed-in notifier counts as their account (so a web report and a notice by one
    person are one reporter); an email counts by keyed hash; an anonymous notice counts
    as a reporter of its own.
    """
    if user is not None:
        return user.subject
    if email.strip():
        digest = hmac.new(pepper.encode(), email.strip().lower().encode(), hashlib.sha256)
        return "notice:" + digest.hexdigest()[:32]
    return "notice:anonymous:" + secrets.token_hex(8)


def file_notice(
    session: Session,
    *,
    settings: IntakeSettings,
    conversation: Conversation,
    message_ids: Sequence[str],
    category: str,
    explanation: str,
    name: str,
    email: str,
    good_faith: bool,
    user: User | None,
    pepper: str,
    document: dict | None = None,
) -> Report:
    """Record an Art. 16 notice about a conversation (caller commits).

    `document` is the evidence when the notifier saw a copy (a share link's snapshot);
    without it, the conversation as Vigil holds it now is frozen.
    """
    reporter = Reporter(
        key=notifier_key(email=email, user=user, pepper=pepper),
        user_id=user.id if user is not None else None,
    )
    statement = {"explanation": explanation, "name": name.strip(), "email": email.strip()}
    if document is not None:
        return submit_report(
            session,
            settings=settings,
            conversation=conversation,
            document=document,
            message_ids=message_ids,
            category=category,
            source_type="user_notice",
            channel=Channel.NOTICE,
            reporter=reporter,
            statement=statement,
            good_faith=good_faith,
        )
    return report_stored_conversation(
        session,
        settings=settings,
        conversation=conversation,
        channel=Channel.NOTICE,
        reporter=reporter,
        message_ids=message_ids,
        category=category,
        statement=statement,
        good_faith=good_faith,
    )
