"""A child process for the concurrency test: wait for "go", then append N entries.

Run as `python -m tests.audit.append_worker DATABASE_URL INSTANCE_DIR WORKER COUNT`.
"""

from __future__ import annotations

import sys


def main() -> None:
    url, instance, worker, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    from pathlib import Path

    from app import create_app
    from audit.access_log import record_access
    from audit.reasons import Decision, ReasonCode
    from core.db import session_scope
    from tests.conftest import test_settings

    app = create_app(test_settings(url, Path(instance)))
    engine = app.extensions["vigil.engine"]
    print("ready", flush=True)
    if sys.stdin.readline().strip() != "go":
        return
    for i in range(count):
        with session_scope(engine) as session:
            record_access(
                session,
                actor=None,
                action="open",
                decision=Decision.ALLOWED,
                reason_code=ReasonCode.QA_SAMPLE,
                case_id=f"w{worker}",
                conversation_id=str(i),
                evidence_version=None,
                mac_key=app.extensions["vigil.keys"].entry_mac,
            )
    engine.dispose()
    print("done", flush=True)


if __name__ == "__main__":
    main()
