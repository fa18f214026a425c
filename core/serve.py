"""`flask --app app serve`: the app servers and the packages' sidecars as one command.

gunicorn (sync workers) serves the app; every sidecar a package registered (the access
log's checkpointer, for one) runs beside it. Ctrl-C or SIGTERM stops them all, and when
one of them dies the others are stopped too, so nothing runs half-deployed.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import click
from flask import Flask, current_app

STOP_SECONDS = 15


def add_sidecar(app: Flask, name: str, *command: str) -> None:
    """Run `flask --app app <command>` beside the app servers under `serve`."""
    app.extensions.setdefault("vigil.sidecars", {})[name] = command


def _stop(children: dict[str, subprocess.Popen]) -> None:
    for child in children.values():
        if child.poll() is None:
            child.send_signal(signal.SIGINT)
    deadline = time.monotonic() + STOP_SECONDS
    for child in children.values():
        try:
            child.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def _interrupt(_signum, _frame) -> None:
    raise KeyboardInterrupt


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(1, 65535), default=5000, show_default=True)
@click.option("--workers", type=click.IntRange(1, 64), default=2, show_default=True)
def serve(host: str, port: int, workers: int) -> None:
    """Run gunicorn and every sidecar together; Ctrl-C stops them all."""
    bin_dir = Path(sys.executable).parent
    gunicorn = [str(bin_dir / "gunicorn"), "--workers", str(workers), "--worker-class"]
    gunicorn += ["sync", "--bind", f"{host}:{port}", "--access-logfile", "-"]
    commands = {"gunicorn": [*gunicorn, "app:create_app()"]}
    for name, command in current_app.extensions.get("vigil.sidecars", {}).items():
        commands[name] = [sys.executable, "-m", "flask", "--app", "app", *command]
    signal.signal(signal.SIGTERM, _interrupt)
    children: dict[str, subprocess.Popen] = {}
    ended = None
    try:
        for name, command in commands.items():
            # Commands are this interpreter, its gunicorn and registered sidecars: no input.
            children[name] = subprocess.Popen(command)  # noqa: S603  # nosec B603
            click.echo(f"started {name} (pid {children[name].pid})")
        while ended is None:
            ended = next((n for n, c in children.items() if c.poll() is not None), None)
            time.sleep(0.2)
        click.echo(f"{ended} exited with {children[ended].returncode}; stopping the rest", err=True)
    except KeyboardInterrupt:
        pass
    finally:
        _stop(children)
    click.echo("stopped")
    if ended is not None:
        sys.exit(1)


def init_app(app: Flask) -> None:
    """Register `serve`."""
    app.cli.add_command(serve)
