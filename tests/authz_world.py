"""The world the authorization matrix runs in (tests/authz_matrix.csv): one app and one
database per backend, a signed-in client per role, and one real object for every path
parameter, owned by someone who is not one of the matrix's roles.

Every object is made the way Vigil makes it: accounts and tokens with the factories, the
rest through the HTTP surface (reports, claims, decisions, break-glass, role and reset
requests, policy requests) or the one service a view would call (share links)."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from urllib.parse import quote, urlsplit

from sqlmodel import Session, select

from core.db import read_only, session_scope
from tests.factories import Factory, make_conversation, make_token
from tests.helpers import Api, claim_next, csrf_token, decision_form, post_form, report_body

# The matrix's columns, in the order cells are run (tokens last: their cells change
# nothing a signed-in role reads).
STAFF_ROLES = (
    "reviewer:general",
    "reviewer:appeals",
    "specialist:general",
    "specialist:child_safety",
    "specialist:legal",
    "qa",
    "auditor",
    "admin",
)
TOKEN_SCOPES = ("reports:write", "conversations:write", "privacy:write")
ROLES = ("anonymous", "user", "share_holder", *STAFF_ROLES, *(f"token:{s}" for s in TOKEN_SCOPES))

# The matrix measures the policy, not the throttles (their own tests cover them): every
# role makes a few hundred requests from one address within a minute.
GENEROUS = "100000 per minute"
LIMITS = {
    "DENIAL_LIMIT_PER_ACTOR": GENEROUS,
    "NOTICE_LIMIT_PER_ADDRESS": GENEROUS,
    "SHARE_LIMIT_PER_ADDRESS": GENEROUS,
    "REPORT_LIMIT_PER_REPORTER": GENEROUS,
    "REPORT_LIMIT_PER_ADDRESS": GENEROUS,
    "LOGIN_LIMIT_PER_ACCOUNT": GENEROUS,
    "LOGIN_LIMIT_PER_ADDRESS": GENEROUS,
}
PARAM = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")
API_OWNER, API_CONVERSATION = "owner-matrix", "conv-matrix"


@dataclass
class Actor:
    """One client with its cookies (a session or none), headers and CSRF token."""

    name: str
    client: object
    headers: dict = field(default_factory=dict)
    csrf: str = ""
    user: object = None

    def call(self, method: str, path: str, data: dict | None = None, query: dict | None = None):
        """One request as a browser or the chat backend would send it."""
        kwargs: dict = {"headers": self.headers, "query_string": query or {}}
        if path.startswith("/api/"):
            if method in ("POST", "PUT"):
                kwargs["json"] = data or {}
        elif method == "POST":
            kwargs["data"] = {"csrf_token": self.csrf, **(data or {})}
        response = self.client.open(path, method=method, **kwargs)
        response.get_data()  # read streamed answers (exports) whole, then end them
        response.close()
        return response


def outcome(response) -> str:
    """A cell's value: the status code, or `login` for a redirect to the sign-in page."""
    redirect = response.status_code in (301, 302, 303, 307, 308)
    if redirect and urlsplit(response.headers.get("Location", "")).path == "/login":
        return "login"
    return str(response.status_code)


