"""Four processes append 500 entries each at once: one gap-free linear chain, on both backends."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import text

from audit.tlog.canonical import GENESIS

WORKERS, APPENDS = 4, 500
ROOT = Path(__file__).resolve().parents[2]
WORKER = [sys.executable, "-m", "tests.audit.append_worker"]


def test_concurrent_appenders_build_one_linear_chain(access_log, database_url, tmp_path, db):
    # Every host of one deployment shares the MAC key, like every other secret.
    env = {**os.environ, "VIGIL_AUDIT_MAC_KEY": access_log.app.config["VIGIL"]["AUDIT_MAC_KEY"]}
    children = [
        subprocess.Popen(
            [*WORKER, database_url, str(tmp_path / f"worker{i}"), str(i), str(APPENDS)],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for i in range(WORKERS)
    ]
    for child in children:
        assert child.stdout.readline().strip() == "ready"
    started = time.monotonic()
    for child in children:  # release them together
        child.stdin.write("go\n")
        child.stdin.flush()
    for child in children:
        assert child.wait(timeout=300) == 0
        assert child.stdout.read().strip() == "done"
    elapsed = time.monotonic() - started

    rows = db.execute(
        text("SELECT seq, case_id, prev_hash, entry_hash FROM access_entry ORDER BY seq")
    ).all()
    assert [row.seq for row in rows] == list(range(WORKERS * APPENDS))
    prev = GENESIS
    for row in rows:
        assert bytes(row.prev_hash) == prev
        prev = bytes(row.entry_hash)
    per_worker = {f"w{i}": 0 for i in range(WORKERS)}
    switches = sum(1 for a, b in itertools.pairwise(rows) if a.case_id != b.case_id)
    for row in rows:
        per_worker[row.case_id] += 1
    assert set(per_worker.values()) == {APPENDS}
    assert switches > WORKERS, "the appenders never interleaved; the test proved nothing"
    code, codes, output = access_log.verify()
    assert (code, codes) == (0, {}), output
    print(f"{WORKERS}x{APPENDS} appends in {elapsed:.1f}s, {switches} interleavings")
