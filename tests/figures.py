"""Hardening figures the suite prints at the end of a run (issue 14).

Drills and probes add what they tried; `pytest_terminal_summary` prints the totals, so a
run shows how much was tried, not just that it passed. Each test process keeps its own
tally (the suite runs in one process)."""

from __future__ import annotations

from collections import Counter

# Known figures, in the order they are printed.
FIGURES = (
    "endpoints x roles tried",
    "hostile inputs tried",
    "failures injected",
    "data lost",
)
_TALLY: Counter[str] = Counter({name: 0 for name in FIGURES})


def add(figure: str, count: int = 1) -> None:
    """Add `count` to a figure (ValueError for a figure not declared above)."""
    if figure not in FIGURES:
        raise ValueError(f"unknown figure {figure!r}; declare it in tests/figures.py")
    _TALLY[figure] += count


def summary() -> str:
    """One line: every figure and its count."""
    return "Hardening: " + "; ".join(f"{name}: {_TALLY[name]:,}" for name in FIGURES)
