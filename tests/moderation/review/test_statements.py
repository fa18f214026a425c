"""Statements of reasons pass a validator written here from the DSA Transparency Database's
published field rules (required fields, allowed values, conditional rules, length limits,
date formats), independently of the code that builds them."""

from __future__ import annotations

import json
import re
from datetime import date, timedelta

import pytest

from tests.factories import make_case, make_token
from tests.helpers import Api, claim_next, decision_form, post_form, report_body

# --- the published rules (transparency.dsa.ec.europa.eu API documentation) ----------------
VISIBILITY = {
    "DECISION_VISIBILITY_CONTENT_REMOVED",
    "DECISION_VISIBILITY_CONTENT_DISABLED",
    "DECISION_VISIBILITY_CONTENT_DEMOTED",
    "DECISION_VISIBILITY_CONTENT_AGE_RESTRICTED",
    "DECISION_VISIBILITY_CONTENT_INTERACTION_RESTRICTED",
    "DECISION_VISIBILITY_CONTENT_LABELLED",
    "DECISION_VISIBILITY_OTHER",
}
MONETARY = {
    "DECISION_MONETARY_SUSPENSION",
    "DECISION_MONETARY_TERMINATION",
    "DECISION_MONETARY_OTHER",
}
PROVISION = {
    "DECISION_PROVISION_PARTIAL_SUSPENSION",
    "DECISION_PROVISION_TOTAL_SUSPENSION",
    "DECISION_PROVISION_PARTIAL_TERMINATION",
    "DECISION_PROVISION_TOTAL_TERMINATION",
}
ACCOUNT = {"DECISION_ACCOUNT_SUSPENDED", "DECISION_ACCOUNT_TERMINATED"}
GROUNDS = {"DECISION_GROUND_ILLEGAL_CONTENT", "DECISION_GROUND_INCOMPATIBLE_CONTENT"}
CONTENT_TYPES = {
    "CONTENT_TYPE_APP",
    "CONTENT_TYPE_AUDIO",
    "CONTENT_TYPE_IMAGE",
    "CONTENT_TYPE_PRODUCT",
    "CONTENT_TYPE_SYNTHETIC_MEDIA",
    "CONTENT_TYPE_TEXT",
    "CONTENT_TYPE_VIDEO",
    "CONTENT_TYPE_OTHER",
}
SOURCES = {
    "SOURCE_ARTICLE_16",
    "SOURCE_TRUSTED_FLAGGER",
    "SOURCE_TYPE_OTHER_NOTIFICATION",
    "SOURCE_VOLUNTARY",
}
AUTOMATED = {
    "AUTOMATED_DECISION_FULLY",
    "AUTOMATED_DECISION_PARTIALLY",
    "AUTOMATED_DECISION_NOT_AUTOMATED",
}
CATEGORIES = {
    "STATEMENT_CATEGORY_ANIMAL_WELFARE",
    "STATEMENT_CATEGORY_CONSUMER_INFORMATION",
    "STATEMENT_CATEGORY_CYBER_VIOLENCE",
    "STATEMENT_CATEGORY_CYBER_VIOLENCE_AGAINST_WOMEN",
    "STATEMENT_CATEGORY_DATA_PROTECTION_AND_PRIVACY_VIOLATIONS",
    "STATEMENT_CATEGORY_ILLEGAL_OR_HARMFUL_SPEECH",
    "STATEMENT_CATEGORY_INTELLECTUAL_PROPERTY_INFRINGEMENTS",
    "STATEMENT_CATEGORY_NEGATIVE_EFFECTS_ON_CIVIC_DISCOURSE_OR_ELECTIONS",
    "STATEMENT_CATEGORY_NOT_SPECIFIED_NOTICE",
    "STATEMENT_CATEGORY_OTHER_VIOLATION_TC",
    "STATEMENT_CATEGORY_PROTECTION_OF_MINORS",
    "STATEMENT_CATEGORY_RISK_FOR_PUBLIC_SECURITY",
    "STATEMENT_CATEGORY_SCAMS_AND_FRAUD",
    "STATEMENT_CATEGORY_SELF_HARM",
    "STATEMENT_CATEGORY_UNSAFE_AND_PROHIBITED_PRODUCTS",
    "STATEMENT_CATEGORY_VIOLENCE",
}
KEYWORDS = {
    "KEYWORD_ADULT_SEXUAL_MATERIAL",
    "KEYWORD_AGE_SPECIFIC_RESTRICTIONS",
    "KEYWORD_AGE_SPECIFIC_RESTRICTIONS_MINORS",
    "KEYWORD_ANIMAL_HARM",
    "KEYWORD_BIOMETRIC_DATA_BREACH",
    "KEYWORD_BULLYING_AGAINST_GIRLS",
    "KEYWORD_CHILD_SEXUAL_ABUSE_MATERIAL",
    "KEYWORD_CHILD_SEXUAL_ABUSE_MATERIAL_DEEPFAKE",
    "KEYWORD_CONTENT_PROMOTING_EATING_DISORDERS",
    "KEYWORD_COORDINATED_HARM",
    "KEYWORD_COPYRIGHT_INFRINGEMENT",
    "KEYWORD_CYBER_BULLYING_INTIMIDATION",
    "KEYWORD_CYBER_HARASSMENT",
    "KEYWORD_CYBER_HARASSMENT_AGAINST_WOMEN",
    "KEYWORD_CYBER_INCITEMENT",
    "KEYWORD_CYBER_STALKING",
    "KEYWORD_CYBER_STALKING_AGAINST_WOMEN",
    "KEYWORD_DANGEROUS_TOYS",
    "KEYWORD_DATA_FALSIFICATION",
    "KEYWORD_DEFAMATION",
    "KEYWORD_DESIGN_INFRINGEMENT",
    "KEYWORD_DISCRIMINATION",
    "KEYWORD_DISINFORMATION",
    "KEYWORD_FEMALE_GENDERED_DISINFORMATION",
    "KEYWORD_FOREIGN_INFORMATION_MANIPULATION",
    "KEYWORD_GENDER_BASED_VIOLENCE",
    "KEYWORD_GEOGRAPHICAL_REQUIREMENTS",
    "KEYWORD_GEOGRAPHIC_INDICATIONS_INFRINGEMENT",
    "KEYWORD_GOODS_SERVICES_NOT_PERMITTED",
    "KEYWORD_GROOMING_SEXUAL_ENTICEMENT_MINORS",
    "KEYWORD_HATE_SPEECH",
    "KEYWORD_HIDDEN_ADVERTISEMENT",
    "KEYWORD_HUMAN_EXPLOITATION",
    "KEYWORD_HUMAN_TRAFFICKING",
    "KEYWORD_ILLEGAL_ORGANIZATIONS",
    "KEYWORD_IMAGE_BASED_SEXUAL_ABUSE",
    "KEYWORD_IMPERSONATION_ACCOUNT_HIJACKING",
    "KEYWORD_INAUTHENTIC_ACCOUNTS",
    "KEYWORD_INAUTHENTIC_LISTINGS",
    "KEYWORD_INAUTHENTIC_USER_REVIEWS",
    "KEYWORD_INCITEMENT_AGAINST_WOMEN",
    "KEYWORD_INCITEMENT_VIOLENCE_HATRED",
    "KEYWORD_INSUFFICIENT_INFORMATION_ON_TRADERS",
    "KEYWORD_INSUFFICIENT_INFORMATION_TRADERS",
    "KEYWORD_LANGUAGE_REQUIREMENTS",
    "KEYWORD_MISINFORMATION",
    "KEYWORD_MISINFORMATION_DISINFORMATION",
    "KEYWORD_MISLEADING_INFO_CONSUMER_RIGHTS",
    "KEYWORD_MISLEADING_INFO_GOODS_SERVICES",
    "KEYWORD_MISSING_PROCESSING_GROUND",
    "KEYWORD_NONCOMPLIANCE_PRICING",
    "KEYWORD_NON_CONSENSUAL_IMAGE_SHARING",
    "KEYWORD_NON_CONSENSUAL_IMAGE_SHARING_AGAINST_WOMEN",
    "KEYWORD_NON_CONSENSUAL_ITEMS_DEEPFAKE",
    "KEYWORD_NON_CONSENSUAL_MATERIAL_DEEPFAKE",
    "KEYWORD_NON_CONSENSUAL_MATERIAL_DEEPFAKE_AGAINST_WOMEN",
    "KEYWORD_NUDITY",
    "KEYWORD_ONLINE_BULLYING_INTIMIDATION",
    "KEYWORD_OTHER",
    "KEYWORD_PATENT_INFRINGEMENT",
    "KEYWORD_PHISHING",
    "KEYWORD_PROHIBITED_PRODUCTS",
    "KEYWORD_PYRAMID_SCHEMES",
    "KEYWORD_REGULATED_GOODS_SERVICES",
    "KEYWORD_RIGHT_TO_BE_FORGOTTEN",
    "KEYWORD_RISK_ENVIRONMENTAL_DAMAGE",
    "KEYWORD_RISK_PUBLIC_HEALTH",
    "KEYWORD_SELF_MUTILATION",
    "KEYWORD_STALKING",
    "KEYWORD_SUICIDE",
    "KEYWORD_TERRORIST_CONTENT",
    "KEYWORD_TRADEMARK_INFRINGEMENT",
    "KEYWORD_TRADE_SECRET_INFRINGEMENT",
    "KEYWORD_TRAFFICKING_WOMEN_GIRLS",
    "KEYWORD_UNLAWFUL_SALE_ANIMALS",
    "KEYWORD_UNSAFE_CHALLENGES",
    "KEYWORD_UNSAFE_PRODUCTS",
    "KEYWORD_VIOLATION_EU_LAW",
    "KEYWORD_VIOLATION_NATIONAL_LAW",
}
COUNTRIES = {
    "AT",
    "BE",
    "BG",
    "CY",
    "CZ",
    "DE",
    "DK",
    "EE",
    "ES",
    "FI",
    "FR",
    "GR",
    "HR",
    "HU",
    "IE",
    "IS",
    "IT",
    "LI",
    "LT",
    "LU",
    "LV",
    "MT",
    "NL",
    "NO",
    "PL",
    "PT",
    "RO",
    "SE",
    "SI",
    "SK",
}
# content_language: ISO 639-1 upper case; two letters is the shape, the list lives in the code.
LANGUAGE = re.compile(r"^[A-Z]{2}$")
PUID = re.compile(r"^[a-zA-Z0-9_-]+$")
KNOWN_FIELDS = {
    "decision_visibility",
    "decision_visibility_other",
    "decision_monetary",
    "decision_monetary_other",
    "decision_provision",
    "decision_account",
    "account_type",
    "decision_ground",
    "decision_ground_reference_url",
    "illegal_content_legal_ground",
    "illegal_content_explanation",
    "incompatible_content_ground",
    "incompatible_content_explanation",
    "incompatible_content_illegal",
    "category",
    "category_addition",
    "category_specification",
    "category_specification_other",
    "content_type",
    "content_type_other",
    "content_date",
    "content_language",
    "content_id",
    "application_date",
    "end_date_visibility_restriction",
    "end_date_monetary_restriction",
    "end_date_service_restriction",
    "end_date_account_restriction",
    "territorial_scope",
    "source_type",
    "source_identity",
    "automated_detection",
    "automated_decision",
    "decision_facts",
    "puid",
}


