"""Request ids, security headers, error pages and RFC 9457 problem details."""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from flask import (
    Flask,
    abort,
    current_app,
    g,
    has_request_context,
    jsonify,
    make_response,
    render_template,
    request,
)
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from markupsafe import Markup, escape
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.exceptions import BadRequest, HTTPException, InternalServerError, ServiceUnavailable
from werkzeug.routing import IntegerConverter

from core.db import COUNT_CAP
from core.timeutil import as_utc

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
ERROR_CODES = (400, 401, 403, 404, 405, 409, 413, 415, 422, 429, 500, 503)
TITLES = {
    400: "Bad request",
    401: "Sign-in required",
    403: "Not allowed",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Request too large",
    415: "Unsupported media type",
    422: "Invalid input",
    429: "Too many requests",
    500: "Something went wrong",
    503: "Temporarily unavailable",
}


def public(view: Callable) -> Callable:
    """Mark a view as open to anyone, on purpose (a test walks url_map for unmarked views)."""
    view.vigil_public = True
    return view


def wants_problem_json() -> bool:
    """API paths answer errors as application/problem+json."""
    return request.path.startswith("/api/")


def local_time(value, with_seconds: bool = False) -> str:
    """A time in the viewer's zone (g.vigil_time_zone, UTC by default), to the minute, with
    the zone's name: never microseconds. Accepts datetimes and ISO strings."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    zone = ZoneInfo(g.get("vigil_time_zone", "UTC")) if has_request_context() else UTC
    shown = value.astimezone(zone)
    return shown.strftime("%Y-%m-%d %H:%M:%S %Z" if with_seconds else "%Y-%m-%d %H:%M %Z")


def code_spans(text: str) -> Markup:
    """Escape documentation text, then show its `backtick` spans as code (no literal
    markdown on the page)."""
    escaped = str(escape(text))
    html = re.sub(r"`([^`]+)`", r"<code>\1</code>", escaped)
    return Markup(html)  # noqa: S704 (escaped above)  # nosec B704


def problem(status: int, detail: str, **extra) -> tuple:
    """An RFC 9457 problem details response."""
    body = {"type": "about:blank", "title": TITLES.get(status, "Error"), "status": status}
    body.update(detail=detail, instance=request.path, **extra)
    response = jsonify(body)
    response.status_code = status
    response.mimetype = "application/problem+json"
    return response


def _handle_http(exc: HTTPException):
    status = exc.code or 500
    if wants_problem_json():
        response = problem(status, exc.description or TITLES.get(status, ""))
    else:
        # Only Vigil's own messages are shown (CSRF, NUL); werkzeug's defaults stay generic.
        detail = getattr(exc, "vigil_detail", "")
        html = render_template(
            "errors/error.html", status=status, title=TITLES.get(status), detail=detail
        )
        response = make_response(html, status)
    # Keep headers the exception carries (Retry-After on 429, Allow on 405).
    for name, value in exc.get_headers():
        if name.lower() != "content-type":
            response.headers[name] = value
    return response


def _handle_csrf(exc: CSRFError):
    exc.description = "The form expired or did not come from Vigil. Reload the page and retry."
    return _handle_http(exc)


def _handle_unexpected(exc: Exception):
    if isinstance(exc, HTTPException):
        return _handle_http(exc)
    current_app.logger.exception("unhandled error (request %s)", getattr(g, "request_id", "?"))
    return _handle_http(InternalServerError())


DATABASE_RETRY_SECONDS = 5


def _handle_database_down(exc: Exception):
    """The database cannot be reached (stopped, restarting, pool exhausted): 503 with
    Retry-After, one log line and no trace. The transaction never committed, so nothing was
    half-written; the pool's pre-ping replaces the dead connections once it is back."""
    current_app.logger.error(
        "database unavailable (request %s): %s",
        getattr(g, "request_id", "?"),
        str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__,
    )
    if "_login_user" not in g:  # draw the page's header without asking the database
        g._login_user = current_app.login_manager.anonymous_user()
    return _handle_http(ServiceUnavailable(retry_after=DATABASE_RETRY_SECONDS))


def _start_request() -> None:
    g.request_id = secrets.token_hex(8)


NUL_REFUSED = "The input contains a NUL character, which no field in Vigil accepts."


MAX_ID = 2**31 - 1  # PostgreSQL integer: larger ids exist nowhere (and would be a 500)


def bounded_int(raw: str | None) -> int:
    """A form or query id as an int the database can hold; 0 for anything else."""
    raw = (raw or "").strip()
    return int(raw) if raw.isdigit() and len(raw) <= 10 and int(raw) <= MAX_ID else 0


class BoundedInt(IntegerConverter):
    """`<int:...>` in every route: ids past what PostgreSQL's integer holds are 404, not 500."""

    def __init__(self, url_map, *args, **kwargs) -> None:
        kwargs.setdefault("max", MAX_ID)
        super().__init__(url_map, *args, **kwargs)


def _refuse_nul() -> None:
    # One rule at the door for the path, every form and query string: NUL is never
    # meaningful input, and PostgreSQL cannot store or compare it in text (a 500 otherwise).
    if "\x00" in request.path:
        abort(404)
    for values in (request.args, request.form):
        if any("\x00" in k + v for k, v in values.items(multi=True)):
            refused = BadRequest(NUL_REFUSED)
            refused.vigil_detail = NUL_REFUSED
            raise refused


def _secure_headers(response):
    headers = response.headers
    headers.setdefault("Content-Security-Policy", CSP)
    headers["X-Content-Type-Options"] = "nosniff"
    headers["X-Frame-Options"] = "DENY"
    headers["Referrer-Policy"] = "no-referrer"
    headers["Cross-Origin-Opener-Policy"] = "same-origin"
    headers["Cross-Origin-Resource-Policy"] = "same-origin"
    headers["Permissions-Policy"] = "camera=(), microphone=(), geolocation=(), interest-cohort=()"
    headers["X-Request-ID"] = getattr(g, "request_id", "")
    if request.is_secure:
        headers["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains"
    if not request.path.startswith("/static/"):
        # Authenticated pages (and sign-in forms carrying CSRF tokens) are never cached.
        headers["Cache-Control"] = "no-store"
        headers["Pragma"] = "no-cache"
    elif current_user and getattr(current_user, "is_authenticated", False):
        headers["Cache-Control"] = "private, max-age=300"
    return response


def init_web(app: Flask) -> None:
    """Wire request ids, headers and error handlers into the app."""
    from core.textsafety import hidden_characters, visible_text

    app.jinja_env.filters["visible"] = visible_text  # every piece of conversation text
    app.jinja_env.filters["hidden_count"] = hidden_characters
    app.jinja_env.filters["capped"] = lambda n, cap=COUNT_CAP: f"{cap:,}+" if n > cap else f"{n:,}"
    app.jinja_env.filters["code_spans"] = code_spans
    app.jinja_env.filters["local"] = local_time
    app.jinja_env.filters["utc"] = lambda value: as_utc(value) if value else value
    app.url_map.converters["int"] = BoundedInt
    app.before_request(_start_request)
    app.before_request(_refuse_nul)
    app.after_request(_secure_headers)
    app.register_error_handler(CSRFError, _handle_csrf)
    app.register_error_handler(OperationalError, _handle_database_down)
    app.register_error_handler(PoolTimeout, _handle_database_down)
    app.register_error_handler(HTTPException, _handle_http)
    app.register_error_handler(Exception, _handle_unexpected)
