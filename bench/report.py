"""Write one benchmark's section into BENCHMARKS.md, keeping the others."""

from __future__ import annotations

import os
import platform
import re
from datetime import UTC, datetime
from pathlib import Path

# The PostgreSQL server benchmarks create their databases on (dropped afterwards).
PG_ADMIN = os.environ.get(
    "VIGIL_BENCH_POSTGRES_URL",
    os.environ.get(
        "VIGIL_TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    ),
)
BENCHMARKS = Path(__file__).resolve().parent.parent / "BENCHMARKS.md"
HEADER = (
    "# Vigil benchmarks\n\n"
    "Written by `make bench` (each section by its own script in `bench/`). Every ratio is\n"
    "measured in the same run, on the same machine, against a baseline that run also\n"
    "measured. Numbers from different machines or runs are not comparable; ratios are.\n"
)


def machine() -> str:
    """One line describing where the numbers came from."""
    import os

    return f"{platform.python_implementation()} {platform.python_version()}, {os.cpu_count()} cores"


def write_section(name: str, body: str) -> None:
    """Replace (or add) the section named `name` in BENCHMARKS.md."""
    text = BENCHMARKS.read_text(encoding="utf-8") if BENCHMARKS.exists() else HEADER
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    block = (
        f"<!-- bench:{name} -->\n{body.rstrip()}\n\n_Measured {stamp} on {machine()}._\n"
        f"<!-- /bench:{name} -->\n"
    )
    pattern = re.compile(
        rf"<!-- bench:{re.escape(name)} -->.*?<!-- /bench:{re.escape(name)} -->\n", re.S
    )
    text = pattern.sub(lambda _m: block, text) if pattern.search(text) else f"{text}\n{block}"
    BENCHMARKS.write_text(text, encoding="utf-8")


def ratio(value: float, baseline: float) -> str:
    """value/baseline as text, e.g. '0.42x'."""
    return f"{value / baseline:.2f}x" if baseline else "n/a"


# Figures a run measured, for the goals table (`bench/__main__.py` writes it last).
FIGURES: dict[str, float] = {}


def figure(name: str, value: float) -> None:
    """Remember one measured figure of this run under `name`."""
    FIGURES[name] = value