def _date(value, *, low="2000-01-01", high="2038-01-01") -> list[str]:
    if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        return [f"{value!r} is not YYYY-MM-DD"]
    try:
        parsed = date.fromisoformat(value)
    except ValueError:
        return [f"{value!r} is not a calendar date"]
    if not date.fromisoformat(low) <= parsed <= date.fromisoformat(high):
        return [f"{value} outside {low}..{high}"]
    return []


def _text(statement, field, limit, required) -> list[str]:
    value = statement.get(field)
    if value is None:
        return [f"{field} is required"] if required else []
    if not isinstance(value, str) or not value.strip():
        return [f"{field} must be a non-blank string"]
    return [f"{field} longer than {limit}"] if len(value) > limit else []


def validate(statement: dict) -> list[str]:
    """Every rule of the statement API; [] when the statement would be accepted."""
    errors = [f"unknown field {k}" for k in statement if k not in KNOWN_FIELDS]
    errors += [f"{k} is null (omit it instead)" for k, v in statement.items() if v is None]
    restrictions = (
        "decision_visibility",
        "decision_monetary",
        "decision_provision",
        "decision_account",
    )
    if not any(statement.get(k) for k in restrictions):
        errors.append("at least one decision_* restriction is required")
    visibility = statement.get("decision_visibility")
    if visibility is not None:
        if not isinstance(visibility, list) or not set(visibility) <= VISIBILITY:
            errors.append("decision_visibility must be a list of DECISION_VISIBILITY_* keys")
        elif "DECISION_VISIBILITY_OTHER" in visibility:
            errors += _text(statement, "decision_visibility_other", 500, True)
    for field, allowed in (
        ("decision_monetary", MONETARY),
        ("decision_provision", PROVISION),
        ("decision_account", ACCOUNT),
    ):
        if field in statement and statement[field] not in allowed:
            errors.append(f"{field} {statement[field]!r} not allowed")
    if statement.get("decision_monetary") == "DECISION_MONETARY_OTHER":
        errors += _text(statement, "decision_monetary_other", 500, True)
    ground = statement.get("decision_ground")
    if ground not in GROUNDS:
        errors.append("decision_ground is required and must be a DECISION_GROUND_* key")
    if ground == "DECISION_GROUND_ILLEGAL_CONTENT":
        errors += _text(statement, "illegal_content_legal_ground", 500, True)
        errors += _text(statement, "illegal_content_explanation", 2000, True)
    if ground == "DECISION_GROUND_INCOMPATIBLE_CONTENT":
        errors += _text(statement, "incompatible_content_ground", 500, True)
        errors += _text(statement, "incompatible_content_explanation", 2000, True)
        if statement.get("incompatible_content_illegal", "No") not in ("Yes", "No"):
            errors.append("incompatible_content_illegal must be Yes or No")
    if statement.get("category") not in CATEGORIES:
        errors.append(f"category {statement.get('category')!r} not allowed")
    addition = statement.get("category_addition", [])
    if not isinstance(addition, list) or not set(addition) <= CATEGORIES:
        errors.append("category_addition must list STATEMENT_CATEGORY_* keys")
    keywords = statement.get("category_specification", [])
    if not isinstance(keywords, list) or not set(keywords) <= KEYWORDS:
        errors.append(f"category_specification {keywords!r} not allowed")
    types = statement.get("content_type")
    if not isinstance(types, list) or not types or not set(types) <= CONTENT_TYPES:
        errors.append("content_type must be a non-empty list of CONTENT_TYPE_* keys")
    elif "CONTENT_TYPE_OTHER" in types:
        errors += _text(statement, "content_type_other", 500, True)
    errors += _date(statement.get("content_date"))
    errors += _date(statement.get("application_date"), low="2020-01-01")
    for field in (
        "end_date_visibility_restriction",
        "end_date_monetary_restriction",
        "end_date_service_restriction",
        "end_date_account_restriction",
    ):
        if field in statement:
            errors += _date(statement[field], low="2020-01-01")
            if statement[field] < statement.get("application_date", ""):
                errors.append(f"{field} before application_date")
    scope = statement.get("territorial_scope", [])
    if not isinstance(scope, list) or not set(scope) <= COUNTRIES:
        errors.append("territorial_scope must list EU/EEA country codes (Greece = GR)")
    if "content_language" in statement and not LANGUAGE.fullmatch(statement["content_language"]):
        errors.append("content_language must be an upper-case ISO 639-1 code")
    if statement.get("source_type") not in SOURCES:
        errors.append("source_type must be a SOURCE_* key")
    if statement.get("automated_detection") not in ("Yes", "No"):
        errors.append("automated_detection must be Yes or No")
    if statement.get("automated_decision") not in AUTOMATED:
        errors.append("automated_decision must be an AUTOMATED_DECISION_* key")
    errors += _text(statement, "decision_facts", 5000, True)
    puid = statement.get("puid")
    if not isinstance(puid, str) or not PUID.fullmatch(puid) or len(puid) > 500:
        errors.append("puid must be 1-500 characters of [a-zA-Z0-9_-]")
    return errors


