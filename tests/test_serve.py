"""`flask --app app serve` (what `make run` starts): the app and the checkpoint sidecar
come up together, the demo log gets signed, and one Ctrl-C stops both."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait(check, seconds: float = 30.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if result := check():
                return result
        except OSError:
            pass
        time.sleep(0.2)
    raise AssertionError("timed out")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_serve_runs_the_app_and_the_sidecar_and_stops_both_on_ctrl_c(tmp_path):
    instance = tmp_path / "instance"
    env = {**os.environ, "VIGIL_INSTANCE_PATH": str(instance), "VIGIL_ENV": "development"}
    env.pop("VIGIL_DATABASE_URL", None)
    flask = [sys.executable, "-m", "flask", "--app", "app"]
    subprocess.run([*flask, "db", "upgrade"], cwd=ROOT, env=env, check=True, capture_output=True)
    port = _free_port()
    server = subprocess.Popen(
        [*flask, "serve", "--port", str(port), "--workers", "1"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    try:
        pids = {}
        while len(pids) < 2:
            line = server.stdout.readline()
            assert line, "".join(lines)
            lines.append(line)
            if line.startswith("started "):
                name, pid = line.removeprefix("started ").rsplit(" (pid ", 1)
                pids[name] = int(pid.rstrip(")\n"))
        assert set(pids) == {"gunicorn", "checkpoint sidecar"}
        url = f"http://127.0.0.1:{port}/login"
        assert _wait(lambda: urllib.request.urlopen(url, timeout=2).status == 200)
        # The sidecar's first round signs the (empty) demo log and copies the note out.
        checkpoints = instance / "checkpoints"
        assert _wait(lambda: list(checkpoints.glob("*.checkpoint")))
        server.send_signal(signal.SIGINT)
        output, _ = server.communicate(timeout=30)
        lines.append(output)
    finally:
        if server.poll() is None:
            server.kill()
    text = "".join(lines)
    assert server.returncode == 0, text
    assert text.rstrip().endswith("stopped"), text
    assert not any(_alive(pid) for pid in pids.values()), text


def test_when_the_app_cannot_start_the_sidecar_is_stopped_too(tmp_path):
    env = {**os.environ, "VIGIL_INSTANCE_PATH": str(tmp_path / "instance")}
    env.pop("VIGIL_DATABASE_URL", None)
    flask = [sys.executable, "-m", "flask", "--app", "app"]
    subprocess.run([*flask, "db", "upgrade"], cwd=ROOT, env=env, check=True, capture_output=True)
    with socket.socket() as taken:  # the port is busy: gunicorn exits at once
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [*flask, "serve", "--port", str(port), "--workers", "1"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=90,
        )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "gunicorn exited with" in result.stderr and "stopping the rest" in result.stderr
    sidecar = int(result.stdout.split("started checkpoint sidecar (pid ", 1)[1].split(")")[0])
    assert not _alive(sidecar)
