"""Cases: dedupe across the three ways in, priority, queues, SLA, reopen rule, evidence versions."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import Session, select

from app import create_app
from core.db import session_scope
from core.timeutil import as_utc, utcnow
from moderation.intake import taxonomy
from moderation.intake.cases import parse_sla_overrides, refresh_priorities
from moderation.intake.evidence import case_data_key, open_evidence, open_statement
from moderation.intake.models import Case, CaseState, Channel, EvidenceVersion, Report
from moderation.intake.reports import Reporter, submit_report
from privacy.models import Conversation
from tests.conftest import test_settings
from tests.factories import make_conversation
from tests.helpers import post_form, report_body

T0 = utcnow().replace(microsecond=0)


def _report(
    app,
    conversation_id: int,
    *,
    category="scam_fraud",
    source="user_notice",
    reporter="user:1",
    now=None,
    document=None,
) -> Report:
    from moderation.intake.evidence import snapshot_of_stored
    from privacy.conversations import messages_of

    with session_scope(app.extensions["vigil.engine"]) as session:
        conversation = session.get(Conversation, conversation_id)
        if document is None:
            document = snapshot_of_stored(
                conversation, messages_of(session, conversation_id=conversation_id)
            )
        return submit_report(
            session,
            settings=app.extensions["vigil.intake"],
            conversation=conversation,
            document=document,
            message_ids=[],
            category=category,
            source_type=source,
            channel=Channel.API,
            reporter=Reporter(key=reporter),
            now=now or T0,
        )


def _cases(db: Session) -> list[Case]:
    db.expire_all()
    return list(db.exec(select(Case).order_by(Case.id)))


def test_three_ways_in_join_one_case_with_count_sources_and_priority(app, client, factory, db, api):
    owner = factory.make_user()
    conversation = make_conversation(app, owner, external_id="chat-4711")
    factory.login(client, owner)
    url = f"/conversations/{conversation.id}/report"
    assert (
        post_form(
            client, url, {"category": "scam_fraud", "message_ids": "m1"}, token_from=url
        ).status_code
        == 302
    )
    notice_client = app.test_client()  # the notice comes from a stranger
    notice_url = f"/notice/{conversation.public_ref}"
    data = {
        "category": "harassment",
        "explanation": "threatens me",
        "name": "N. Otifier",
        "email": "n@example.test",
        "good_faith": "y",
    }
    assert post_form(notice_client, notice_url, data, token_from=notice_url).status_code == 302
    body = report_body(
        conversation_id="chat-4711",
        category="violent_threat",
        source_type="trusted_flagger",
        reporter_id="flagger-7",
    )
    assert api.post(body).status_code == 201

    [case] = _cases(db)
    assert case.state == CaseState.OPEN
    assert (case.report_count, case.distinct_reporters) == (3, 3)
    assert case.channels == "api,notice,web"
    assert case.source_types == "trusted_flagger,user_notice"
    assert (case.category, case.severity, case.queue) == ("violent_threat", 4, "general")
    assert case.trusted_flagger is True
    # 100 * severity 4 + 150 trusted flagger + 20 * floor(log2(1 + 3 reporters)) + 0 hours.
    assert (
        case.priority
        == 590
        == taxonomy.priority(severity=4, trusted_flagger=True, distinct_reporters=3, age_hours=0)
    )
    assert as_utc(case.last_reported_at) >= as_utc(case.first_reported_at)
    reports = db.exec(select(Report).order_by(Report.id)).all()
    assert [r.channel for r in reports] == ["web", "notice", "api"]
    assert {r.case_id for r in reports} == {case.id}
    # The web and notice reports saw the same stored conversation; the API pushed another
    # snapshot, so the case has two evidence versions.
    versions = [r.evidence_version_id for r in reports]
    assert versions[0] == versions[1] != versions[2]
    assert case.evidence_version == 2


def test_the_same_reporter_twice_counts_two_reports_but_one_reporter(app, factory, db):
    conversation = make_conversation(app, factory.make_user())
    _report(app, conversation.id, reporter="api:same")
    _report(app, conversation.id, reporter="api:same")
    [case] = _cases(db)
    assert (case.report_count, case.distinct_reporters) == (2, 1)
    assert case.priority == 100 * 2 + 20 * 1


def test_distinct_reporters_raise_priority_in_log_steps(app, factory, db):
    conversation = make_conversation(app, factory.make_user())
    seen = []
    for i in range(7):
        _report(app, conversation.id, reporter=f"api:r{i}")
        seen.append(_cases(db)[0].priority)
    assert seen == [220, 220, 240, 240, 240, 240, 260]


def test_child_safety_reports_land_only_in_the_child_safety_queue(app, factory, db):
    conversation = make_conversation(app, factory.make_user())
    _report(app, conversation.id, category="child_sexual_abuse")
    [case] = _cases(db)
    assert case.queue == "child_safety"
    assert db.exec(select(Case).where(Case.queue == "general")).all() == []
    assert as_utc(case.sla_due_at) == T0 + timedelta(minutes=60)
    # Only specialists are served that queue.
    from access_control.guard import authorize

    reviewer = factory.make_user(roles=("reviewer:general",))
    specialist = factory.make_user(roles=("specialist:child_safety",))
    with app.test_request_context():
        assert not authorize(reviewer, "queue", "read", queue=case.queue)
        assert authorize(specialist, "queue", "read", queue=case.queue)


def test_a_child_safety_report_moves_the_whole_case_and_it_never_moves_back(app, factory, db):
    conversation = make_conversation(app, factory.make_user())
    _report(app, conversation.id, category="scam_fraud", reporter="api:a")
    assert _cases(db)[0].queue == "general"
    _report(app, conversation.id, category="child_sexual_abuse", reporter="api:b")
    _report(app, conversation.id, category="ip_infringement", reporter="api:c")
    [case] = _cases(db)
    assert (case.queue, case.category, case.severity) == ("child_safety", "child_sexual_abuse", 5)


def test_a_report_on_a_closed_case_opens_a_new_linked_case(app, factory, db):
    conversation = make_conversation(app, factory.make_user())
    _report(app, conversation.id, reporter="api:a")
    with session_scope(app.extensions["vigil.engine"]) as session:
        old = session.exec(select(Case)).one()
        old.state, old.closed_at = CaseState.CLOSED.value, utcnow()
        session.add(old)
    _report(app, conversation.id, reporter="api:b", category="harassment")
    old, new = _cases(db)
    assert (old.state, old.report_count, old.category) == ("closed", 1, "scam_fraud")
    assert (new.state, new.report_count, new.previous_case_id) == ("open", 1, old.id)
    assert new.category == "harassment" and new.ref != old.ref
    # The new case has its own key and its own evidence, numbered from 1.
    evidence = db.exec(select(EvidenceVersion).where(EvidenceVersion.case_id == new.id)).one()
    assert evidence.version == 1


def test_sla_is_the_earliest_deadline_of_any_report(app, factory, db):
    conversation = make_conversation(app, factory.make_user())
    _report(app, conversation.id, category="scam_fraud", now=T0)
    assert as_utc(_cases(db)[0].sla_due_at) == T0 + timedelta(hours=24)
    later = T0 + timedelta(hours=2)
    _report(app, conversation.id, category="terrorist_content", reporter="api:b", now=later)
    assert as_utc(_cases(db)[0].sla_due_at) == later + timedelta(minutes=60)
    _report(app, conversation.id, category="harassment", reporter="api:c", now=later)
    assert as_utc(_cases(db)[0].sla_due_at) == later + timedelta(minutes=60)


def test_sla_minutes_are_configurable(database_url, tmp_path):
    app = create_app(test_settings(database_url, tmp_path) | {"SLA_MINUTES": "scam_fraud=90"})
    try:
        from tests.factories import Factory

        conversation = make_conversation(app, Factory(app).make_user())
        _report(app, conversation.id, category="scam_fraud")
        with Session(app.extensions["vigil.engine"]) as db:
            assert as_utc(_cases(db)[0].sla_due_at) == T0 + timedelta(minutes=90)
    finally:
        app.extensions["vigil.engine"].dispose()


@pytest.mark.parametrize("value", ["scam_fraud", "scam_fraud=0", "scam_fraud=ten", "nope=5"])
def test_bad_sla_overrides_are_refused(value):
    with pytest.raises((ValueError, KeyError)):
        parse_sla_overrides(value)


def test_age_raises_priority_when_refreshed(app, factory, db):
    conversation = make_conversation(app, factory.make_user())
    _report(app, conversation.id)
    assert _cases(db)[0].priority == 220
    with session_scope(app.extensions["vigil.engine"]) as session:
        assert refresh_priorities(session, now=T0 + timedelta(hours=5, minutes=30)) == 1
    assert _cases(db)[0].priority == 225
    with session_scope(app.extensions["vigil.engine"]) as session:
        refresh_priorities(session, now=T0 + timedelta(days=30))
    assert _cases(db)[0].priority == 220 + 48


def test_evidence_is_versioned_by_content_and_opens_to_the_snapshot(app, factory, db):
    from privacy.models import Message

    owner = factory.make_user()
    conversation = make_conversation(app, owner, texts=("one", "two"))
    first = _report(app, conversation.id, reporter="api:a")
    again = _report(app, conversation.id, reporter="api:b")
    assert first.evidence_version_id == again.evidence_version_id
    with session_scope(app.extensions["vigil.engine"]) as session:
        session.add(
            Message(
                conversation_id=conversation.id,
                position=2,
                external_id="m2",
                role="user",
                text="three",
            )
        )
    grown = _report(app, conversation.id, reporter="api:c")
    assert grown.evidence_version_id != first.evidence_version_id
    keys = app.extensions["vigil.intake"].keys
    v1, v2 = db.exec(select(EvidenceVersion).order_by(EvidenceVersion.version)).all()
    assert (v1.version, v1.message_count, v2.version, v2.message_count) == (1, 2, 2, 3)
    document = open_evidence(db, evidence=v2, keys=keys)
    assert [m["text"] for m in document["messages"]] == ["one", "two", "three"]
    assert document["conversation"]["title"] == "Test conversation"


def test_a_report_statement_is_sealed_and_opens_for_its_case_only(app, api, db):
    body = report_body(description="they asked for my card number")
    ref = api.post(body).get_json()["reference"]
    report = db.exec(select(Report).where(Report.ref == ref)).one()
    case = db.get(Case, report.case_id)
    data_key = case_data_key(db, case=case, keys=app.extensions["vigil.intake"].keys)
    statement = open_statement(
        data_key, case_id=case.id, report_ref=ref, blob=report.statement_sealed
    )
    assert statement == {"description": "they asked for my card number"}
    from moderation.intake.sealing import SealError

    with pytest.raises(SealError):
        open_statement(
            data_key, case_id=case.id, report_ref="VR-0000000000", blob=report.statement_sealed
        )


def test_concurrent_first_reports_of_one_conversation_meet_in_one_case(app, token, db):
    import threading

    from tests.helpers import Api

    body = report_body()
    statuses: list[int] = []

    def send(i: int) -> None:
        api = Api(app.test_client(), token)
        statuses.append(api.post(body | {"reporter_id": f"r{i}"}).status_code)

    threads = [threading.Thread(target=send, args=(i,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert statuses == [201] * 6
    assert len(db.exec(select(Conversation)).all()) == 1
    [case] = _cases(db)
    assert (case.report_count, case.distinct_reporters) == (6, 6)
