"""Harmless demo data: accounts, conversations and reports; harm appears only as placeholders."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlmodel import Session, select

from access_control.accounts import find_by_email
from access_control.demo import seed_accounts
from access_control.models import User
from core.timeutil import utcnow
from moderation.intake.models import Case, Channel
from moderation.intake.notice import file_notice
from moderation.intake.reports import Reporter, report_own_conversation, report_stored_conversation
from moderation.intake.settings import IntakeSettings
from privacy.consent import Owner, privacy_of, set_privacy
from privacy.conversations import MessageDraft, create_conversation
from privacy.models import ConsentSource, Conversation, Plan

# (external id, title, language, messages, reports); each report is
# (channel, category, source, messages).
DEMO_CONVERSATIONS = [
    (
        "demo-conv-1",
        "Planning a birthday party",
        "en",
        [
            ("user", "Can you help me plan a birthday party for my niece? She turns 8."),
            (
                "assistant",
                "Happily! A few ideas:\n- a treasure hunt\n- a baking corner\n- a craft table",
            ),
        ],
        [],
    ),
    (
        "demo-conv-2",
        "Is this prize message real?",
        "en",
        [
            ("user", "I received this text, is it real?\n\n[simulated scam message]"),
            (
                "assistant",
                "This has the signs of a scam: urgency, a prize you did not enter for, a link.",
            ),
            ("user", "Thanks, I will report it."),
        ],
        [(Channel.WEB, "scam_fraud", "user_notice", ["m0"])],
    ),
    (
        "demo-conv-3",
        "Help with a group chat",
        "en",
        [
            (
                "user",
                "Someone in my group chat keeps sending this:\n[simulated harassment message]",
            ),
            ("assistant", "I'm sorry that is happening. You can mute, block and report them."),
        ],
        [
            (Channel.NOTICE, "harassment", "user_notice", ["m0"]),
            (Channel.API, "harassment", "trusted_flagger", ["m0"]),
        ],
    ),
    (
        "demo-conv-4",
        "Flagged by automated detection",
        "en",
        [
            ("user", "[simulated grooming message]"),
            ("assistant", "I can't help with that. If a child is in danger, contact the police."),
        ],
        [(Channel.API, "child_sexual_abuse", "automated_detection", ["m0"])],
    ),
    (
        "demo-conv-5",
        "Ist diese Gewinnnachricht echt?",
        "de",
        [
            ("user", "Ich habe diese SMS bekommen:\n[simulierte Betrugsnachricht]"),
            ("assistant", "Das sieht nach Betrug aus: Zeitdruck, ein Gewinn, ein Link."),
        ],
        [(Channel.API, "scam_fraud", "user_notice", ["m0"])],
    ),
]


def _file(session, settings, pepper, owner, conversation, report) -> None:
    channel, category, source, message_ids = report
    if channel == Channel.WEB:
        report_own_conversation(
            session,
            settings=settings,
            user=owner,
            conversation=conversation,
            message_ids=message_ids,
            category=category,
            description="Demo report.",
        )
    elif channel == Channel.NOTICE:
        file_notice(
            session,
            settings=settings,
            conversation=conversation,
            message_ids=message_ids,
            category=category,
            explanation="Demo notice: the message targets a person repeatedly.",
            name="Demo Notifier",
            email="notifier@vigil.example",
            good_faith=True,
            user=None,
            pepper=pepper,
        )
    else:
        report_stored_conversation(
            session,
            settings=settings,
            conversation=conversation,
            channel=Channel.API,
            reporter=Reporter(key=f"api:demo-{source}"),
            message_ids=message_ids,
            category=category,
            statement={"description": "Demo report from the chat backend."},
            source_type=source,
        )


def seed_intake(session: Session, *, owner: User, settings: IntakeSettings, pepper: str) -> int:
    """Create the demo conversations (and their reports) that are missing; returns how many."""
    created = 0
    start = utcnow() - timedelta(days=2)
    for external_id, title, language, messages, reports in DEMO_CONVERSATIONS:
        query = select(Conversation.id).where(Conversation.external_id == external_id)
        if session.exec(query).first() is not None:
            continue
        drafts = [
            MessageDraft(
                role=role,
                text=text,
                external_id=f"m{i}",
                created_at=start + timedelta(minutes=created * 30 + i),
            )
            for i, (role, text) in enumerate(messages)
        ]
        conversation = create_conversation(
            session,
            owner=owner,
            model_id="vigil-demo-1",
            title=title,
            external_id=external_id,
            language=language,
            messages=drafts,
        )
        for report in reports:
            _file(session, settings, pepper, owner, conversation, report)
        created += 1
    return created


def seed_appeal(session: Session, *, owner: User) -> None:
    """Una appeals the first demo decision, so the appeals queue has a case to decide."""
    from moderation.review.appeals import file_appeal
    from moderation.review.models import Appellant
    from moderation.review.rules import current_rules

    session.flush()
    conversation = session.exec(
        select(Conversation).where(Conversation.external_id == "demo-decided-1")
    ).one()
    case = session.exec(select(Case).where(Case.conversation_id == conversation.id)).one()
    file_appeal(
        session,
        case=case,
        appellant=Appellant.AFFECTED,
        appellant_key=f"user:{owner.id}",
        statement="Demo appeal: the message was a warning about the scam, not the scam.",
        channel="web",
        now=utcnow(),
        rules=current_rules(),
    )


# Decided demo cases (harmless placeholders): ground, action, legal or terms ground, facts.
# Decided demo cases (harmless placeholders): category, ground, action, law or term, facts.
DECIDED_CONVERSATIONS = [
    (
        "scam_fraud",
        "illegal",
        "remove",
        "Directive (EU) 2019/713 (payment fraud)",
        "A message asks for card details for a fake prize.",
    ),
    (
        "harassment",
        "incompatible",
        "remove",
        "Terms 3.1: no targeted harassment",
        "Repeated insults aimed at one named person.",
    ),
    (
        "illegal_goods",
        "illegal",
        "disable_share_links",
        "Regulation (EU) 2019/1148 (precursors)",
        "A shared conversation gave a shopping list for a restricted substance.",
    ),
    (
        "privacy_violation",
        "illegal",
        "remove",
        "GDPR Art. 6 (no lawful basis)",
        "A private home address was posted with a call to visit.",
    ),
    (
        "scam_fraud",
        "illegal",
        "restrict",
        "Directive (EU) 2019/713 (payment fraud)",
        "The same account sent prize scams in several conversations.",
    ),
    (
        "ip_infringement",
        "incompatible",
        "remove",
        "Terms 5.2: no pirated material",
        "A full copyrighted book chapter was pasted for sharing.",
    ),
]


def seed_decided(session: Session, *, owner: User, reviewer: User, settings: IntakeSettings) -> int:
    """Demo cases already decided, so the statements of reasons export has something."""
    from moderation.review import claims
    from moderation.review.decisions import DecisionInput, decide_case
    from moderation.review.rules import current_rules

    created, now = 0, utcnow()
    for index, (category, ground, action, law, facts) in enumerate(DECIDED_CONVERSATIONS):
        external_id = f"demo-decided-{index + 1}"
        if session.exec(
            select(Conversation.id).where(Conversation.external_id == external_id)
        ).first():
            continue
        conversation = create_conversation(
            session,
            owner=owner,
            model_id="vigil-demo-1",
            title=f"Decided demo case {index + 1}",
            external_id=external_id,
            language="en",
            messages=[
                MessageDraft(
                    role="user",
                    text=f"[simulated {category.replace('_', ' ')} message]",
                    external_id="m0",
                    created_at=now - timedelta(days=3),
                ),
                MessageDraft(
                    role="assistant",
                    text="I can't help with that.",
                    external_id="m1",
                    created_at=now - timedelta(days=3),
                ),
            ],
        )
        report = report_stored_conversation(
            session,
            settings=settings,
            conversation=conversation,
            channel=Channel.API,
            reporter=Reporter(key=f"api:demo-decided-{index}"),
            message_ids=["m0"],
            category=category,
            statement={"description": "Demo report, decided."},
            source_type="user_notice",
        )
        claim = claims.claim_case(
            session, case_id=report.case_id, reviewer=reviewer, lease=timedelta(minutes=5), now=now
        )
        decide_case(
            session,
            case=session.get(Case, report.case_id),
            reviewer=reviewer,
            token=claim.token,
            decision=DecisionInput(
                outcome=action,
                labels=(category,),
                ground=ground,
                legal_ground=law if ground == "illegal" else "",
                terms_ground=law if ground == "incompatible" else "",
                explanation="Demo decision: " + facts,
                facts=facts,
                restricted_until=(now + timedelta(days=30)).date()
                if action == "restrict"
                else None,
                confirmed=True,
            ),
            now=now,
            rules=current_rules(),
        )
        created += 1
    if created:
        seed_appeal(session, owner=owner)
    return created


def seed_demo(session: Session, *, instance: Path, settings: IntakeSettings, pepper: str) -> dict:
    """Create the demo accounts and conversations that are missing; return the logins."""
    logins = seed_accounts(session, instance)
    owner = find_by_email(session, "user@vigil.example")
    reviewer = find_by_email(session, "reviewer@vigil.example")
    if owner is not None:
        seed_intake(session, owner=owner, settings=settings, pepper=pepper)
        if reviewer is not None:
            seed_decided(session, owner=owner, reviewer=reviewer, settings=settings)
        if privacy_of(session, Owner(user_id=owner.id)) is None:
            # Una is on the Free plan: her conversations train unless she opts out.
            set_privacy(
                session,
                Owner(user_id=owner.id),
                plan=Plan.FREE,
                source=ConsentSource.ADMIN,
                actor="demo data",
            )
    return logins
