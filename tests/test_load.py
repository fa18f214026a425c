"""Mixed load (issue 14, item 8), for real: bench/bench_load.py for the issue's 60 s on gunicorn
(2 sync workers) + PostgreSQL, with the checkpoint sidecar. Reporters (API and web form),
reviewers and an auditor at once: no 5xx, every report acknowledged is stored (and only
those), and the access log verifies afterwards. Timings go to BENCHMARKS.md from
`make bench`, never here."""

from __future__ import annotations

from bench.bench_load import KINDS, problems, run_load
from tests import figures
from tests.audit.conftest import only_postgres

pytestmark = only_postgres


def test_mixed_load_loses_nothing_and_the_log_verifies(database_url, tmp_path):
    outcome = run_load(database_url, tmp_path / "instance", seconds=60)
    figures.add("data lost", outcome.lost)
    assert problems(outcome) == []
    assert outcome.five_xx == 0 and outcome.lost == 0
    assert outcome.acked and outcome.acked == outcome.stored
    assert outcome.web_acked and outcome.web_acked == outcome.web_stored
    assert all(outcome.latencies[kind] for kind in KINDS), dict(outcome.statuses)
    assert outcome.verified, outcome.verify_output