def endpoints(app) -> list[tuple[str, str, str]]:
    """Every (method, rule, endpoint) the app serves, HEAD and OPTIONS aside, sorted."""
    found = {
        (method, rule.rule, rule.endpoint)
        for rule in app.url_map.iter_rules()
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    # Signing out last: it ends the session every earlier cell of the role relied on.
    return sorted(found, key=lambda e: (e[1] == "/logout", e[1], e[0]))


def row_key(method: str, rule: str) -> str:
    return f"{method} {rule}"


class World:
    """The objects and actors of one backend's matrix."""

    def __init__(self, app) -> None:
        self.app = app
        self.engine = app.extensions["vigil.engine"]
        self.factory = Factory(app)
        self.values: dict = {}
        self.actors: dict[str, Actor] = {}
        self._build()

    # -- building -----------------------------------------------------------------------

    def _signed_in(self, name: str, *roles: str) -> Actor:
        client = self.app.test_client()
        user = self.factory.make_user(roles=roles)
        self.factory.login(client, user)
        return Actor(name, client, csrf=csrf_token(client, "/account"), user=user)

    def anonymous(self, name: str, headers: dict | None = None) -> Actor:
        client = self.app.test_client()
        return Actor(name, client, headers=headers or {}, csrf=csrf_token(client, "/login"))

    def session(self) -> Session:
        return Session(read_only(self.engine))

    def _build(self) -> None:
        from access_control.models import Invitation, PolicyRequest, RoleRequest
        from moderation.intake.models import Case, Report
        from moderation.review.models import BreakGlassGrant
        from privacy.models import Conversation, ShareLink
        from privacy.sharing import create_link

        app, factory = self.app, self.factory
        # The people who own the objects (none of them is a matrix role).
        owner = self._signed_in("owner")
        claimer = self._signed_in("claimer", "reviewer:general")
        boss = self._signed_in("boss", "admin")  # the admin who asked for what waits
        seeker = self._signed_in("seeker", "specialist:child_safety")  # asked for break-glass
        self.owner, self.claimer, self.boss, self.seeker = owner, claimer, boss, seeker

        # The owner's conversations: one shared, one reported through the web form.
        shared = make_conversation(app, owner.user, title="Shared one")
        reported = make_conversation(app, owner.user, title="Reported one")
        with session_scope(self.engine) as db:
            conversation = db.get(Conversation, shared.id)
            link, share_token = create_link(
                db, conversation=conversation, owner=owner.user, show_name=False, expires_in_days=7
            )
            db.flush()
            link_id = link.id
        filed = owner.call(
            "POST",
            f"/conversations/{reported.id}/report",
            {"category": "scam_fraud", "message_ids": ["m1"], "description": "matrix"},
        )
        assert filed.status_code == 302, filed.get_data(as_text=True)[:300]
        # The chat backend's report (the case a reviewer holds) and what the API names.
        self.api_secret = make_token(app, scopes=TOKEN_SCOPES)
        api = Api(app.test_client(), self.api_secret)
        body = report_body(conversation_id=API_CONVERSATION)
        body["conversation"]["owner_id"] = API_OWNER
        filed_api = api.post(body)
        assert filed_api.status_code == 201, filed_api.get_data(as_text=True)[:300]
        # Deleted by the cells that may delete (their own objects, so nothing else moves).
        doomed = report_body()["conversation"]
        del doomed["id"]
        put = api.client.put(
            "/api/v1/conversations/conv-doomed",
            json={**doomed, "owner_id": "owner-doomed"},
            headers=api.headers(),
        )
        assert put.status_code == 201, put.get_data(as_text=True)[:300]
        with self.session() as db:
            web_report = db.exec(select(Report).where(Report.conversation_id == reported.id)).one()
            case_a = db.get(Case, web_report.case_id)
            case_b = db.exec(
                select(Report.case_id).where(Report.ref == filed_api.json["reference"])
            ).one()
        # Case A: claimed and decided for good by the claimer (the owner's decision notice).
        got, token = claim_next(claimer.client)
        assert got == case_a.id, (got, case_a.id)
        decided = post_form(
            claimer.client,
            f"/review/cases/{got}/decision",
            decision_form(token, outcome="disable_share_links"),
            token_from=f"/review/cases/{got}",
        )
        assert decided.status_code == 302, decided.get_data(as_text=True)[:300]
        # Case B: claimed and held by the claimer; a specialist asked for break-glass on it.
        got_b, self.claim_token = claim_next(claimer.client)
        assert got_b == case_b, (got_b, case_b)
        asked = seeker.call("POST", f"/review/cases/{case_b}/break-glass", {"reason": "matrix"})
        assert asked.status_code in (200, 302), asked.get_data(as_text=True)[:300]
        # What waits for a second admin: a role request, a reset, a widening policy change.
        target = factory.make_user()
        staff = factory.make_user(roles=("qa",))
        page = f"/admin/accounts/{target.id}"
        boss.call("POST", f"{page}/roles", {"role": "qa", "reason": "matrix"})
        boss.call("POST", f"/admin/accounts/{staff.id}/reset", {"reset-reason": "matrix"})
        boss.call(
            "POST",
            "/admin/policy/apply",
            {"verb": "add", "row": "p, qa, general, content, read, any, allow", "reason": "matrix"},
        )
        created = boss.call(
            "POST",
            "/admin/accounts/new",
            {"email": f"new-{uuid.uuid4().hex[:6]}@example.test", "display_name": "New"}
            | {"reason": "matrix"},
        )
        enrol = re.search(r"/enrol/([A-Za-z0-9_\-]+)", created.get_data(as_text=True))
        assert enrol, created.get_data(as_text=True)[:500]
        with self.session() as db:
            role_request = db.exec(select(RoleRequest.id)).one()
            reset = db.exec(select(Invitation.id).where(Invitation.purpose == "reset")).one()
            policy_request = db.exec(select(PolicyRequest.id)).one()
            grant = db.exec(select(BreakGlassGrant.id)).one()
            assert db.get(ShareLink, link_id) is not None
        self.case_a, self.case_b = case_a.id, case_b
        self.share_token, self.link_id = share_token, link_id
        self.conversation_id, self.reported_id = shared.id, reported.id
        self.web_report_ref, self.api_report_ref = web_report.ref, filed_api.json["reference"]
        self.values |= {
            "user_id": owner.user.id,
            "reset_id": reset,
            ("admin.decide_role_request", "request_id"): role_request,
            ("admin.policy_request_decision", "request_id"): policy_request,
            "grant_id": grant,
            ("privacy.rate_message", "message_id"): "m0",
            "message_id": "m0",
            "conversation_id": shared.id,  # the web's integer ids
            ("moderation.report_conversation", "conversation_id"): shared.id,
            ("api.put_conversation", "conversation_id"): API_CONVERSATION,
            ("api.appeal_conversation", "conversation_id"): API_CONVERSATION,
            ("api.put_feedback", "conversation_id"): API_CONVERSATION,
            ("api.delete_conversation", "conversation_id"): "conv-doomed",
            ("api.delete_owner", "owner_id"): "owner-doomed",
            "owner_id": API_OWNER,
            ("api.get_report", "ref"): self.api_report_ref,
            ("api.appeal_report", "ref"): self.api_report_ref,
            "ref": web_report.ref,
            "case_ref": case_a.ref,
            "actor_id": claimer.user.id,
            ("audit.case", "case_id"): str(case_b),
            "case_id": case_b,
            "index": 0,
            "fmt": "csv",
            ("auth.enrol", "token"): enrol.group(1),
            "token": share_token,
            "public_ref": shared.public_ref,
            "queue": "general",
            "link_id": link_id,
            "filename": "css/vigil.css",
            "figure": "notices",
        }
        # The matrix's columns.
        self.actors["anonymous"] = self.anonymous("anonymous")
        self.actors["user"] = self._signed_in("user")
        holder = self.anonymous("share_holder")
        assert holder.client.get(f"/s/{share_token}").status_code == 200
        self.actors["share_holder"] = holder
        for role in STAFF_ROLES:
            self.actors[role] = self._signed_in(role, role)
        for scope in TOKEN_SCOPES:
            secret = make_token(app, scopes=(scope,))
            name = f"token:{scope}"
            self.actors[name] = self.anonymous(name, {"Authorization": f"Bearer {secret}"})

    def sign_in_again(self) -> None:
        """After the matrix's last cell (sign out), every signed-in column signs in again."""
        for actor in self.actors.values():
            if actor.user is not None and actor.client.get("/account").status_code != 200:
                self.factory.login(actor.client, actor.user)
                actor.csrf = csrf_token(actor.client, "/account")

    # Deciding a break-glass request uses it up: when a cell decided one, the next cell
    # gets a fresh request, so no cell's answer depends on the cells run before it.
    USED_UP = ("review.approve_break_glass", "review.refuse_break_glass")

    def replenish(self, endpoint: str) -> None:
        from moderation.intake.models import Case
        from moderation.review.break_glass import request_break_glass
        from moderation.review.models import BreakGlassGrant, GrantState
        from tests.factories import make_user

        if endpoint not in self.USED_UP:
            return
        with session_scope(self.engine) as db:
            grant = db.get(BreakGlassGrant, self.values["grant_id"])
            if grant.state == GrantState.PENDING:
                return
            asker = make_user(db, roles=("specialist:child_safety",))
            fresh = request_break_glass(
                db, user=asker, case=db.get(Case, self.case_b), reason="matrix"
            )
            db.flush()
            self.values["grant_id"] = fresh.id

    # -- paths --------------------------------------------------------------------------

    def value(self, endpoint: str, name: str, role: str = ""):
        for key in ((role, endpoint, name), (endpoint, name), name):
            if key in self.values:
                return self.values[key]
        return None

    def path(self, rule: str, endpoint: str, override: dict | None = None, role: str = "") -> str:
        """The rule with the world's object in every parameter (or `override`'s raw text)."""
        override = override or {}

        def fill(match: re.Match) -> str:
            name = match.group(1)
            if name in override:
                return quote(str(override[name]), safe="")
            value = self.value(endpoint, name, role)
            assert value is not None, f"no object for <{name}> of {endpoint}: add one to World"
            return quote(str(value), safe="/")

        return PARAM.sub(fill, rule)
