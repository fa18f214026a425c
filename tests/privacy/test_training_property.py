"""Property: whatever happens around them, reported conversations never reach an export.

Hypothesis draws random sequences of what people do (the chat backend storing
conversations and consent, ratings, reports, share links, decisions with any ground and
action, appeals upheld or overturned, and exports at any point) and checks every export:
no conversation reported before it started is in it, whole or as a feedback item.
"""

from __future__ import annotations

import contextlib
import itertools
import uuid
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlmodel import Session, select

from core.db import session_scope
from core.timeutil import utcnow
from moderation.intake.models import Case, CaseStage, CaseState, Report
from moderation.review import claims
from moderation.review.appeals import decide_appeal
from moderation.review.decisions import DecisionInput, decide_case
from moderation.review.rules import ReviewRules
from privacy.models import Conversation
from privacy.sharing import ShareError, create_link
from tests.factories import make_token, set_plan
from tests.helpers import Api, report_body, run_training_export

POOL = 4  # conversations per example, so actions collide on the same ones
PLANS = ["free", "free", "pro", "api_experiment", "team", "api_scale"]  # mostly trainable
DECISIONS = [
    dict(outcome="no_action", ground="no_violation"),
    dict(outcome="remove", ground="illegal", legal_ground="a law", explanation="why"),
    dict(
        outcome="disable_share_links",
        ground="incompatible",
        terms_ground="a term",
        explanation="why",
    ),
]
ACTIONS = st.one_of(
    st.tuples(st.just("consent"), st.integers(0, POOL - 1), st.sampled_from(PLANS), st.booleans()),
    st.tuples(st.just("rate"), st.integers(0, POOL - 1)),
    st.tuples(st.just("report"), st.integers(0, POOL - 1)),
    st.tuples(st.just("share"), st.integers(0, POOL - 1)),
    st.tuples(st.just("decide"), st.integers(0, POOL - 1), st.integers(0, len(DECISIONS) - 1)),
    st.tuples(st.just("appeal"), st.integers(0, POOL - 1)),
    st.tuples(st.just("export")),
)