# --- the validator itself can fail --------------------------------------------------------
GOOD = {
    "decision_visibility": ["DECISION_VISIBILITY_CONTENT_REMOVED"],
    "decision_ground": "DECISION_GROUND_ILLEGAL_CONTENT",
    "illegal_content_legal_ground": "a law",
    "illegal_content_explanation": "why",
    "category": "STATEMENT_CATEGORY_SCAMS_AND_FRAUD",
    "content_type": ["CONTENT_TYPE_TEXT"],
    "content_date": "2026-01-05",
    "application_date": "2026-01-06",
    "source_type": "SOURCE_ARTICLE_16",
    "automated_detection": "No",
    "automated_decision": "AUTOMATED_DECISION_NOT_AUTOMATED",
    "decision_facts": "facts",
    "puid": "vigil-1",
}


@pytest.mark.parametrize(
    "change",
    [
        {"decision_visibility": None},
        {"decision_visibility": "DECISION_VISIBILITY_CONTENT_REMOVED"},
        {"decision_ground": "ILLEGAL"},
        {"illegal_content_legal_ground": ""},
        {"illegal_content_explanation": "x" * 2001},
        {"category": "STATEMENT_CATEGORY_PORNOGRAPHY_OR_SEXUALIZED_CONTENT"},
        {"content_type": []},
        {"content_date": "2026-1-5"},
        {"application_date": "2026-02-30"},
        {"territorial_scope": ["EL"]},
        {"content_language": "en"},
        {"automated_detection": True},
        {"decision_facts": "x" * 5001},
        {"puid": "vigil 1"},
        {"illegal": "field"},
    ],
)
def test_the_validator_rejects_what_the_database_rejects(change):
    assert validate(GOOD) == []
    bad = {**GOOD, **change}
    bad = {k: v for k, v in bad.items() if not (k == "decision_visibility" and v is None)}
    assert validate(bad) != [], change


