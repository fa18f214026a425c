"""The report taxonomy: file validation, DSA mapping, routing, and queue priority."""

from __future__ import annotations

import copy
import itertools
import json
from pathlib import Path

import pytest

from moderation.intake import taxonomy
from moderation.intake.taxonomy import TaxonomyError, load_taxonomy

# The DSA Transparency Database statement-of-reasons schema v2 (in force 1 July 2025), copied
# from the Commission's own documentation in github.com/digital-services-act/transparency-database:
# resources/markdown/api-documentation-two.md (category and category_specification values) and
# resources/markdown/additional-explanation-for-statement-attributes.md (which keyword belongs
# to which category). KEYWORD_OTHER is allowed under every category.
DSA_KEYWORDS_BY_CATEGORY: dict[str, frozenset[str]] = {
    "STATEMENT_CATEGORY_ANIMAL_WELFARE": frozenset(
        {"KEYWORD_ANIMAL_HARM", "KEYWORD_UNLAWFUL_SALE_ANIMALS"}
    ),
    "STATEMENT_CATEGORY_CONSUMER_INFORMATION": frozenset(
        {
            "KEYWORD_HIDDEN_ADVERTISEMENT",
            "KEYWORD_INSUFFICIENT_INFORMATION_ON_TRADERS",
            "KEYWORD_MISLEADING_INFO_GOODS_SERVICES",
            "KEYWORD_MISLEADING_INFO_CONSUMER_RIGHTS",
            "KEYWORD_NONCOMPLIANCE_PRICING",
        }
    ),
    "STATEMENT_CATEGORY_CYBER_VIOLENCE": frozenset(
        {
            "KEYWORD_CYBER_BULLYING_INTIMIDATION",
            "KEYWORD_CYBER_HARASSMENT",
            "KEYWORD_CYBER_INCITEMENT",
            "KEYWORD_CYBER_STALKING",
            "KEYWORD_NON_CONSENSUAL_IMAGE_SHARING",
            "KEYWORD_NON_CONSENSUAL_MATERIAL_DEEPFAKE",
        }
    ),
    "STATEMENT_CATEGORY_CYBER_VIOLENCE_AGAINST_WOMEN": frozenset(
        {
            "KEYWORD_BULLYING_AGAINST_GIRLS",
            "KEYWORD_CYBER_HARASSMENT_AGAINST_WOMEN",
            "KEYWORD_CYBER_STALKING_AGAINST_WOMEN",
            "KEYWORD_FEMALE_GENDERED_DISINFORMATION",
            "KEYWORD_INCITEMENT_AGAINST_WOMEN",
            "KEYWORD_NON_CONSENSUAL_IMAGE_SHARING_AGAINST_WOMEN",
            "KEYWORD_NON_CONSENSUAL_MATERIAL_DEEPFAKE_AGAINST_WOMEN",
        }
    ),
    "STATEMENT_CATEGORY_DATA_PROTECTION_AND_PRIVACY_VIOLATIONS": frozenset(
        {
            "KEYWORD_BIOMETRIC_DATA_BREACH",
            "KEYWORD_DATA_FALSIFICATION",
            "KEYWORD_MISSING_PROCESSING_GROUND",
            "KEYWORD_RIGHT_TO_BE_FORGOTTEN",
        }
    ),
    "STATEMENT_CATEGORY_ILLEGAL_OR_HARMFUL_SPEECH": frozenset(
        {"KEYWORD_DEFAMATION", "KEYWORD_DISCRIMINATION", "KEYWORD_HATE_SPEECH"}
    ),
    "STATEMENT_CATEGORY_INTELLECTUAL_PROPERTY_INFRINGEMENTS": frozenset(
        {
            "KEYWORD_COPYRIGHT_INFRINGEMENT",
            "KEYWORD_DESIGN_INFRINGEMENT",
            "KEYWORD_GEOGRAPHIC_INDICATIONS_INFRINGEMENT",
            "KEYWORD_PATENT_INFRINGEMENT",
            "KEYWORD_TRADE_SECRET_INFRINGEMENT",
            "KEYWORD_TRADEMARK_INFRINGEMENT",
        }
    ),
    "STATEMENT_CATEGORY_NEGATIVE_EFFECTS_ON_CIVIC_DISCOURSE_OR_ELECTIONS": frozenset(
        {
            "KEYWORD_MISINFORMATION_DISINFORMATION",
            "KEYWORD_VIOLATION_EU_LAW",
            "KEYWORD_VIOLATION_NATIONAL_LAW",
        }
    ),
    "STATEMENT_CATEGORY_NOT_SPECIFIED_NOTICE": frozenset(),
    "STATEMENT_CATEGORY_OTHER_VIOLATION_TC": frozenset(
        {
            "KEYWORD_ADULT_SEXUAL_MATERIAL",
            "KEYWORD_AGE_SPECIFIC_RESTRICTIONS",
            "KEYWORD_GEOGRAPHICAL_REQUIREMENTS",
            "KEYWORD_GOODS_SERVICES_NOT_PERMITTED",
            "KEYWORD_LANGUAGE_REQUIREMENTS",
            "KEYWORD_NUDITY",
        }
    ),
    "STATEMENT_CATEGORY_PROTECTION_OF_MINORS": frozenset(
        {
            "KEYWORD_AGE_SPECIFIC_RESTRICTIONS_MINORS",
            "KEYWORD_CHILD_SEXUAL_ABUSE_MATERIAL",
            "KEYWORD_CHILD_SEXUAL_ABUSE_MATERIAL_DEEPFAKE",
            "KEYWORD_GROOMING_SEXUAL_ENTICEMENT_MINORS",
            "KEYWORD_UNSAFE_CHALLENGES",
        }
    ),
    "STATEMENT_CATEGORY_RISK_FOR_PUBLIC_SECURITY": frozenset(
        {
            "KEYWORD_ILLEGAL_ORGANIZATIONS",
            "KEYWORD_RISK_ENVIRONMENTAL_DAMAGE",
            "KEYWORD_RISK_PUBLIC_HEALTH",
            "KEYWORD_TERRORIST_CONTENT",
        }
    ),
    "STATEMENT_CATEGORY_SCAMS_AND_FRAUD": frozenset(
        {
            "KEYWORD_IMPERSONATION_ACCOUNT_HIJACKING",
            "KEYWORD_INAUTHENTIC_ACCOUNTS",
            "KEYWORD_INAUTHENTIC_LISTINGS",
            "KEYWORD_INAUTHENTIC_USER_REVIEWS",
            "KEYWORD_PHISHING",
            "KEYWORD_PYRAMID_SCHEMES",
        }
    ),
    "STATEMENT_CATEGORY_SELF_HARM": frozenset(
        {"KEYWORD_CONTENT_PROMOTING_EATING_DISORDERS", "KEYWORD_SELF_MUTILATION", "KEYWORD_SUICIDE"}
    ),
    "STATEMENT_CATEGORY_UNSAFE_AND_PROHIBITED_PRODUCTS": frozenset(
        {"KEYWORD_PROHIBITED_PRODUCTS", "KEYWORD_UNSAFE_PRODUCTS"}
    ),
    "STATEMENT_CATEGORY_VIOLENCE": frozenset(
        {
            "KEYWORD_COORDINATED_HARM",
            "KEYWORD_INCITEMENT_VIOLENCE_HATRED",
            "KEYWORD_HUMAN_EXPLOITATION",
            "KEYWORD_HUMAN_TRAFFICKING",
            "KEYWORD_TRAFFICKING_WOMEN_GIRLS",
        }
    ),
}
# app/Models/Statement.php SOURCE_TYPES in the same repository.
DSA_SOURCE_TYPES = frozenset(
    {
        "SOURCE_ARTICLE_16",
        "SOURCE_TRUSTED_FLAGGER",
        "SOURCE_TYPE_OTHER_NOTIFICATION",
        "SOURCE_VOLUNTARY",
    }
)
CHILD_SAFETY_KEYWORDS = frozenset(
    {
        "KEYWORD_CHILD_SEXUAL_ABUSE_MATERIAL",
        "KEYWORD_CHILD_SEXUAL_ABUSE_MATERIAL_DEEPFAKE",
        "KEYWORD_GROOMING_SEXUAL_ENTICEMENT_MINORS",
    }
)


