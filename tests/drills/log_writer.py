"""The access-log writer the crash drill kills: `python -m tests.drills.log_writer URL DIR`.

Imports and connects once, then for each "go" line on stdin forks a child that appends
entries in a loop (each its own transaction) and, once the child is connected, prints its
pid; the drill kills that child with SIGKILL at a random moment and says "reap". A child
writes the seq of each entry to DIR/<pid>.seqs only after its commit returned, so every seq
listed was acknowledged as stored. The MAC key comes hex-encoded in VIGIL_DRILL_MAC_KEY.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path


def append_until_killed(engine, out: Path, mac_key: bytes, connected: int) -> None:
    from audit.access_log import record_access
    from audit.reasons import AccessAction, Decision, ReasonCode
    from core.db import session_scope

    engine.connect().close()  # connected (and pooled): the kills land on appends
    os.write(connected, b"up")
    with out.open("a", buffering=1) as acknowledged:
        for i in range(1_000_000):
            with session_scope(engine) as session:
                entry = record_access(
                    session,
                    actor=None,
                    action=AccessAction.OPEN,
                    decision=Decision.ALLOWED,
                    reason_code=ReasonCode.QA_SAMPLE,
                    case_id=f"drill-{os.getpid()}",
                    conversation_id=str(i),
                    evidence_version=1,
                    mac_key=mac_key,
                )
                seq = entry.seq
            acknowledged.write(f"{seq}\n")


def main() -> None:
    url, directory = sys.argv[1], Path(sys.argv[2])
    mac_key = bytes.fromhex(os.environ["VIGIL_DRILL_MAC_KEY"])
    import audit.access_log  # noqa: F401 (imported before forking: children start at once)
    from core.db import make_engine

    engine = make_engine(url)
    engine.connect().close()  # the dialect learns the server once, here
    print("ready", flush=True)
    for line in sys.stdin:
        command = line.split()
        if command == ["go"]:
            up, connected = os.pipe()
            engine.dispose()  # no connection crosses the fork: the child opens its own
            pid = os.fork()
            if pid == 0:
                try:
                    seqs = directory / f"{os.getpid()}.seqs"
                    append_until_killed(engine, seqs, mac_key, connected)
                finally:
                    os._exit(1)
            os.close(connected)
            os.read(up, 2)  # the child is connected (or died: then the read ends empty)
            os.close(up)
            print(pid, flush=True)
        elif command[:1] == ["reap"]:
            _, status = os.waitpid(int(command[1]), 0)
            print("killed" if os.WIFSIGNALED(status) else f"exited {status}", flush=True)


if __name__ == "__main__":
    main()