# --- Vigil's statements -------------------------------------------------------------------
def _decide(app, client, factory, **form):
    make_case(app)
    factory.login_as(client, "reviewer:general")
    case_id, token = claim_next(client)
    response = post_form(
        client,
        f"/review/cases/{case_id}/decision",
        decision_form(token, **form),
        token_from=f"/review/cases/{case_id}",
    )
    return case_id, response


def _export(app, since="2020-01-01") -> list[dict]:
    result = app.test_cli_runner().invoke(
        args=["moderation", "export-statements", "--since", since]
    )
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.output.splitlines() if line.strip()]


@pytest.mark.parametrize(
    "form",
    [
        {},
        {"outcome": "disable_share_links"},
        {
            "outcome": "restrict",
            "restricted_until": (date.today() + timedelta(days=30)).isoformat(),
        },
        {
            "ground": "incompatible",
            "terms_ground": "Terms 4.2: no impersonation",
            "legal_ground": "",
        },
        {"automated_detection": "yes", "automated_decision": "partially"},
    ],
    ids=["removed", "links-disabled", "account-restricted", "against-terms", "automated"],
)
def test_every_exported_statement_passes_the_published_rules(app, client, factory, form):
    _, response = _decide(app, client, factory, **form)
    assert response.status_code == 302, response.get_data(as_text=True)[:300]
    [statement] = _export(app)
    assert validate(statement) == [], statement
    assert statement["decision_facts"].startswith("Two reporters flagged")