def bundled_data() -> dict:
    return json.loads(taxonomy.TAXONOMY_PATH.read_text(encoding="utf-8"))


def write(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "taxonomy.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


# --- the bundled file -------------------------------------------------------------------


def test_bundled_file_loads_and_lists_the_expected_categories() -> None:
    keys = {c.key for c in taxonomy.categories()}
    assert keys == {
        "child_sexual_abuse",
        "terrorist_content",
        "illegal_hate_speech",
        "violent_threat",
        "self_harm_promotion",
        "non_consensual_intimate_imagery",
        "scam_fraud",
        "illegal_goods",
        "ip_infringement",
        "privacy_violation",
        "harassment",
        "other_illegal",
    }
    assert load_taxonomy(taxonomy.TAXONOMY_PATH).categories == taxonomy.categories()


def test_category_lookup_and_unknown_key() -> None:
    csam = taxonomy.category("child_sexual_abuse")
    assert csam.dsa_category == "STATEMENT_CATEGORY_PROTECTION_OF_MINORS"
    with pytest.raises(KeyError):
        taxonomy.category("no_such_category")


def test_categories_are_frozen() -> None:
    with pytest.raises(AttributeError):
        taxonomy.category("harassment").severity = 5  # type: ignore[misc]


def test_every_category_maps_to_a_confirmed_dsa_value() -> None:
    for item in taxonomy.categories():
        assert item.dsa_category in DSA_KEYWORDS_BY_CATEGORY, item.key
        allowed = DSA_KEYWORDS_BY_CATEGORY[item.dsa_category] | {"KEYWORD_OTHER"}
        assert set(item.dsa_category_specification) <= allowed, item.key
        assert len(set(item.dsa_category_specification)) == len(item.dsa_category_specification)


def test_source_types_map_to_confirmed_dsa_values() -> None:
    data = bundled_data()
    assert set(data["dsa_source_types"]) == DSA_SOURCE_TYPES
    assert taxonomy.dsa_source_type("user_notice") == "SOURCE_ARTICLE_16"
    assert taxonomy.dsa_source_type("trusted_flagger") == "SOURCE_TRUSTED_FLAGGER"
    # The provider's own detectors, automated or not, are its own voluntary initiative.
    assert taxonomy.dsa_source_type("automated_detection") == "SOURCE_VOLUNTARY"
    assert taxonomy.dsa_source_type("own_initiative") == "SOURCE_VOLUNTARY"
    with pytest.raises(KeyError):
        taxonomy.dsa_source_type("carrier_pigeon")


def test_child_safety_goes_to_the_child_safety_queue_only() -> None:
    for item in taxonomy.categories():
        is_child_abuse = bool(CHILD_SAFETY_KEYWORDS & set(item.dsa_category_specification))
        assert (item.queue == "child_safety") == is_child_abuse, item.key
    routed = [c.key for c in taxonomy.categories() if c.queue == "child_safety"]
    assert routed == ["child_sexual_abuse"]


def test_contact_is_optional_only_for_child_sexual_abuse() -> None:
    optional = [c.key for c in taxonomy.categories() if c.contact_optional]
    assert optional == ["child_sexual_abuse"]


def test_sla_minutes() -> None:
    for item in taxonomy.categories():
        urgent = item.key in {"child_sexual_abuse", "terrorist_content"}
        assert item.sla_minutes == (60 if urgent else 1440), item.key


def test_queues() -> None:
    assert taxonomy.queues() == ("child_safety", "general")
    assert {c.queue for c in taxonomy.categories()} <= set(taxonomy.queues())


def test_form_text_is_present() -> None:
    for item in taxonomy.categories():
        assert item.label.strip() and item.description.strip()
        assert 1 <= item.severity <= 5


# --- validation of bad files ------------------------------------------------------------


def mutate(change) -> dict:
    data = copy.deepcopy(bundled_data())
    change(data)
    return data


def test_a_valid_copy_loads(tmp_path: Path) -> None:
    assert len(load_taxonomy(write(tmp_path, bundled_data())).categories) == 12


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["categories"].append(dict(d["categories"][0])), "duplicate"),
        (lambda d: d["categories"][1].update(queue="urgent"), "unknown queue"),
        (lambda d: d["categories"][1].update(severity=0), "severity"),
        (lambda d: d["categories"][1].update(severity=6), "severity"),
        (lambda d: d["categories"][1].update(severity="3"), "severity"),
        (lambda d: d["categories"][1].update(severity=True), "severity"),
        (lambda d: d["categories"][1].update(sla_minutes=0), "sla_minutes"),
        (lambda d: d["categories"][1].pop("label"), "missing label"),
        (lambda d: d["categories"][1].pop("dsa"), "missing dsa"),
        (lambda d: d["categories"][1].update(description="  "), "description"),
        (lambda d: d["categories"][1].update(key="Bad Key"), "lower_snake_case"),
        (lambda d: d["categories"][1]["dsa"].update(category="HATE"), "DSA statement category"),
        (lambda d: d["categories"][1]["dsa"].update(category_specification=["X"]), "KEYWORD_"),
        (lambda d: d["categories"][1].update(contact_optional="yes"), "contact_optional"),
        (lambda d: d["categories"][1].update(contact_optional=True), "child_safety queue"),
        (lambda d: d.update(categories=[]), "no categories"),
        (lambda d: d.pop("categories"), "categories list"),
        (lambda d: d["source_types"].pop("own_initiative"), "source_types"),
        (lambda d: d["source_types"].update(user_notice="SOURCE_EMAIL"), "dsa_source_types"),
        (lambda d: d.update(dsa_source_types=["ARTICLE_16"]), "SOURCE_"),
    ],
)
def test_validation_rejects_bad_files(tmp_path: Path, change, message: str) -> None:
    with pytest.raises(TaxonomyError, match=message):
        load_taxonomy(write(tmp_path, mutate(change)))


