"""Report categories, their EU DSA Transparency Database mapping, and queue priority.

The data lives in taxonomy.json next to this module; it is read and validated once.
The DSA values follow the Transparency Database statement-of-reasons schema v2 (in force
since 1 July 2025); tests/moderation/test_taxonomy.py holds the allowlist they are checked against.
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from access_control.permissions import Queue

TAXONOMY_PATH = Path(__file__).with_name("taxonomy.json")

# The application codes access rules and routing against these names, so the JSON may
# use them but not invent new ones.
QUEUES: tuple[Queue, ...] = (Queue.CHILD_SAFETY, Queue.GENERAL)  # where intake routes
SOURCES: tuple[str, ...] = (
    "user_notice",
    "trusted_flagger",
    "automated_detection",
    "own_initiative",
)
SEVERITY_MIN, SEVERITY_MAX = 1, 5

_KEY = re.compile(r"[a-z][a-z0-9_]{0,63}")
_DSA_CATEGORY = re.compile(r"STATEMENT_CATEGORY_[A-Z_]+")
_DSA_KEYWORD = re.compile(r"KEYWORD_[A-Z_]+")
_DSA_SOURCE = re.compile(r"SOURCE_[A-Z0-9_]+")
_FIELDS = ("key", "label", "description", "dsa", "severity", "queue", "sla_minutes")

# Priority weights; see priority() for the formula they feed.
SEVERITY_WEIGHT = 100
TRUSTED_FLAGGER_BONUS = 150
REPORTER_STEP = 20
REPORTER_STEPS_MAX = 3
AGE_BONUS_MAX_HOURS = 48


class TaxonomyError(ValueError):
    """taxonomy.json is malformed or breaks one of the rules below."""


@dataclass(frozen=True)
class Category:
    """One report category as shown on the report form and routed in the back office."""

    key: str
    label: str
    description: str
    dsa_category: str
    dsa_category_specification: tuple[str, ...]
    severity: int
    queue: str
    sla_minutes: int
    # DSA Art. 16(2)(c): notices about child sexual abuse offences need no name or email.
    contact_optional: bool


@dataclass(frozen=True)
class Taxonomy:
    """The validated contents of one taxonomy file."""

    categories: tuple[Category, ...]
    dsa_source_types: tuple[str, ...]
    source_types: Mapping[str, str]

    def category(self, key: str) -> Category:
        """The category with this key; KeyError if there is none."""
        for item in self.categories:
            if item.key == key:
                return item
        raise KeyError(key)


def _is_int(value: Any) -> bool:
    # bool is an int subclass; true/false in the JSON must not pass as 1/0.
    return isinstance(value, int) and not isinstance(value, bool)


def _text(entry: Mapping[str, Any], name: str, where: str) -> str:
    value = entry[name]
    if not isinstance(value, str) or not value.strip():
        raise TaxonomyError(f"{where}: {name} must be a non-empty string")
    return value


def _parse_category(entry: Any, index: int) -> Category:
    if not isinstance(entry, dict):
        raise TaxonomyError(f"categories[{index}] must be an object")
    where = f"category {entry.get('key', index)!r}"
    missing = [name for name in _FIELDS if name not in entry]
    if missing:
        raise TaxonomyError(f"{where}: missing {', '.join(missing)}")
    key = _text(entry, "key", where)
    if not _KEY.fullmatch(key):
        raise TaxonomyError(f"{where}: key must be lower_snake_case")
    dsa = entry["dsa"]
    if not isinstance(dsa, dict) or not isinstance(dsa.get("category"), str):
        raise TaxonomyError(f"{where}: dsa.category is required")
    if not _DSA_CATEGORY.fullmatch(dsa["category"]):
        raise TaxonomyError(f"{where}: {dsa['category']!r} is not a DSA statement category")
    specs = dsa.get("category_specification", [])
    if not isinstance(specs, list) or not all(
        isinstance(s, str) and _DSA_KEYWORD.fullmatch(s) for s in specs
    ):
        raise TaxonomyError(f"{where}: dsa.category_specification must list KEYWORD_* values")
    severity = entry["severity"]
    if not _is_int(severity) or not SEVERITY_MIN <= severity <= SEVERITY_MAX:
        raise TaxonomyError(f"{where}: severity must be a whole number 1-5")
    queue = entry["queue"]
    if queue not in QUEUES:
        raise TaxonomyError(f"{where}: unknown queue {queue!r}")
    sla = entry["sla_minutes"]
    if not _is_int(sla) or sla <= 0:
        raise TaxonomyError(f"{where}: sla_minutes must be a positive whole number")
    contact_optional = entry.get("contact_optional", False)
    if not isinstance(contact_optional, bool):
        raise TaxonomyError(f"{where}: contact_optional must be true or false")
    # The Art. 16(2)(c) exemption covers child sexual abuse offences only; anything
    # else asking for anonymous notices is a mistake in the file.
    if contact_optional and queue != Queue.CHILD_SAFETY:
        raise TaxonomyError(f"{where}: contact_optional is only allowed in the child_safety queue")
    return Category(
        key=key,
        label=_text(entry, "label", where),
        description=_text(entry, "description", where),
        dsa_category=dsa["category"],
        dsa_category_specification=tuple(specs),
        severity=severity,
        queue=queue,
        sla_minutes=sla,
        contact_optional=contact_optional,
    )


def _parse_sources(data: Mapping[str, Any]) -> tuple[tuple[str, ...], Mapping[str, str]]:
    dsa_types = data.get("dsa_source_types")
    if not isinstance(dsa_types, list) or not all(
        isinstance(v, str) and _DSA_SOURCE.fullmatch(v) for v in dsa_types
    ):
        raise TaxonomyError("dsa_source_types must list SOURCE_* values")
    mapping = data.get("source_types")
    if not isinstance(mapping, dict) or set(mapping) != set(SOURCES):
        raise TaxonomyError(f"source_types must map exactly {', '.join(SOURCES)}")
    for source, value in mapping.items():
        if value not in dsa_types:
            raise TaxonomyError(f"source_types[{source!r}]: {value!r} is not in dsa_source_types")
    return tuple(dsa_types), MappingProxyType(dict(mapping))


def load_taxonomy(path: Path) -> Taxonomy:
    """Read and validate a taxonomy file; TaxonomyError says what is wrong."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise TaxonomyError(f"{path}: not valid JSON ({exc})") from exc
    if not isinstance(data, dict) or not isinstance(data.get("categories"), list):
        raise TaxonomyError(f"{path}: expected an object with a categories list")
    if not data["categories"]:
        raise TaxonomyError(f"{path}: no categories")
    parsed = tuple(_parse_category(entry, i) for i, entry in enumerate(data["categories"]))
    seen: set[str] = set()
    for item in parsed:
        if item.key in seen:
            raise TaxonomyError(f"duplicate category key {item.key!r}")
        seen.add(item.key)
    dsa_types, mapping = _parse_sources(data)
    return Taxonomy(categories=parsed, dsa_source_types=dsa_types, source_types=mapping)


