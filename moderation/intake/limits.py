"""Limits every way in shares (web form, public notice, JSON API)."""

MAX_MESSAGES = 500
MAX_MESSAGE_CHARS = 32_000
MAX_DESCRIPTION_CHARS = 2_000
