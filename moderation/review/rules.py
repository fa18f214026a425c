"""The review rules read once at start-up: four-eyes categories, appeal window, retention,
legal holds, legal requests and QA samples (see the README's settings table)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from flask import current_app

from moderation.intake import taxonomy
from moderation.intake.cases import parse_category_numbers

CSAM = "child_sexual_abuse"
CSAM_MIN_HOLD_DAYS = 365  # the preservation period US law (18 U.S.C. 2258A) now sets
MIN_APPEAL_DAYS = 183  # DSA Art. 20(1): at least six months


@dataclass(frozen=True)
class ReviewRules:
    four_eyes: frozenset[str] = frozenset({CSAM, "terrorist_content"})
    appeal_window: timedelta = timedelta(days=MIN_APPEAL_DAYS)
    retention_default: int = 90
    retention: Mapping[str, int] = field(default_factory=dict)
    hold_default: int = 365
    holds: Mapping[str, int] = field(default_factory=lambda: {CSAM: CSAM_MIN_HOLD_DAYS})
    legal_request: timedelta = timedelta(hours=24)
    qa_size: int = 5
    qa_lifetime: timedelta = timedelta(hours=8)

    def needs_four_eyes(self, category: str, labels: Iterable[str] = ()) -> bool:
        """Whether a decision on this category (or with these labels) waits for a second
        specialist."""
        return bool(self.four_eyes & {category, *labels})

    def retention_days(self, category: str) -> int:
        return self.retention.get(category, self.retention_default)

    def hold_days(self, category: str) -> int:
        return self.holds.get(category, self.hold_default)


def review_rules(settings: Mapping[str, Any]) -> ReviewRules:
    """ReviewRules from the settings; ValueError/KeyError for a bad or unlawful value."""
    four_eyes = frozenset(
        filter(None, (k.strip() for k in settings["FOUR_EYES_CATEGORIES"].split(",")))
    )
    for key in four_eyes:
        taxonomy.category(key)
    holds = parse_category_numbers(settings["HOLD_DAYS_BY_CATEGORY"], "VIGIL_HOLD_DAYS_BY_CATEGORY")
    rules = ReviewRules(
        four_eyes=four_eyes,
        appeal_window=timedelta(days=settings["APPEAL_WINDOW_DAYS"]),
        retention_default=settings["RETENTION_DAYS"],
        retention=parse_category_numbers(
            settings["RETENTION_DAYS_BY_CATEGORY"], "VIGIL_RETENTION_DAYS_BY_CATEGORY"
        ),
        hold_default=settings["HOLD_DAYS"],
        holds=holds,
        legal_request=timedelta(hours=settings["LEGAL_REQUEST_HOURS"]),
        qa_size=settings["QA_SAMPLE_SIZE"],
        qa_lifetime=timedelta(hours=settings["QA_SAMPLE_HOURS"]),
    )
    if rules.appeal_window < timedelta(days=MIN_APPEAL_DAYS):
        raise ValueError(f"VIGIL_APPEAL_WINDOW_DAYS must be at least {MIN_APPEAL_DAYS}")
    if rules.hold_days(CSAM) < CSAM_MIN_HOLD_DAYS:
        raise ValueError(f"child sexual abuse material is held at least {CSAM_MIN_HOLD_DAYS} days")
    positive = (rules.retention_default, rules.hold_default, rules.qa_size)
    if (
        min(positive) <= 0
        or rules.legal_request <= timedelta(0)
        or rules.qa_lifetime <= timedelta(0)
    ):
        raise ValueError("retention, hold, QA and legal-request settings must be positive")
    return rules


def current_rules() -> ReviewRules:
    """The running app's review rules."""
    return current_app.extensions["vigil.review_rules"]