def test_no_action_produces_no_statement_and_since_filters(app, client, factory, tmp_path):
    _, response = _decide(
        app, client, factory, ground="no_violation", outcome="no_action", confirm=""
    )
    assert response.status_code == 302
    assert _export(app) == []
    out = tmp_path / "statements.jsonl"
    result = app.test_cli_runner().invoke(
        args=["moderation", "export-statements", "--since", "2020-01-01", "--out", str(out)]
    )
    assert result.exit_code == 0 and out.read_text() == ""
    bad = app.test_cli_runner().invoke(args=["moderation", "export-statements", "--since", "May"])
    assert bad.exit_code != 0


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"facts": ""}, "facts and circumstances"),
        ({"confirm": ""}, "tick the confirmation"),
        ({"legal_ground": ""}, "legal ground"),
        ({"outcome": "restrict"}, "end date"),
        ({"outcome": "restrict", "restricted_until": "next week"}, "YYYY-MM-DD"),
        ({"ground": "no_violation"}, "only be none"),
        ({"ground": ""}, "Choose a ground"),
        ({"facts": "x" * 5001}, "facts and circumstances"),
    ],
)
def test_a_decision_without_its_reasons_is_refused_and_nothing_changes(
    app, client, factory, db, form, message
):
    from moderation.intake.models import Case

    case_id, response = _decide(app, client, factory, **form)
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert db.get(Case, case_id).state == "open"
    assert _export(app) == []


