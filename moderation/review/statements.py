"""Statements of reasons (DSA Art. 17) in the EU Transparency Database's own format.

Fields, values and limits follow the database's statement API (docs/dsa-statement-api.md):
a statement exists only for a decision that restricts something (visibility, account);
"no action" and a referral alone restrict nothing and produce none. Keys that do not apply
are left out rather than sent as null.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, time

from sqlmodel import Session, col, select

from core.config import setting
from moderation.intake import taxonomy
from moderation.intake.models import Case, Report
from moderation.review.models import Automation, CaseDecision, Ground, Outcome
from privacy.conversations import primary_language
from privacy.models import Conversation

# EU and EEA member states as the database spells them (Greece is GR).
EEA = tuple(
    " ".join(
        (
            "AT BE BG CY CZ DE DK EE ES FI FR GR HR HU IE",
            "IS IT LI LT LU LV MT NL NO PL PT RO SE SI SK",
        )
    ).split()
)
# ISO 639-1, upper case, as the database accepts them.
LANGUAGES = frozenset(
    " ".join(
        (
            "AA AB AE AF AK AM AN AR AS AV AY AZ BA BE BG BH BI BM BN BO",
            "BR BS CA CE CH CO CR CS CU CV CY DA DE DV DZ EE EL EN EO ES",
            "ET EU FA FF FI FJ FO FR FY GA GD GL GN GU GV HA HE HI HO HR",
            "HT HU HY HZ IA ID IE IG II IK IO IS IT IU JA JV KA KG KI KJ",
            "KK KL KM KN KO KR KS KU KV KW KY LA LB LG LI LN LO LT LU LV",
            "MG MH MI MK ML MN MR MS MT MY NA NB ND NE NG NL NN NO NR NV",
            "NY OC OJ OM OR OS PA PI PL PS PT QU RM RN RO RU RW SA SC SD",
            "SE SG SI SK SL SM SN SO SQ SR SS ST SU SV SW TA TE TG TH TI",
            "TK TL TN TO TR TS TT TW TY UG UK UR UZ VE VI VO WA WO XH YI",
            "YO ZA ZH ZU",
        )
    ).split()
)
VISIBILITY = {
    Outcome.REMOVE: "DECISION_VISIBILITY_CONTENT_REMOVED",
    Outcome.DISABLE_SHARE_LINKS: "DECISION_VISIBILITY_CONTENT_DISABLED",
}
AUTOMATED = {
    Automation.NOT_AUTOMATED: "AUTOMATED_DECISION_NOT_AUTOMATED",
    Automation.PARTIALLY: "AUTOMATED_DECISION_PARTIALLY",
    Automation.FULLY: "AUTOMATED_DECISION_FULLY",
}
EARLIEST_CONTENT_DATE = date(2000, 1, 1)


def puid(case: Case, decision: CaseDecision) -> str:
    """The platform's unique id of a statement: never reused ([A-Za-z0-9_-] only)."""
    return f"vigil-{case.ref}-d{decision.id}"


def visibility_of(decision: CaseDecision) -> str:
    """The DSA visibility restriction a decision applies ("" for none). A final illegal
    decision always disables the content's share links (quarantine)."""
    if decision.ground == Ground.NO_VIOLATION:
        return ""
    if decision.outcome in VISIBILITY:
        return VISIBILITY[decision.outcome]
    return "DECISION_VISIBILITY_CONTENT_DISABLED" if decision.ground == Ground.ILLEGAL else ""


def territorial_scope() -> list[str]:
    """VIGIL_STATEMENT_TERRITORIAL_SCOPE (comma-separated codes), else the whole EEA."""
    configured = [c.strip().upper() for c in setting("STATEMENT_TERRITORIAL_SCOPE").split(",")]
    chosen = [c for c in configured if c]
    return sorted(chosen) if chosen else list(EEA)


def _day(value: datetime | date) -> str:
    return value.strftime("%Y-%m-%d")


def statement_for(
    decision: CaseDecision, *, case: Case, conversation: Conversation, source: str
) -> dict | None:
    """The statement of reasons for a decision, or None when it restricts nothing."""
    visibility = visibility_of(decision)
    if not (visibility or decision.outcome == Outcome.RESTRICT) or not decision.final:
        return None
    labels = [taxonomy.category(key) for key in decision.labels.split(",") if key]
    main = labels[0] if labels else taxonomy.category(case.category)
    statement: dict = {
        "decision_ground": (
            "DECISION_GROUND_ILLEGAL_CONTENT"
            if decision.ground == Ground.ILLEGAL
            else "DECISION_GROUND_INCOMPATIBLE_CONTENT"
        ),
        "category": main.dsa_category,
        "content_type": ["CONTENT_TYPE_TEXT"],
        "content_date": _day(max(conversation.created_at.date(), EARLIEST_CONTENT_DATE)),
        "application_date": _day(decision.decided_at),
        "territorial_scope": territorial_scope(),
        "source_type": taxonomy.dsa_source_type(source),
        "automated_detection": "Yes" if decision.automated_detection else "No",
        "automated_decision": AUTOMATED[decision.automated_decision],
        "decision_facts": decision.facts[:5000],
        "puid": puid(case, decision),
    }
    if visibility:
        statement["decision_visibility"] = [visibility]
    if decision.outcome == Outcome.RESTRICT:
        statement["decision_account"] = "DECISION_ACCOUNT_SUSPENDED"
        statement["end_date_account_restriction"] = _day(decision.restricted_until)
    if decision.ground == Ground.ILLEGAL:
        statement["illegal_content_legal_ground"] = decision.legal_ground[:500]
        statement["illegal_content_explanation"] = decision.explanation[:2000]
    else:
        statement["incompatible_content_ground"] = decision.terms_ground[:500]
        statement["incompatible_content_explanation"] = decision.explanation[:2000]
        statement["incompatible_content_illegal"] = "No"
    additions = sorted({c.dsa_category for c in labels[1:]} - {main.dsa_category})
    if additions:
        statement["category_addition"] = additions
    keywords = sorted({k for c in labels or [main] for k in c.dsa_category_specification})
    if keywords:
        statement["category_specification"] = keywords
    language = primary_language(conversation.language).upper()
    if language in LANGUAGES:
        statement["content_language"] = language
    return statement


def statements_since(session: Session, since: date) -> Iterator[dict]:
    """Every statement of reasons for decisions taken on or after `since`, oldest first."""
    query = (
        select(CaseDecision, Case, Conversation)
        .join(Case, col(Case.id) == col(CaseDecision.case_id))
        .join(Conversation, col(Conversation.id) == col(Case.conversation_id))
        .where(col(CaseDecision.decided_at) >= datetime.combine(since, time.min, tzinfo=UTC))
        .where(col(CaseDecision.final))
        .order_by(col(CaseDecision.id))
    )
    for decision, case, conversation in session.exec(query):
        first = session.exec(
            select(Report.source_type).where(Report.case_id == case.id).order_by(col(Report.id))
        ).first()
        statement = statement_for(
            decision, case=case, conversation=conversation, source=first or "own_initiative"
        )
        if statement is not None:
            yield statement


def dumps(statement: dict) -> str:
    return json.dumps(statement, ensure_ascii=False, sort_keys=True)
