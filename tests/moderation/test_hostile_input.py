"""Hostile input (issue 14, item 3): Hypothesis-drawn text through the API and the web forms.

Conversation text, titles, attachment names, descriptions, notice explanations, names and
emails are drawn from HTML/JS payloads, Unicode edge cases (bidi overrides, zero-width and
tag characters, combining marks, surrogates where JSON can carry them), control characters,
log-injection line breaks, and empty and huge values. Each goes in through the real HTTP
surface, and every page that later shows it is parsed: no 5xx, no element or attribute the
input made up, the value shown as text (escaped, hidden characters as markers), and every
log record the app writes in the meantime stays one line.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from html.parser import HTMLParser
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

from app import create_app
from core.textsafety import visible_text
from core.web import NUL_REFUSED
from tests import figures
from tests.conftest import test_settings
from tests.factories import Factory, make_conversation, make_token
from tests.helpers import csrf_token, post_form, report_body

# Huge drawn values make Hypothesis warn that their repr is large; the values are meant.
pytestmark = pytest.mark.filterwarnings("ignore:Generating overly large repr")
EXAMPLES = 25  # per test and backend: the whole file stays well under a minute per backend
HYPOTHESIS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,  # nothing written into the checkout
    phases=(Phase.explicit, Phase.generate),  # a failure is reported as drawn: shrinking
    # a whole HTTP round trip per step can take minutes
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# --- what is drawn -------------------------------------------------------------------

PAYLOADS = (
    '<script>alert("x")</script>',
    "</textarea><script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "' autofocus onfocus='alert(1)",
    '" style="background:url(//evil.example)',
    "<svg/onload=alert(1)>",
    "<iframe srcdoc='<script>alert(1)</script>'>",
    "<a href=javascript:alert(1)>click</a>",
    "[click me](javascript:alert(1)) https://evil.example",
    "{{ 7*7 }}{% raw %}${7*7}",
    "<!-- --><![CDATA[x]]>&lt;script&gt;&amp;&#60;",
    "invoice\u202egpj.exe",  # right-to-left override
    "pay\u200bpal\u200d\u2060\ufeff",  # zero-width characters
    "\u2066hidden\u2069\u2028\u2029",  # isolates, line and paragraph separators
    "Z\u0336\u0335\u0334a\u0301\u0301\u0301\u0301l\u0489\u0489go",  # combining marks
    "\U000e0041\U000e0042 tag characters",
    "\x1b[31mred\x1b[0m\x07\x08\x7f\x85",  # control characters
    "ok\r\nERROR forged log line\nINFO another",  # log injection
    "\r\n\r\nSet-Cookie: a=b",
    "\U0001f600 \U0001f9d1\u200d\U0001f4bb emoji",
)
TEXT = st.text(alphabet=st.characters(codec="utf-8"), max_size=40)  # any Unicode, no surrogates
PIECES = st.one_of(st.sampled_from(PAYLOADS), TEXT)
SMALL = st.lists(PIECES, max_size=4).map("".join)  # empty now and then
HUGE = st.builds(
    lambda piece, n: (piece * (n // len(piece) + 1))[:n],
    st.sampled_from(("<", "\u200b", "A", '"><b>', "\u202e")),
    st.sampled_from((130, 256, 2001, 5000, 32_001)),  # around each field's limit
)
HOSTILE = st.one_of(SMALL, SMALL, SMALL, HUGE)  # mostly accepted, sometimes over a limit
# JSON carries what a form cannot: lone surrogates ("\ud800") and NUL. One field of the
# body at a time gets one of these (or a huge value), so most bodies are still stored.
POISON = st.one_of(
    HUGE,
    st.lists(st.one_of(PIECES, st.sampled_from(("\ud800", "\udfff", "\x00"))), min_size=1).map(
        "".join
    ),
)
API_FIELDS = ("text", "title", "description", "attachment", "model_id", "owner_id")
EVERY = "".join(PAYLOADS)  # always tried once: every payload in every field, within limits


# --- how pages are judged --------------------------------------------------------------

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
# Every element Vigil's own templates write (WTForms widgets write only these too).
OWN_TAGS = frozenset(
    re.findall(r"<([a-z][a-z0-9]*)", "".join(p.read_text() for p in TEMPLATES.rglob("*.html")))
)
# Attributes that run code or load something, none of which the templates write.
FOREIGN_ATTRIBUTES = frozenset({"style", "srcdoc", "formaction", "background", "xmlns"})
URL_ATTRIBUTES = frozenset({"href", "src", "action", "formaction", "data"})
HIDDEN = ("\u202e", "\u200b", "\u2066", "\ufeff", "\U000e0041", "\x1b", "\u0000")


class Page(HTMLParser):
    """A response parsed the way a browser's tokenizer splits it: elements and text."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.chunks: list[str] = []
        self.feed(html)
        self.close()
        self.text = "".join(self.chunks)

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.chunks.append(data)


