"""The authorization matrix as data (issue 14): tests/authz_matrix.csv lists every endpoint
of the app x every role with the answer expected; one test runs all of it through the
HTTP surface on SQLite and PostgreSQL and fails on any endpoint missing from the file.
Then IDOR probes (neighbouring ids, other people's references, cases, share links,
reports and conversations) and hostile values in every path, query and form parameter.

One app and one database per backend for the whole module (the `world` fixture): the
tests below run in file order, the matrix first, the hostile inputs (which may change
state) last."""

from __future__ import annotations

import csv
import io
import re
import shutil
import uuid
from pathlib import Path

import pytest
from sqlmodel import select

from tests import figures
from tests.authz_world import LIMITS, ROLES, World, endpoints, outcome, row_key
from tests.conftest import BACKENDS, pg_database_url, pg_execute, test_settings

MATRIX = Path(__file__).with_name("authz_matrix.csv")


def read_matrix(path: Path = MATRIX) -> dict[str, dict[str, str]]:
    """The file's rows: {"METHOD /rule": {role: expected}}; lines starting with # are notes."""
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    reader = csv.DictReader(line for line in lines if not line.startswith("#"))
    assert reader.fieldnames == ["endpoint", *ROLES], "columns: endpoint, then ROLES"
    rows: dict[str, dict[str, str]] = {}
    for row in reader:
        key = row.pop("endpoint")
        assert key not in rows, f"{key} is listed twice"
        rows[key] = row
    return rows


def as_csv(observed: dict[str, dict[str, str]], keys) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for key in keys:
        writer.writerow([key, *(observed[key][role] for role in ROLES)])
    return out.getvalue()


