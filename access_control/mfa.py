"""TOTP enrolment and verification (each code once) and recovery codes."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time

import pyotp
import segno
from sqlalchemy import update
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import Session, col, select

from access_control.journal import EventType, record_event
from access_control.models import RecoveryCode, User
from core.sealed_text import is_withheld
from core.timeutil import utcnow

ISSUER = "Vigil"
RECOVERY_CODE_COUNT = 10
STEP_SECONDS = 30


def new_secret() -> str:
    """A fresh base32 TOTP secret."""
    return pyotp.random_base32()


def provisioning_uri(user: User, secret: str) -> str:
    """The otpauth:// URI an authenticator app reads."""
    return pyotp.TOTP(secret).provisioning_uri(name=user.email, issuer_name=ISSUER)


def qr_data_uri(uri: str) -> str:
    """An SVG QR code as a data: URI, rendered locally (no network)."""
    return segno.make(uri, error="m").svg_data_uri(scale=5, border=2)


def _matching_step(secret: str, code: str, now: float | None = None) -> int | None:
    """The time step (±1 for clock drift) whose code matches, or None."""
    code = code.strip().replace(" ", "")
    if is_withheld(secret) or not (code.isdigit() and len(code) == 6):
        return None
    totp = pyotp.TOTP(secret)
    current = int((now or time.time()) // STEP_SECONDS)
    for step in (current - 1, current, current + 1):
        if hmac.compare_digest(totp.at(step * STEP_SECONDS), code):
            return step
    return None


def verify_totp(session: Session, *, user: User, code: str) -> bool:
    """Accept a code once: a step at or before the last used one is a replay.

    The step is spent with a compare-and-set UPDATE, so two sign-ins racing with the same
    code cannot both pass (PostgreSQL re-checks the WHERE after the first one commits).
    """
    if not user.totp_secret:
        return False
    step = _matching_step(user.totp_secret, code)
    if step is None or step <= user.totp_last_step:
        return False
    spent = session.execute(
        update(User)
        .where(col(User.id) == user.id, col(User.totp_last_step) < step)
        .values(totp_last_step=step)
    )
    if spent.rowcount != 1:
        return False
    set_committed_value(user, "totp_last_step", step)
    return True


def enroll(session: Session, *, user: User, secret: str, code: str) -> list[str] | None:
    """Finish enrolment if the code matches the new secret; return recovery codes."""
    step = _matching_step(secret, code)
    if step is None:
        return None
    user.totp_secret, user.totp_last_step, user.mfa_enrolled_at = secret, step, utcnow()
    session.add(user)
    record_event(
        session,
        event_type=EventType.AUTH_MFA_ENROLLED,
        actor=user,
        target_type="account",
        target_id=user.id or "",
        target_label=user.label,
    )
    return _replace_recovery_codes(session, user)


RECOVERY_CODE_BYTES = 13  # 104 bits: far past offline guessing, so a plain hash will do


def _hash_code(code: str) -> str:
    # Unsalted on purpose: at 104 random bits no table or search reaches a code, and one
    # lookup per code keeps sign-in fast. (Codes issued before were 48 bits; they keep
    # working until the account regenerates its codes.)
    normalised = code.strip().lower().replace("-", "").replace(" ", "")
    return hashlib.sha256(normalised.encode()).hexdigest()


def _replace_recovery_codes(session: Session, user: User) -> list[str]:
    for old in session.exec(select(RecoveryCode).where(RecoveryCode.user_id == user.id)):
        session.delete(old)
    codes = []
    for _ in range(RECOVERY_CODE_COUNT):
        raw = secrets.token_hex(RECOVERY_CODE_BYTES)
        codes.append("-".join(raw[i : i + 4] for i in range(0, len(raw), 4)))
        session.add(RecoveryCode(user_id=user.id, code_hash=_hash_code(codes[-1])))
    return codes


def regenerate_recovery_codes(session: Session, *, user: User) -> list[str]:
    """Replace all recovery codes; the old ones stop working."""
    record_event(
        session,
        event_type=EventType.AUTH_RECOVERY_CODES_REGENERATED,
        actor=user,
        target_type="account",
        target_id=user.id or "",
        target_label=user.label,
    )
    return _replace_recovery_codes(session, user)


def use_recovery_code(session: Session, *, user: User, code: str) -> bool:
    """Spend a recovery code once."""
    wanted = _hash_code(code)
    for row in session.exec(
        select(RecoveryCode).where(RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None))
    ):
        if hmac.compare_digest(row.code_hash, wanted):
            spent = session.execute(  # compare-and-set: a racing second use finds it spent
                update(RecoveryCode)
                .where(col(RecoveryCode.id) == row.id, col(RecoveryCode.used_at).is_(None))
                .values(used_at=utcnow())
            )
            if spent.rowcount != 1:
                return False
            record_event(
                session,
                event_type=EventType.AUTH_RECOVERY_CODE_USED,
                actor=user,
                target_type="account",
                target_id=user.id or "",
                target_label=user.label,
            )
            return True
    return False