def shown(value: str) -> str:
    """The text a page shows for `value` through the |visible filter (markers included)."""
    return Page(str(visible_text(value))).text


def as_json_carries(value: str) -> str:
    """The text the server receives for `value` sent in a JSON body: two drawn lone
    surrogates that happen to form a pair ("\\ud800\\udfff") arrive as one character."""
    return json.loads(json.dumps(value))


def assert_safe(html: str, *shown_texts: str, raw: tuple[str, ...] = ()) -> Page:
    """No element or attribute came from input, every value shows as text, no hidden
    character reaches the page unmarked."""
    page = Page(html)
    for tag, attrs in page.elements:
        assert tag in OWN_TAGS, f"element <{tag}> injected"
        for name, value in attrs.items():
            assert not name.startswith("on"), f"event handler {name}= on <{tag}>"
            assert name not in FOREIGN_ATTRIBUTES, f"{name}= on <{tag}>"
            if name in URL_ATTRIBUTES and value:
                own = value == "data:," or value.startswith(("/", "#", "?", "data:image/"))
                assert own, f"{name}={value!r} on <{tag}>"
        if tag == "script":
            assert (attrs.get("src") or "").startswith("/static/"), "inline script"
    for text in shown_texts:
        assert shown(text) in page.text, f"{text[:80]!r} is not shown as text"
    values = [value or "" for _tag, attrs in page.elements for value in attrs.values()]
    rest = page.text
    for text in raw:  # values a form gives back as typed, or shown without the filter
        assert text in page.text or text in values, f"{text[:80]!r} is not shown"
        rest = rest.replace(text, "")
    for char in HIDDEN:
        assert char not in rest, f"U+{ord(char):04X} shown unmarked"
    return page


class OneLineLog(logging.Handler):
    """Collects every record the app's loggers emit, formatted as a log file would."""

    LOGGERS = ("access_control", "audit", "core", "moderation", "privacy", "app", "flask.app")
    LOGGERS += ("werkzeug", "casbin", "flask_limiter", "limits", "gunicorn")

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
        self.lines: list[str] = []

    def emit(self, record):
        self.lines.append(self.format(record))

    def __enter__(self):
        root = logging.getLogger()
        root.addHandler(self)
        self._levels = {}
        for name in self.LOGGERS:
            logger = logging.getLogger(name)
            self._levels[name] = logger.level
            logger.setLevel(logging.DEBUG)
        return self

    def __exit__(self, *exc):
        logging.getLogger().removeHandler(self)
        for name, level in self._levels.items():
            logging.getLogger(name).setLevel(level)

    def assert_one_line_each(self) -> None:
        for line in self.lines:
            assert len(line.splitlines()) <= 1, f"a log record spans lines: {line[:300]!r}"


# --- the app under attack ------------------------------------------------------------


@pytest.fixture
def app(database_url, tmp_path):
    """Vigil with its throttles out of the way: this file floods it on purpose."""
    generous = {
        "REPORT_LIMIT_PER_REPORTER": "100000 per hour",
        "REPORT_LIMIT_PER_ADDRESS": "100000 per minute",
        "NOTICE_LIMIT_PER_ADDRESS": "100000 per hour",
    }
    application = create_app(test_settings(database_url, tmp_path) | generous)
    yield application
    application.extensions["vigil.engine"].dispose()


@pytest.fixture
def reviewer(app):
    """A signed-in client of a general reviewer who may also see notifiers' contact details,
    with text unblurred (so the case page shows every message)."""
    factory, client = Factory(app), app.test_client()
    factory.login_as(client, "reviewer:general", "specialist:legal")
    post_form(client, "/review/preferences", {"display": "yes"}, token_from="/account")
    return client


def _no_5xx(response, what: str):
    assert response.status_code < 500, f"{what}: {response.status_code}"
    return response


def _case_page(reviewer, case_id: int) -> str:
    token = csrf_token(reviewer, "/account")
    opened = reviewer.post(f"/review/cases/{case_id}/open", data={"csrf_token": token})
    assert opened.status_code == 302
    assert opened.headers["Location"].endswith(f"/review/cases/{case_id}"), "not claimed"
    page = _no_5xx(reviewer.get(f"/review/cases/{case_id}"), "case page")
    assert page.status_code == 200
    return page.get_data(as_text=True)


