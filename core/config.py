"""Configuration: defaults, then VIGIL_* environment variables, then the test mapping."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from flask import current_app

# Every setting Vigil reads, with its default. The README's table mirrors this mapping.
DEFAULTS: dict[str, Any] = {
    "ENV": "development",  # "production" turns on the strict start-up checks
    "DEBUG": False,
    "DATABASE_URL": "",  # empty: sqlite:///<instance>/vigil.db
    "INSTANCE_PATH": "",  # empty: ./instance (development secrets, SQLite, checkpoints)
    "SECRET_KEY": "",  # production: required; development: generated into instance/
    "EVIDENCE_KEY": "",  # base64 32-byte master key for sealed evidence
    "AUDIT_SIGNING_KEY": "",  # base64 32-byte Ed25519 seed for checkpoints
    # base64 32-byte HMAC key that authenticates every access-log entry; kept out of the
    # database, so a database writer cannot forge, edit or rehash an entry
    "AUDIT_MAC_KEY": "",
    "AUDIT_ORIGIN": "vigil.local/access-log",  # checkpoint origin line
    # The checkpoint sidecar signs when the oldest unsigned entry is this many seconds old
    # or this many entries are unsigned, whichever comes first; `audit verify` reports
    # entries older than the interval that no checkpoint covers as `unanchored`.
    "CHECKPOINT_INTERVAL_SECONDS": 60,
    "CHECKPOINT_MAX_ENTRIES": 1000,
    "VERIFY_EVERY_SECONDS": 3600,  # the sidecar verifies the whole log this often
    # The auditor's status page warns of an actor with this many denials, or break-glass
    # looks, in the last 24 hours.
    "ALERT_DENIALS_PER_DAY": 20,
    "ALERT_BREAK_GLASS_PER_DAY": 3,
    "CHECKPOINT_DIR": "",  # empty: <instance>/checkpoints
    # Trusted checkpoint public keys (Go note verifier keys, one a line), kept outside the
    # database so a database writer cannot add one; empty: <instance>/audit_verifier_keys.txt
    "AUDIT_VERIFIER_KEYS": "",
    "RATELIMIT_STORAGE_URI": "memory://",
    "LOGIN_LIMIT_PER_ACCOUNT": "10 per 15 minutes",
    "LOGIN_LIMIT_PER_ADDRESS": "50 per 15 minutes",
    "SECURE_COOKIES": None,  # None: on in production, off for local http
    "SESSION_HOURS": 8,
    "TRUSTED_PROXIES": 0,  # number of proxies whose X-Forwarded-* headers to trust
    "CLAIM_LEASE_MINUTES": 10,  # a claim returns to the queue unless renewed
    "VIEWER_CAP": 3,  # distinct staff who may open a case before break-glass is needed
    "BREAK_GLASS_HOURS": 4,  # lifetime of an approved break-glass grant
    "DENIAL_LIMIT_PER_ACTOR": "30 per minute",  # refused content/queue requests before 429
    "BLUR_DEFAULT": True,  # organisation default for blurring message text
    "GREYSCALE_DEFAULT": True,  # organisation default for greyscaling images
    # Retired evidence master keys (comma-separated base64), readable until
    # `flask --app app keys rotate-evidence` has rewrapped every data key.
    "EVIDENCE_OLD_KEYS": "",
    # Per-category SLA overrides in minutes, e.g. "terrorist_content=30,harassment=720";
    # categories not named keep taxonomy.json's sla_minutes.
    "SLA_MINUTES": "",
    "REPORT_LIMIT_PER_REPORTER": "30 per hour",  # web user, or API reporter_id per token
    "REPORT_LIMIT_PER_ADDRESS": "600 per minute",  # API calls per client address
    "NOTICE_LIMIT_PER_ADDRESS": "10 per hour",  # public notice form posts per address
    # Key of the notifier hashes that count distinct reporters without storing emails.
    # Empty: the SECRET_KEY (what older versions used, so existing hashes stay comparable);
    # set it to the current SECRET_KEY before rotating SECRET_KEY.
    "NOTIFIER_PEPPER": "",
    # A rating and the rated input and output may be used to improve models even when the
    # owner opted out (the published policy); off: the opt-out wins over feedback too.
    "FEEDBACK_OVERRIDES_OPT_OUT": True,
    # The training export's own database role (SELECT on the user-side tables only);
    # empty: DATABASE_URL. See the README's "Training export".
    "TRAINING_DATABASE_URL": "",
    "SHARE_LIMIT_PER_ADDRESS": "120 per minute",  # shared-link page views per address
    # Where decisions apply, for statements of reasons (comma-separated EU/EEA codes,
    # Greece = GR); empty: the whole EEA.
    "STATEMENT_TERRITORIAL_SCOPE": "",
    # Webhooks to the chat backend (docs/webhooks.md): one attempt's timeout, attempts
    # before giving up, and the backoff base * 2^(attempt-1), capped.
    "WEBHOOK_TIMEOUT_SECONDS": 10,
    "WEBHOOK_MAX_ATTEMPTS": 10,
    "WEBHOOK_BACKOFF_SECONDS": 30,
    "WEBHOOK_BACKOFF_CAP_SECONDS": 21600,  # 6 hours
    # Four-eyes: decisions on cases of these categories stay provisional until a second
    # specialist confirms them (comma-separated taxonomy keys; empty: none).
    "FOUR_EYES_CATEGORIES": "child_sexual_abuse,terrorist_content",
    "APPEAL_WINDOW_DAYS": 183,  # appeals accepted this long after a final decision (>= 6 months)
    # Evidence retention after a case closes, in days: the default and per-category
    # overrides ("harassment=30"); nothing is purged while an appeal or a hold is open.
    "RETENTION_DAYS": 90,
    "RETENTION_DAYS_BY_CATEGORY": "",
    # Legal hold placed by a final illegal-content decision, in days: the default and
    # per-category overrides; child sexual abuse material is held at least 365 days.
    "HOLD_DAYS": 365,
    "HOLD_DAYS_BY_CATEGORY": "child_sexual_abuse=365",
    "LEGAL_REQUEST_HOURS": 24,  # how long a registered legal request opens its case
    "QA_SAMPLE_SIZE": 5,  # decided cases drawn per QA sample
    "QA_SAMPLE_HOURS": 8,  # how long a QA reviewer may open the cases they drew
    "ENROL_LINK_HOURS": 24,  # lifetime of a one-time enrolment or reset link
    "ROLE_REQUEST_HOURS": 72,  # a role request nobody approved expires after this
    # Crash drills only: "decision:<file>" holds a request at that named point (inside its
    # transaction) while the file exists, so a test can kill the worker there (core.faults);
    # production refuses to start with it.
    "PAUSE_AT": "",
}

SECRET_SETTINGS = ("SECRET_KEY", "EVIDENCE_KEY", "AUDIT_SIGNING_KEY", "AUDIT_MAC_KEY")
_BOOLS = {"1": True, "true": True, "yes": True, "on": True}
_FALSES = {"0": False, "false": False, "no": False, "off": False}


class ConfigError(RuntimeError):
    """Vigil cannot start with this configuration."""


def _coerce(name: str, raw: str, default: Any) -> Any:
    if isinstance(default, bool) or (default is None and name == "SECURE_COOKIES"):
        lowered = raw.strip().lower()
        if lowered in _BOOLS:
            return True
        if lowered in _FALSES:
            return False
        raise ConfigError(f"VIGIL_{name} must be true or false, not {raw!r}")
    if isinstance(default, int):
        try:
            return int(raw)
        except ValueError as exc:
            raise ConfigError(f"VIGIL_{name} must be a whole number, not {raw!r}") from exc
    return raw


def read_settings(environ: Mapping[str, str], test_config: Mapping[str, Any] | None) -> dict:
    """Merge defaults, VIGIL_* variables (or VIGIL_*_FILE paths) and the test mapping."""
    settings = dict(DEFAULTS)
    for name, default in DEFAULTS.items():
        file_var = environ.get(f"VIGIL_{name}_FILE")
        if file_var:
            with open(file_var, encoding="utf-8") as handle:
                settings[name] = _coerce(name, handle.read().strip(), default)
        elif f"VIGIL_{name}" in environ:
            settings[name] = _coerce(name, environ[f"VIGIL_{name}"], default)
    settings.update(test_config or {})
    if settings["ENV"] not in ("development", "production", "test"):
        raise ConfigError("VIGIL_ENV must be development, production or test")
    return settings


def check_production(settings: Mapping[str, Any]) -> None:
    """Refuse to start production with debug on or a secret missing."""
    if settings["ENV"] != "production":
        return
    if settings["DEBUG"] or os.environ.get("FLASK_DEBUG", "").lower() in _BOOLS:
        raise ConfigError(
            "production refuses to start with debug on (unset VIGIL_DEBUG/FLASK_DEBUG)"
        )
    if settings["PAUSE_AT"]:
        raise ConfigError("production refuses to start with VIGIL_PAUSE_AT (a crash-drill hook)")
    missing = [f"VIGIL_{name}" for name in SECRET_SETTINGS if not settings[name]]
    if not settings["DATABASE_URL"]:
        missing.append("VIGIL_DATABASE_URL")
    if missing:
        raise ConfigError("production needs these settings: " + ", ".join(missing))
    if settings["RATELIMIT_STORAGE_URI"].startswith("memory://"):
        # Each worker would count on its own: N workers let N times the attempts through.
        raise ConfigError(
            "production needs shared rate-limit storage: set VIGIL_RATELIMIT_STORAGE_URI "
            "(for example redis://127.0.0.1:6379)"
        )


def setting(name: str) -> Any:
    """One setting of the running app: the single accessor every package uses."""
    return current_app.config["VIGIL"][name]
