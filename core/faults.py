"""A test-only pause at named points, for the crash drills (tests/drills).

`VIGIL_PAUSE_AT=decision:/tmp/drill/hold` makes a request that reaches `pause("decision")`
log one line naming its process, then wait there, in the middle of its transaction, for as
long as that file exists (at most a minute), so a drill can `kill -9` the worker at that
moment and then let later requests through by deleting the file. Unset (always in
production, which refuses to start with it), `pause` does nothing.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from flask import current_app

from core.config import setting

MAX_PAUSE_SECONDS = 60


def pause(point: str) -> None:
    """Hold the request here while the drill's file exists."""
    name, _, hold = setting("PAUSE_AT").partition(":")
    if not name or name != point or not Path(hold).exists():
        return
    current_app.logger.warning("paused at %s in process %d", point, os.getpid())
    deadline = time.monotonic() + MAX_PAUSE_SECONDS
    while Path(hold).exists() and time.monotonic() < deadline:
        time.sleep(0.05)