class World:
    """One example's conversations, stored through the real API."""

    def __init__(self, app, client, headers, reviewer, owner, appeals) -> None:
        self.app, self.client, self.headers = app, client, headers
        self.reviewer, self.owner, self.appeals = reviewer, owner, appeals
        self.engine = app.extensions["vigil.engine"]
        run = uuid.uuid4().hex[:8]
        self.ids = [f"c-{run}-{i}" for i in range(POOL)]
        self.owners = [f"o-{run}-{i}" for i in range(POOL)]
        for cid, owner_ref in zip(self.ids, self.owners, strict=True):
            body = report_body(conversation_id=cid, texts=(f"marker-{cid} hi", "an answer"))
            conversation = {k: v for k, v in body["conversation"].items() if k != "id"}
            conversation["owner_id"] = owner_ref
            put = client.put(f"/api/v1/conversations/{cid}", json=conversation, headers=headers)
            assert put.status_code == 201
        self.exports = itertools.count()

    def consent(self, i, plan, opt_out):
        body = {"plan": plan}
        if opt_out or plan not in ("team", "api_scale"):
            body["training_opt_out"] = opt_out
        response = self.client.put(
            f"/api/v1/owners/{self.owners[i]}/privacy", json=body, headers=self.headers
        )
        assert response.status_code == 200, response.get_json()

    def rate(self, i):
        response = self.client.put(
            f"/api/v1/conversations/{self.ids[i]}/messages/m1/feedback",
            json={"rating": "up", "disclosure_shown": True},
            headers=self.headers,
        )
        assert response.status_code == 200

    def report(self, i):
        body = report_body(conversation_id=self.ids[i])
        body["conversation"]["owner_id"] = self.owners[i]
        body["reporter_id"] = f"r-{uuid.uuid4().hex[:6]}"
        assert (
            self.client.post("/api/v1/reports", json=body, headers=self.headers).status_code == 201
        )

    def share(self, i):
        with session_scope(self.engine) as session:
            conversation = self._conversation(session, i)
            # Refused as the owner would be (taken down, too many links): a no-op.
            with contextlib.suppress(ShareError):
                create_link(
                    session,
                    conversation=conversation,
                    owner=self.owner,
                    show_name=False,
                    expires_in_days=None,
                )

    def decide(self, i, which):
        """Decide the open case, or, when it is under appeal, uphold or overturn it."""
        now = utcnow()
        with self.app.app_context(), session_scope(self.engine) as session:
            conversation = self._conversation(session, i)
            case = session.exec(
                select(Case).where(
                    Case.conversation_id == conversation.id, Case.state == CaseState.OPEN
                )
            ).first()
            if case is None:
                return
            appeal = case.stage == CaseStage.APPEAL
            who = self.appeals if appeal else self.reviewer
            claim = claims.claim_case(
                session, case_id=case.id, reviewer=who, lease=timedelta(minutes=5), now=now
            )
            decision = DecisionInput(
                labels=("scam_fraud",), facts="facts", confirmed=True, **DECISIONS[which]
            )
            if appeal:
                decide_appeal(
                    session,
                    case=case,
                    reviewer=who,
                    token=claim.token,
                    outcome="upheld" if which == 1 else "overturned",
                    note="stands",
                    decision=decision,
                    now=now,
                    rules=ReviewRules(),
                )
            else:
                decide_case(
                    session,
                    case=case,
                    reviewer=who,
                    token=claim.token,
                    decision=decision,
                    now=now,
                    rules=ReviewRules(),
                )

    def appeal(self, i):
        """The owner appeals the latest final decision (409 when there is none: fine)."""
        response = self.client.post(
            f"/api/v1/conversations/{self.ids[i]}/appeal",
            json={"owner_id": self.owners[i], "statement": "Please look again."},
            headers=self.headers,
        )
        assert response.status_code in (201, 404, 409), response.get_json()

    def export(self, tmp_path):
        with Session(self.engine) as session:
            reported = {
                self.ids.index(external_id)
                for external_id in session.exec(
                    select(Conversation.external_id)
                    .join(Report, Report.conversation_id == Conversation.id)
                    .where(Conversation.external_id.in_(self.ids))
                )
            }
        _, records = run_training_export(self.app, tmp_path / f"export-{uuid.uuid4().hex}")
        seen = set()
        for record in records:
            texts = (
                [m["text"] for m in record["messages"]]
                if record["type"] == "conversation"
                else [record["input"] or "", record["output"]]
            )
            for i, cid in enumerate(self.ids):
                if any(f"marker-{cid}" in text for text in texts):
                    seen.add(i)
        assert not (seen & reported), (seen, reported)

    def _conversation(self, session, i):
        conversation = session.exec(
            select(Conversation).where(Conversation.external_id == self.ids[i])
        ).one()
        conversation.owner_id = self.owner.id  # links belong to an account
        session.add(conversation)
        return conversation


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=st.lists(ACTIONS, min_size=1, max_size=12))
# The plain case, always run: consent given, rated, then reported.
@example(steps=[("consent", 0, "free", False), ("rate", 0), ("report", 0)])
# Reported, removed as illegal, appealed and overturned: still out of training.
@example(
    steps=[
        ("consent", 0, "free", False),
        ("report", 0),
        ("decide", 0, 1),
        ("appeal", 0),
        ("decide", 0, 0),
        ("export",),
    ]
)
# Taken down, then shared: the link is refused (a no-op), the conversation stays out.
@example(
    steps=[
        ("consent", 0, "free", False),
        ("report", 0),
        ("decide", 0, 1),
        ("share", 0),
        ("export",),
    ]
)
def test_no_sequence_lets_a_reported_conversation_into_an_export(
    app, client, factory, tmp_path, steps
):
    headers = Api(
        client, make_token(app, scopes=("reports:write", "conversations:write", "privacy:write"))
    ).headers()
    reviewer = factory.make_user(roles=("reviewer:general",))
    appeals = factory.make_user(roles=("reviewer:appeals",))
    owner = factory.make_user()  # shared conversations move to this account, on Free
    set_plan(app, owner, plan="free")
    world = World(app, client, headers, reviewer, owner, appeals)
    for step in [*steps, ("export",)]:
        action, *args = step
        if action == "export":
            world.export(tmp_path)
        else:
            getattr(world, action)(*args)