def test_validation_rejects_invalid_json(tmp_path: Path) -> None:
    path = tmp_path / "taxonomy.json"
    path.write_text('{"categories": [', encoding="utf-8")
    with pytest.raises(TaxonomyError, match="not valid JSON"):
        load_taxonomy(path)


# --- priority ---------------------------------------------------------------------------

SEVERITIES = range(1, 6)
FLAGS = (False, True)
REPORTERS = (0, 1, 2, 3, 4, 7, 8, 50, 10_000)
AGES = (-1.0, 0.0, 0.5, 1.0, 12.0, 47.9, 48.0, 500.0, float("inf"))


def grid():
    return itertools.product(SEVERITIES, FLAGS, REPORTERS, AGES)


def prio(severity: int, flagged: bool, reporters: int, age: float) -> int:
    return taxonomy.priority(
        severity=severity, trusted_flagger=flagged, distinct_reporters=reporters, age_hours=age
    )


def test_priority_is_an_integer_following_the_documented_formula() -> None:
    assert prio(3, False, 0, 0.0) == 300
    assert prio(3, True, 0, 0.0) == 450
    assert prio(3, False, 1, 0.0) == 320
    assert prio(3, False, 3, 0.0) == 340
    assert prio(3, False, 7, 0.0) == 360
    assert prio(3, False, 10_000, 0.0) == 360
    assert prio(3, False, 0, 5.9) == 305
    assert prio(3, False, 0, 1_000.0) == 348
    assert all(isinstance(prio(*point), int) for point in grid())


def test_priority_is_monotone_in_each_input() -> None:
    for sev, flag, rep, age in grid():
        here = prio(sev, flag, rep, age)
        if sev < 5:
            assert prio(sev + 1, flag, rep, age) > here
        if not flag:
            assert prio(sev, True, rep, age) > here
        for more in (r for r in REPORTERS if r > rep):
            assert prio(sev, flag, more, age) >= here
        for older in (a for a in AGES if a > age):
            assert prio(sev, flag, rep, older) >= here


def test_trusted_flaggers_outrank_ordinary_notices_of_the_same_severity() -> None:
    for sev in SEVERITIES:
        weakest_flagged = min(prio(sev, True, r, a) for r in REPORTERS for a in AGES)
        strongest_ordinary = max(prio(sev, False, r, a) for r in REPORTERS for a in AGES)
        assert weakest_flagged > strongest_ordinary


def test_priority_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        prio(0, False, 0, 0.0)
    with pytest.raises(ValueError):
        prio(6, False, 0, 0.0)
    with pytest.raises(ValueError):
        prio(3, False, -1, 0.0)
    with pytest.raises(ValueError):
        prio(3, False, 0, float("nan"))
