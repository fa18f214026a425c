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
import shutil
import uuid
from pathlib import Path

import pytest

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
    assert not server_errors, server_errors
    missing = [key for key in keys if key not in expected]
    assert not missing, (
        "Endpoints missing from tests/authz_matrix.csv (deny by default: every route needs "
        "a reviewed row). Observed answers, to check before adding them:\n"
        + as_csv(observed, missing)
    )
    stale = sorted(set(expected) - set(keys))
    assert not stale, f"rows for endpoints the app no longer serves: {stale}"
    wrong = [
        f"{key} as {role}: expected {expected[key][role]}, got {observed[key][role]}"
        for key in keys
        for role in ROLES
        if expected[key][role] != observed[key][role]
    ]
    assert not wrong, "\n".join(wrong) + "\n\nObserved rows:\n" + as_csv(observed, keys)


def test_the_matrix_file_lists_every_route_the_app_serves_and_nothing_else():
    """Without a database: the file and app.url_map name the same endpoints."""
    from app import create_app

    app = create_app({"ENV": "test", "DATABASE_URL": "sqlite://"})
    keys = {row_key(method, rule) for method, rule, _ in endpoints(app)}
    assert set(read_matrix()) == keys
