"""Intake settings read once at start-up: evidence keys and SLA overrides."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from flask import current_app

from core.keys import KeyRing
from moderation.intake.cases import parse_sla_overrides
from moderation.intake.evidence import EvidenceKeys, evidence_keys


@dataclass(frozen=True)
class IntakeSettings:
    """Keys and SLA overrides, read once from configuration."""

    keys: EvidenceKeys
    sla: Mapping[str, int] = field(default_factory=dict)


def intake_settings(settings: Mapping[str, Any], ring: KeyRing) -> IntakeSettings:
    """IntakeSettings from the app's settings and key ring."""
    return IntakeSettings(
        keys=evidence_keys(ring), sla=parse_sla_overrides(settings.get("SLA_MINUTES") or "")
    )


def current_intake() -> IntakeSettings:
    """The running app's intake settings."""
    return current_app.extensions["vigil.intake"]
