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
from moderation.intake.reports import Reporter, report_stored_conversation
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
) -> Report:
    """Record an Art. 16 notice about a conversation (caller commits)."""
    return report_stored_conversation(
        session,
        settings=settings,
        conversation=conversation,
        channel=Channel.NOTICE,
        reporter=Reporter(
            key=notifier_key(email=email, user=user, pepper=pepper),
            user_id=user.id if user is not None else None,
        ),
        message_ids=message_ids,
        category=category,
        statement={"explanation": explanation, "name": name.strip(), "email": email.strip()},
        good_faith=good_faith,
    )
