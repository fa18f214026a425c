"""A policy change made by one process is seen by another before its next check."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from access_control.policy import Rule, add_rule
from core.db import session_scope
from tests.conftest import test_settings

CHILD = textwrap.dedent(
    """
    import json, os, sys
    sys.path.insert(0, sys.argv[1])
    from app import create_app
    from access_control.guard import authorize
    from access_control.models import User
    from core.db import get_session
    app = create_app(json.loads(sys.argv[2]))
    for line in sys.stdin:
        with app.test_request_context():
            user = get_session().get(User, int(line))
            print(authorize(user, "access_log", "read"), flush=True)
    """
)


def test_other_process_sees_new_policy(app, factory, database_url, tmp_path):
    import json

    reviewer = factory.make_user(roles=("reviewer:general",))
    root = str(Path(__file__).resolve().parents[2])
    settings = json.dumps(test_settings(database_url, tmp_path))
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, root, settings],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:

        def ask() -> str:
            child.stdin.write(f"{reviewer.id}\n")
            child.stdin.flush()
            return child.stdout.readline().strip()

        assert ask() == "False"  # the child has built its enforcer
        with session_scope(app.extensions["vigil.engine"]) as session:
            add_rule(
                session,
                actor=None,
                rule=Rule("p", ("reviewer:general", "*", "access_log", "read", "any", "allow")),
                reason="cross-process test",
            )
        assert ask() == "True"
    finally:
        child.stdin.close()
        child.wait(timeout=30)
