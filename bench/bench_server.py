"""The app gunicorn serves in benchmarks: Vigil plus a bare route on the same server."""

from __future__ import annotations

from app import create_app

app = create_app()


@app.route("/__bench/bare")
def bare() -> str:
    """The baseline: a Flask route doing nothing, behind the same hooks and server."""
    return "ok"


bare.vigil_public = True