@pytest.fixture(scope="module", params=BACKENDS)
def world(request, tmp_path_factory):
    """One migrated database and one app per backend, with the matrix's objects and actors."""
    from app import create_app

    tmp = tmp_path_factory.mktemp(f"authz-{request.param}")
    if request.param == "sqlite":
        target = tmp / "vigil.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), target)
        url, drop = f"sqlite:///{target}", None
    else:
        admin_url = request.getfixturevalue("pg_admin_url")
        template = request.getfixturevalue("pg_template")
        name = f"vigil_authz_{uuid.uuid4().hex[:10]}"
        pg_execute(admin_url, f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        url, drop = pg_database_url(admin_url, name), (admin_url, name)
    app = create_app({**test_settings(url, tmp), **LIMITS})
    try:
        yield World(app)
    finally:
        app.extensions["vigil.engine"].dispose()
        if drop:
            pg_execute(drop[0], f'DROP DATABASE IF EXISTS "{drop[1]}" WITH (FORCE)')


# --- the matrix ------------------------------------------------------------------------


def test_every_endpoint_and_role_answers_as_the_matrix_says(world):
    expected = read_matrix()
    served = endpoints(world.app)
    keys = [row_key(method, rule) for method, rule, _ in served]
    observed: dict[str, dict[str, str]] = {key: {} for key in keys}
    server_errors = []
    for role in ROLES:
        actor = world.actors[role]
        for (method, rule, endpoint), key in zip(served, keys, strict=True):
            if key == "POST /logout" and actor.user is not None:
                # Still the role it started as: no earlier cell ended or changed its session.
                assert actor.client.get("/account").status_code == 200, role
            response = actor.call(method, world.path(rule, endpoint, role=role))
            observed[key][role] = outcome(response)
            world.replenish(endpoint)
            if response.status_code >= 500:
                server_errors.append(f"{key} as {role}: {response.status_code}")
    figures.add("endpoints x roles tried", len(keys) * len(ROLES))
    world.sign_in_again()  # for the probes below
    assert not server_errors, server_errors
    missing, stale = unlisted(world.app, expected)
    assert not missing, (
        "Endpoints missing from tests/authz_matrix.csv (deny by default: every route needs "
        "a reviewed row). Observed answers, to check before adding them:\n"
        + as_csv(observed, missing)
    )
    assert not stale, f"rows for endpoints the app no longer serves: {stale}"
    wrong = [
        f"{key} as {role}: expected {expected[key][role]}, got {observed[key][role]}"
        for key in keys
        for role in ROLES
        if expected[key][role] != observed[key][role]
    ]
    assert not wrong, "\n".join(wrong) + "\n\nObserved rows:\n" + as_csv(observed, keys)


def unlisted(app, rows) -> tuple[list[str], list[str]]:
    """(routes the app serves without a row, rows for routes it no longer serves)."""
    keys = [row_key(method, rule) for method, rule, _ in endpoints(app)]
    return [k for k in keys if k not in rows], sorted(set(rows) - set(keys))


def test_the_matrix_file_lists_every_route_the_app_serves_and_nothing_else():
    """Without a database: the file and app.url_map name the same endpoints, and a route
    added without a row is caught (deny by default)."""
    from app import create_app

    app = create_app({"ENV": "test", "DATABASE_URL": "sqlite://"})
    rows = read_matrix()
    assert unlisted(app, rows) == ([], [])
    app.add_url_rule("/review/new-page", "new_page", lambda: "", methods=["GET", "POST"])
    assert unlisted(app, rows) == (["GET /review/new-page", "POST /review/new-page"], [])


# --- IDOR probes -------------------------------------------------------------------------

NOISE = re.compile(r'value="[^"]*"|[0-9a-f]{16}|"instance":\s*"[^"]*"')


def _same_refusal(actor, method: str, real: str, missing: str, status: int) -> None:
    """Someone else's object and one that does not exist get the same refusal."""
    there, absent = actor.call(method, real), actor.call(method, missing)
    assert (there.status_code, absent.status_code) == (status, status), (real, there.status_code)
    seen = [
        NOISE.sub("", r.get_data(as_text=True).replace(p, ""))
        for r, p in ((there, real), (absent, missing))
    ]
    assert seen[0] == seen[1], f"{real} answers differently from {missing}: it leaks existence"


def test_other_peoples_conversations_reports_decisions_and_links_are_not_found(world):
    from tests.factories import make_conversation

    user = world.actors["user"]
    own = make_conversation(world.app, user.user, title="Mine").id
    assert user.call("GET", f"/conversations/{own}").status_code == 200
    # Neighbouring ids: the owner's two conversations sit just below this one.
    others = [world.conversation_id, world.reported_id, own - 1, own + 1]
    probes = 0
    for number in others:
        for method, suffix in (
            ("GET", ""),
            ("GET", "/report"),
            ("POST", "/report"),
            ("GET", "/delete"),
            ("POST", "/delete"),
            ("POST", "/share"),
            ("POST", "/messages/m0/feedback"),
        ):
            _same_refusal(
                user,
                method,
                f"/conversations/{number}{suffix}",
                f"/conversations/{2**31 - 2}{suffix}",
                404,
            )
            probes += 1
    for method, real, missing in (
        ("GET", f"/reports/{world.web_report_ref}", "/reports/VR-0000000000"),
        ("POST", f"/reports/{world.web_report_ref}/appeal", "/reports/VR-0000000000/appeal"),
        ("GET", f"/decisions/{world.values['case_ref']}", "/decisions/VC-0000000000"),
        (
            "POST",
            f"/decisions/{world.values['case_ref']}/appeal",
            "/decisions/VC-0000000000/appeal",
        ),
        ("POST", f"/shares/{world.link_id}/revoke", f"/shares/{2**31 - 2}/revoke"),
        ("POST", f"/shares/{world.link_id + 1}/revoke", f"/shares/{2**31 - 2}/revoke"),
    ):
        _same_refusal(user, method, real, missing, 404)
        probes += 1
    # Nothing of the owner's moved: the link still opens, the conversation is still theirs.
    assert world.owner.call("GET", f"/conversations/{world.conversation_id}").status_code == 200
    assert world.app.test_client().get(f"/s/{world.share_token}").status_code == 200
    assert world.values["case_ref"] not in user.call("GET", "/decisions").get_data(as_text=True)
    assert world.web_report_ref not in user.call("GET", "/reports").get_data(as_text=True)
    assert f"/shares/{world.link_id}/" not in user.call("GET", "/shares").get_data(as_text=True)
    # A share token one character off opens nothing, like any unknown token.
    token = world.share_token
    near = token[:-1] + ("A" if token[-1] != "A" else "B")
    anonymous = world.anonymous("stranger")  # no flash left over from the matrix
    _same_refusal(anonymous, "GET", f"/s/{near}", "/s/not-a-token-at-all", 404)
    # Another token's report reference: the same 404 as one never filed.
    api = world.actors["token:reports:write"]
    ref = world.api_report_ref
    _same_refusal(api, "GET", f"/api/v1/reports/{ref}", "/api/v1/reports/VR-0000000000", 404)
    _same_refusal(
        api, "POST", f"/api/v1/reports/{ref}/appeal", "/api/v1/reports/VR-0000000000/appeal", 404
    )
    figures.add("endpoints x roles tried", probes + 3)


def test_another_reviewers_claimed_case_stays_theirs_even_with_their_claim_token(world):
    from moderation.review.models import CaseClaim, CaseDecision

    case_id, token = world.case_b, world.claim_token
    base = f"/review/cases/{case_id}"
    probes = 0
    for role in ("reviewer:general", "specialist:general", "specialist:child_safety"):
        actor = world.actors[role]
        for number in (case_id - 1, case_id, case_id + 1):  # neighbours: a decided case, none
            assert actor.call("GET", f"/review/cases/{number}").status_code in (403, 404)
            probes += 1
        for suffix, form in (
            ("/decision", {"token": token, "outcome": "no_action", "ground": "no_violation"}),
            ("/notes", {"token": token, "text": "mine now"}),
            ("/escalate", {"token": token, "target": "legal", "note": "x"}),
            ("/renew", {"token": token}),
            ("/release", {"token": token}),
            ("/reveal/0", {"token": token}),
        ):
            answer = actor.call("POST", base + suffix, form)
            assert answer.status_code in (403, 409), (role, suffix, answer.status_code)
            probes += 1
    with world.session() as db:
        claim = db.get(CaseClaim, case_id)
        assert (claim.reviewer_id, claim.token) == (world.claimer.user.id, token)
        assert not db.exec(select(CaseDecision).where(CaseDecision.case_id == case_id)).all()
    assert world.claimer.call("GET", base).status_code == 200  # still theirs to work
    figures.add("endpoints x roles tried", probes)


# --- hostile values in every parameter ----------------------------------------------------

HOSTILE = ("-1", "2147483648", "9" * 30, "-" + "9" * 30, "a\x00b", "x" * 100_000)
READ: set[tuple[str, str]] = set()  # (query|form, key) the current request's view read


def _recording(where: str):
    from werkzeug.datastructures import ImmutableMultiDict

    class Recording(ImmutableMultiDict):
        """A request's query or form that notes every key the view (or its form) reads."""

        def __getitem__(self, key):
            READ.add((where, key))
            return super().__getitem__(key)

        def get(self, key, *args, **kwargs):
            READ.add((where, key))
            return super().get(key, *args, **kwargs)

        def getlist(self, key, *args, **kwargs):
            READ.add((where, key))
            return super().getlist(key, *args, **kwargs)

        def __contains__(self, key):
            READ.add((where, key))
            return super().__contains__(key)

    return Recording


def _recording_request(base):
    from werkzeug.utils import cached_property

    query, form = _recording("query"), _recording("form")

    class RecordingRequest(base):
        @cached_property
        def args(self):
            return query(super().args)

        @cached_property
        def form(self):
            return form(super().form)

    return RecordingRequest


def declared_keys(view) -> set[tuple[str, str]]:
    """The parameters a view's source names: its forms' fields and request.form/args keys."""
    import inspect

    from flask_wtf import FlaskForm
    from wtforms.fields.core import UnboundField

    function = inspect.unwrap(view)
    source = inspect.getsource(function)
    keys = {
        ("form" if kind == "form" else "query", key)
        for kind, key in re.findall(
            r"request\.(form|args)\.get(?:list)?\(\s*['\"]([^'\"]+)['\"]", source
        )
    }
    for name in re.findall(r"\b([A-Z]\w*Form)\(", source):
        form = function.__globals__.get(name)
        if isinstance(form, type) and issubclass(form, FlaskForm):
            fields = inspect.getmembers(form, lambda v: isinstance(v, UnboundField))
            keys |= {("form", field) for field, _ in fields}
    return keys


# Run last: they change what a role may do next (a claim, a session, an account).
MOVES_STATE = ("/review/next", "/conversations/<int:conversation_id>/delete", "/logout")
# The guard's refusals. A 404 is not one: the candidates start with the objects' owners,
# and an owner's 404 is the view's answer to a missing field (the form reaches the view).
REFUSED = ("login", "401", "403", "405")


def test_hostile_values_in_every_path_query_and_form_parameter_are_never_a_5xx(world):
    from tests.factories import make_conversation

    app = world.app
    # Objects of their own where a hostile value could be a valid one (a reason, a
    # ticked box): the matrix's objects stay as they are.
    spare = world.factory.make_user()
    world.values["user_id"] = spare.id
    world.values["conversation_id"] = make_conversation(app, world.owner.user).id
    api = world.anonymous("api", {"Authorization": f"Bearer {world.api_secret}"})
    candidates = [world.owner, world.claimer, world.boss, world.seeker, api]
    candidates += [world.actors[role] for role in ROLES]
    base_request = app.request_class
    app.request_class = _recording_request(base_request)
    tried, server_errors = 0, []
    try:
        served = sorted(endpoints(app), key=lambda e: (e[1] in MOVES_STATE, e[1], e[0]))
        for method, rule, endpoint in served:
            path = world.path(rule, endpoint)
            # The first actor the guard lets through, and what its view reads.
            # The claimer first in the workspace: the owner's Next case only says "nothing".
            first = [world.claimer] if rule.startswith("/review/") else []
            for actor in first + candidates:
                READ.clear()
                if outcome(actor.call(method, path)) not in REFUSED:
                    break
            keys = (READ | declared_keys(app.view_functions[endpoint])) - {("form", "csrf_token")}
            if method != "POST":
                keys = {("query", key) for _, key in keys}
            names = re.findall(r"<(?:[^:<>]+:)?([^<>]+)>", rule)
            for value in HOSTILE:
                probes = [(world.path(rule, endpoint, {name: value}), None, None) for name in names]
                probes += [
                    (
                        path,
                        {key: value} if where == "form" else None,
                        {key: value} if where == "query" else None,
                    )
                    for where, key in sorted(keys)
                ]
                for target, form, query in probes:
                    tried += 1
                    try:
                        status = actor.call(method, target, form, query).status_code
                    except Exception as exc:  # raised while streaming: a broken answer
                        status = 500
                        form = {**(form or query or {}), "error": repr(exc)[:120]}
                    if status >= 500:
                        server_errors.append(f"{method} {target[:80]} {form or query or ''!s:.80}")
                    elif "\x00" in value and status not in (400, 404, 405):
                        server_errors.append(f"NUL accepted: {method} {rule} -> {status}")
    finally:
        app.request_class = base_request
    figures.add("hostile inputs tried", tried)
    assert not server_errors, "\n".join(server_errors)