@functools.cache
def _bundled() -> Taxonomy:
    # Read once per process; the file ships with the code and never changes at run time.
    return load_taxonomy(TAXONOMY_PATH)


def category(key: str) -> Category:
    """The category with this key; KeyError for an unknown key."""
    return _bundled().category(key)


def categories() -> tuple[Category, ...]:
    """All categories in report-form order."""
    return _bundled().categories


def queues() -> tuple[str, ...]:
    """The review queues a category can route to."""
    return QUEUES


def dsa_source_type(source: str) -> str:
    """The DSA Transparency Database source_type for a Vigil source; KeyError if unknown."""
    return _bundled().source_types[source]


def priority(
    *, severity: int, trusted_flagger: bool, distinct_reporters: int, age_hours: float
) -> int:
    """Queue priority, higher first: a whole number so SQL can ORDER BY it.

    priority = 100 * severity
             + 150 if the notice came from a trusted flagger (DSA Art. 22: their notices first)
             + 20 * min(3, floor(log2(1 + distinct_reporters)))   -> +20 at 1, +40 at 3, +60 at 7+
             + min(48, floor(age_hours))                          -> +1 per full hour waited

    Non-decreasing in every input and strictly increasing in severity and trusted_flagger.
    Reporter and age bonuses add at most 108, so they can lift a notice past one severity
    band but never past a trusted flagger's notice of the same severity (150 > 108).
    Negative ages (clock skew) count as zero.
    """
    if not (_is_int(severity) and SEVERITY_MIN <= severity <= SEVERITY_MAX):
        raise ValueError("severity must be a whole number 1-5")
    if not _is_int(distinct_reporters) or distinct_reporters < 0:
        raise ValueError("distinct_reporters must be a whole number >= 0")
    # int.bit_length gives floor(log2) exactly, with no floating point to round differently.
    reporter_steps = min(REPORTER_STEPS_MAX, (distinct_reporters + 1).bit_length() - 1)
    if math.isnan(age_hours):
        raise ValueError("age_hours must be a number")
    age_bonus = int(min(max(age_hours, 0.0), AGE_BONUS_MAX_HOURS))
    return (
        SEVERITY_WEIGHT * severity
        + (TRUSTED_FLAGGER_BONUS if trusted_flagger else 0)
        + REPORTER_STEP * reporter_steps
        + age_bonus
    )
