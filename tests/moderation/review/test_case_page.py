"""The case page shows hostile conversation text escaped, with hidden characters marked."""

from __future__ import annotations

from tests.factories import make_case
from tests.helpers import claim_next, post_form


def _csrf(client, case_id: int) -> str:
    html = client.get(f"/review/cases/{case_id}").get_data(as_text=True)
    return html.split('name="csrf-token" content="')[1].split('"')[0]


HOSTILE = (
    '<script>alert("x")</script>',
    '"><img src=x onerror=alert(1)>',
    "[click me](javascript:alert(1)) https://evil.example",
    "invoice\u202egpj.exe and pay\u200bpal\u200d",
)


def _assert_safe(html: str) -> None:
    assert "<script>alert" not in html and "<img src=x" not in html
    assert "&lt;script&gt;" in html and "&#34;&gt;&lt;img" in html
    assert 'href="javascript:' not in html and 'href="https://evil' not in html
    assert "[RLO]" in html and "[ZWSP]" in html and "[ZWJ]" in html
    assert "\u202e" not in html


def test_hostile_text_is_escaped_when_revealed_and_unblurred(app, client, factory):
    make_case(app, texts=HOSTILE)
    factory.login_as(client, "reviewer:general")
    case_id, _ = claim_next(client)
    blurred = client.get(f"/review/cases/{case_id}").get_data(as_text=True)
    assert "alert" not in blurred and "evil.example" not in blurred  # not sent until revealed
    csrf = {"X-CSRFToken": _csrf(client, case_id)}
    revealed = "".join(
        client.post(f"/review/cases/{case_id}/reveal/{i}", headers=csrf).json["html"]
        for i in range(len(HOSTILE))
    )
    _assert_safe(revealed)
    assert client.post(f"/review/cases/{case_id}/reveal/99", headers=csrf).status_code == 404
    post_form(client, "/review/preferences", {"display": "yes"}, token_from="/account")  # blur off
    _assert_safe(client.get(f"/review/cases/{case_id}").get_data(as_text=True))


def test_hostile_attachment_name_is_escaped_and_its_hidden_characters_shown(app, client, factory):
    from tests.factories import make_token
    from tests.helpers import Api, report_body

    body = report_body(reporter_id="att")
    body["conversation"]["messages"][1]["attachment"] = {
        "name": '"><b>x</b>invoice\u202egpj.exe\u200b',
        "media_type": "application/octet-stream",
        "size": 10,
        "sha256": "ab" * 32,
    }
    assert Api(app.test_client(), make_token(app)).post(body).status_code == 201
    factory.login_as(client, "reviewer:general")
    case_id, _ = claim_next(client)
    html = client.get(f"/review/cases/{case_id}").get_data(as_text=True)
    assert "[RLO]" in html and "[ZWSP]" in html  # shown even while the text is blurred
    assert "\u202e" not in html and "\u200b" not in html and "<b>x</b>" not in html
