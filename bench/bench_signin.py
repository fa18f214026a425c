"""Issue 2: the sign-in page vs a bare Flask route on the same gunicorn server."""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.http_load import ROOT, gunicorn, measure
from bench.report import ratio, write_section


def run(seconds: float) -> str:
    """Measure and return the markdown section."""
    with tempfile.TemporaryDirectory() as tmp:
        env = {"VIGIL_INSTANCE_PATH": tmp, "VIGIL_DATABASE_URL": f"sqlite:///{Path(tmp)}/b.db"}
        # This interpreter running flask on the bench app: no outside input.
        subprocess.run(  # nosec B603
            [sys.executable, "-m", "flask", "--app", "bench.bench_server", "db", "upgrade"],
            cwd=ROOT,
            env={**__import__("os").environ, **env},
            check=True,
            capture_output=True,
        )
        with gunicorn("bench.bench_server:app", env) as port:
            bare = measure(port, "/__bench/bare", seconds=seconds)
            login = measure(port, "/login", seconds=seconds)
            health = measure(port, "/healthz", seconds=seconds)
    return "\n".join(
        [
            "## Sign-in page vs bare route (issue 2)",
            "",
            "gunicorn, 2 sync workers, SQLite; 4 concurrent client threads on the same 2 cores",
            f"(so the client's own cost is inside every number); {seconds:.0f} s per route.",
            "",
            "| route | requests/s | vs bare route |",
            "|---|---:|---:|",
            f"| bare Flask route (`/__bench/bare`) | {bare:,.0f} | 1.00x |",
            f"| health check with a database query (`/healthz`) | {health:,.0f} | "
            f"{ratio(health, bare)} |",
            f"| sign-in page: session, CSRF token, template (`/login`) | {login:,.0f} | "
            f"{ratio(login, bare)} |",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--quick", action="store_true", help="2 s per route")
    args = parser.parse_args()
    section = run(2.0 if args.quick else args.seconds)
    write_section("signin", section)
    print(section)


if __name__ == "__main__":
    main()
