"""Start Vigil on gunicorn (sync workers) and measure requests per second."""

from __future__ import annotations

import http.client
import os
import socket
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    """A free TCP port on the loopback interface."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def gunicorn(app_spec: str, env: dict[str, str], workers: int = 2):
    """Run gunicorn with sync workers on a free local port; yield the port."""
    port = free_port()
    # This interpreter running gunicorn on the bench app: no outside input.
    process = subprocess.Popen(  # nosec B603
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--workers",
            str(workers),
            "--worker-class",
            "sync",
            "--bind",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
            app_spec,
        ],
        cwd=ROOT,
        env={**os.environ, **env},
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        else:
            raise RuntimeError("gunicorn did not start")
        yield port
    finally:
        process.terminate()
        process.wait(timeout=30)


def request(
    port: int, method: str, path: str, *, headers: dict[str, str], body: bytes | None = None
) -> int:
    """One request on a fresh connection (sync workers close them anyway); the status."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def measure_calls(
    call, *, seconds: float, clients: int = 4, expect: int = 200, warmup: int = 20
) -> float:
    """Calls per second of `call()` (which returns a status) from `clients` threads."""
    for _ in range(warmup):  # warm up every worker and its caches
        call()
    counts = [0] * clients
    errors: list[str] = []
    stop = time.monotonic() + seconds

    def loop(slot: int) -> None:
        while time.monotonic() < stop:
            status = call()
            if status != expect:
                errors.append(str(status))
                return
            counts[slot] += 1

    threads = [threading.Thread(target=loop, args=(i,)) for i in range(clients)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise RuntimeError(f"expected {expect}, got {errors[0]}")
    return sum(counts) / (time.monotonic() - started)


def measure(
    port: int,
    path: str,
    *,
    seconds: float,
    clients: int = 4,
    headers: dict[str, str] | None = None,
    expect: int = 200,
) -> float:
    """GET requests per second for `path`."""
    return measure_calls(
        lambda: request(port, "GET", path, headers=headers or {}),
        seconds=seconds,
        clients=clients,
        expect=expect,
    )


def sign_in_cookie(port: int, email: str, password: str, totp_secret: str | None = None) -> str:
    """Sign in through the real forms (password, then TOTP when asked); the Cookie header."""
    import http.cookiejar
    import re
    import urllib.parse
    import urllib.request

    import pyotp

    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    base = f"http://127.0.0.1:{port}"

    def post(path: str, data: dict) -> str:
        html = opener.open(base + path).read().decode()
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)
        body = urllib.parse.urlencode({"csrf_token": token, **data}).encode()
        return opener.open(base + path, body).geturl()

    landed = post("/login", {"email": email, "password": password})
    if totp_secret is not None and "/login/mfa" in landed:
        post("/login/mfa", {"code": pyotp.TOTP(totp_secret).now()})
    return "; ".join(f"{c.name}={c.value}" for c in jar)