def _case_of(app, ref: str) -> int:
    from sqlmodel import Session, select

    from core.db import read_only
    from moderation.intake.models import Report

    with Session(read_only(app.extensions["vigil.engine"])) as session:
        return session.exec(select(Report.case_id).where(Report.ref == ref)).one()


# --- the JSON API ----------------------------------------------------------------------


def test_api_report_and_conversation_fields(app, reviewer):
    """POST /api/v1/reports and PUT /api/v1/conversations/<id> with hostile fields: 201 or a
    422 problem, never 5xx; the reviewer's case page and the public notice page show
    every stored value as text."""
    client = app.test_client()
    token = make_token(app, scopes=("reports:write", "conversations:write"))
    headers = {"Authorization": f"Bearer {token}"}
    tried = 0

    @HYPOTHESIS
    @given(
        fields=st.fixed_dictionaries({name: SMALL for name in API_FIELDS}),
        more_texts=st.lists(SMALL, max_size=2),
        poison=st.one_of(st.none(), st.tuples(st.sampled_from(API_FIELDS), POISON)),
    )
    @example(
        fields={
            "text": EVERY,
            "title": EVERY[:200],
            "description": EVERY,
            "attachment": EVERY[:255],
            "model_id": EVERY[:100],
            "owner_id": EVERY[:128],
        },
        more_texts=[EVERY[::-1]],
        poison=None,
    )
    @example(  # two lone surrogates that JSON joins into one character (CI found it)
        fields=dict.fromkeys(API_FIELDS, ""),
        more_texts=[],
        poison=("text", '"><img src=x onerror=alert(1)>\ud800\udfff'),
    )
    def attempt(fields, more_texts, poison):
        nonlocal tried
        tried += 1
        if poison is not None:
            fields[poison[0]] = poison[1]
        texts = (fields["text"], *more_texts)
        body = report_body(texts=texts, reporter_id=f"r-{uuid.uuid4().hex[:8]}")
        conversation = body["conversation"]
        conversation.update(
            title=fields["title"], model_id=fields["model_id"] or "m", owner_id=fields["owner_id"]
        )
        conversation["messages"][0]["attachment"] = {
            "name": fields["attachment"] or "a.txt",
            "media_type": "application/octet-stream",
            "size": 1,
            "sha256": "ab" * 32,
        }
        body["description"], body["message_ids"] = fields["description"], []
        with OneLineLog() as log:
            sent = _no_5xx(client.post("/api/v1/reports", json=body, headers=headers), "report")
            assert sent.status_code in (201, 422), sent.get_data(as_text=True)[:300]
            if sent.status_code == 201:
                receipt = _no_5xx(client.get(sent.headers["Location"], headers=headers), "get")
                assert receipt.json["reference"] == sent.json["reference"]
                html = _case_page(reviewer, _case_of(app, sent.json["reference"]))
                sent_texts = (*texts, fields["description"], fields["attachment"] or "a.txt")
                assert_safe(html, *map(as_json_carries, sent_texts))
            else:
                assert sent.mimetype == "application/problem+json" and sent.json["errors"]
            put = {k: v for k, v in conversation.items() if k != "id"}
            stored = _no_5xx(
                client.put(
                    f"/api/v1/conversations/c-{uuid.uuid4().hex}", json=put, headers=headers
                ),
                "put",
            )
            assert stored.status_code in (201, 422), stored.get_data(as_text=True)[:300]
            if stored.status_code == 201 and conversation["product"] != "ocr":
                notice = _no_5xx(client.get(f"/notice/{stored.json['reference']}"), "notice")
                assert notice.status_code == 200
                assert_safe(notice.get_data(as_text=True))
        log.assert_one_line_each()

    attempt()
    figures.add("hostile inputs tried", tried)


# --- the web forms ---------------------------------------------------------------------