def test_disabling_share_links_revokes_them(app, client, factory):
    from sqlmodel import Session, select

    from privacy.models import Conversation, ShareLink
    from privacy.sharing import create_link

    user = factory.make_user()
    api = Api(app.test_client(), make_token(app))
    body = report_body(conversation_id="conv-shared")
    assert api.post(body).status_code == 201
    engine = app.extensions["vigil.engine"]
    with Session(engine) as db:
        conversation = db.exec(select(Conversation)).one()
        conversation.owner_id = user.id
        from privacy.models import Message

        db.add(
            Message(
                conversation_id=conversation.id,
                position=0,
                external_id="m0",
                role="user",
                text="hello",
            )
        )
        db.flush()
        create_link(
            db, conversation=conversation, owner=user, show_name=False, expires_in_days=None
        )
        db.commit()
    factory.login_as(client, "reviewer:general")
    case_id, token = claim_next(client)
    response = post_form(
        client,
        f"/review/cases/{case_id}/decision",
        decision_form(token, outcome="disable_share_links"),
        token_from=f"/review/cases/{case_id}",
    )
    assert response.status_code == 302
    with Session(engine) as db:
        assert all(link.revoked_at is not None for link in db.exec(select(ShareLink)))


def test_seed_demo_leaves_at_least_five_valid_statements(app):
    result = app.test_cli_runner().invoke(args=["seed-demo"])
    assert result.exit_code == 0, result.output
    statements = _export(app)
    assert len(statements) >= 5
    for statement in statements:
        assert validate(statement) == [], statement
    assert len({s["puid"] for s in statements}) == len(statements)
    again = app.test_cli_runner().invoke(args=["seed-demo"])  # idempotent
    assert again.exit_code == 0 and len(_export(app)) == len(statements)
