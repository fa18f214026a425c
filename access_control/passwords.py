"""Argon2id password hashing with rehash on parameter change."""

from __future__ import annotations

from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

MIN_LENGTH = 12
MAX_LENGTH = 256  # argon2 is slow by design; a cap keeps huge inputs from costing more


@cache
def hasher() -> PasswordHasher:
    """The process-wide argon2id hasher (library defaults, RFC 9106 low-memory profile)."""
    return PasswordHasher()


def hash_password(password: str) -> str:
    """Hash a password with argon2id."""
    return hasher().hash(password)


# Verified against when the account does not exist, so timing does not reveal that.
_DUMMY_HASH = None


def verify_password(stored_hash: str | None, password: str) -> bool:
    """Check a password; unknown accounts cost the same time as known ones."""
    global _DUMMY_HASH
    if stored_hash is None:
        _DUMMY_HASH = _DUMMY_HASH or hash_password("not-a-real-password")
        stored_hash = _DUMMY_HASH
        password = password + "\x00"
    try:
        return hasher().verify(stored_hash, password[:MAX_LENGTH])
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    """True when the stored hash used older parameters."""
    return hasher().check_needs_rehash(stored_hash)


def password_problem(password: str) -> str | None:
    """A user-facing reason the password is unacceptable, or None."""
    if len(password) < MIN_LENGTH:
        return f"Use at least {MIN_LENGTH} characters."
    if len(password) > MAX_LENGTH:
        return f"Use at most {MAX_LENGTH} characters."
    return None