def test_web_report_form_and_public_notice(app, reviewer):
    """A user reports their own conversation (hostile title and text) with a hostile
    description; someone else files a public notice with a hostile explanation, name and
    email. The forms answer with inline errors or a redirect, never 5xx; the re-shown forms,
    /reports, the notice confirmation and the reviewer's case page show every value as text."""
    factory = Factory(app)
    user_client, stranger = app.test_client(), app.test_client()
    user = factory.make_user(totp=False)
    factory.login(user_client, user)
    tried = 0

    @HYPOTHESIS
    @given(
        title=HOSTILE,
        texts=st.lists(HOSTILE, min_size=1, max_size=3),
        description=HOSTILE,
        explanation=HOSTILE,
        name=HOSTILE,
        email=HOSTILE,
    )
    @example(
        title=EVERY,
        texts=[EVERY, EVERY[::-1]],
        description=EVERY,
        explanation=EVERY,
        name=EVERY[:120],
        email=EVERY,
    )
    def attempt(title, texts, description, explanation, name, email):
        nonlocal tried
        tried += 1
        # The chat product stores the conversation (no web form writes titles or messages),
        # with the title the API would accept: at most 200 characters, no NUL.
        title = title.replace("\x00", "")[:200]
        conversation = make_conversation(app, user, title=title, texts=tuple(texts))
        notice_url = f"/notice/{conversation.public_ref}"
        typed = {"description": description, "explanation": explanation}
        typed |= {"name": name, "email": email}
        if any("\x00" in value for value in typed.values()):
            # NUL is refused at the door for every form, with a clear page; then retyped.
            refused = post_form(stranger, notice_url, typed, token_from=notice_url)
            assert refused.status_code == 400
            assert NUL_REFUSED in assert_safe(refused.get_data(as_text=True)).text
            description, explanation, name, email = (
                value.replace("\x00", "") for value in typed.values()
            )
        with OneLineLog() as log:
            own = _no_5xx(user_client.get(f"/conversations/{conversation.id}"), "own page")
            assert_safe(own.get_data(as_text=True), *texts)
            url = f"/conversations/{conversation.id}/report"
            form = {"message_ids": ["m0"], "description": description}
            again = _no_5xx(post_form(user_client, url, form, token_from=url), "report form")
            assert again.status_code == 200  # no category chosen: the form comes back
            shown_again = assert_safe(again.get_data(as_text=True), raw=(description,))
            assert "Choose a category." in shown_again.text
            form["category"] = "scam_fraud"
            sent = _no_5xx(post_form(user_client, url, form, token_from=url), "report form")
            if len(description) > 2000:
                assert sent.status_code == 200 and "2000" in sent.get_data(as_text=True)
                form["description"] = description = description[:2000]
                sent = _no_5xx(post_form(user_client, url, form, token_from=url), "report")
            assert sent.status_code == 302, sent.get_data(as_text=True)[:300]
            mine = _no_5xx(user_client.get("/reports"), "/reports")
            assert_safe(mine.get_data(as_text=True), title or "Untitled conversation")

            notice = {
                "category": "scam_fraud",
                "explanation": explanation,
                "name": name,
                "email": email,
                "message_ids": ["m0"],
            }
            back = _no_5xx(post_form(stranger, notice_url, notice, token_from=notice_url), "n")
            assert back.status_code == 200  # no good-faith statement: the form comes back
            assert_safe(back.get_data(as_text=True), raw=(explanation, name.strip(), email.strip()))
            valid = {
                **notice,
                "good_faith": "y",
                "explanation": explanation.strip()[:2000] or "It is a scam.",
                "name": name.strip()[:120].strip() or "A. Person",
                "email": "someone@example.test",
            }
            filed = _no_5xx(post_form(stranger, notice_url, valid, token_from=notice_url), "n")
            assert filed.status_code == 302, filed.get_data(as_text=True)[:500]
            confirmation = _no_5xx(stranger.get("/notice/sent"), "notice sent")
            assert_safe(confirmation.get_data(as_text=True))
            html = _case_page(reviewer, _case_of(app, mine_ref(mine)))
            assert_safe(html, *texts, description, valid["explanation"], raw=(valid["name"],))
        log.assert_one_line_each()

    attempt()
    figures.add("hostile inputs tried", tried)


def mine_ref(page) -> str:
    """The newest report reference on /reports."""
    return re.findall(r'<code class="ref">([^<]+)</code>', page.get_data(as_text=True))[0]


def test_an_empty_message_beside_sealed_ones_is_stored(app):
    """Found by the test above on SQLite: an empty text (nothing to seal) took the id
    already issued to the next message of the same flush, a 500."""
    token = make_token(app, scopes=("conversations:write",))
    body = report_body(texts=("", "x", "", "y"))["conversation"]
    conversation_id = body.pop("id")
    headers = {"Authorization": f"Bearer {token}"}
    client = app.test_client()
    for status in (201, 200):  # created, then replaced
        stored = client.put(f"/api/v1/conversations/{conversation_id}", json=body, headers=headers)
        assert stored.status_code == status, stored.get_data(as_text=True)[:300]
        assert stored.json["message_count"] == 4
