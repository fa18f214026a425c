"""Sealed values are bound to their table, column and row (issue 14), and the metadata that
was stored in the clear (native titles, attachment names, break-glass reasons, case-event
notes) is sealed too. Attacks are what a database writer without the keys can do: copy a
stored value into another row. Reads go through the pages an owner or reviewer uses."""

from __future__ import annotations

import base64
import os
import uuid

import pyotp
from alembic.script import ScriptDirectory
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import MetaData, select, text
from sqlmodel import Session

from core import migrate
from core.sealed_text import WITHHELD, store_keys
from tests import figures
from tests.factories import make_case, make_conversation, make_token
from tests.helpers import claim_next, post_form


def _sql(app, statement: str, **params) -> list:
    with app.extensions["vigil.engine"].begin() as conn:
        result = conn.execute(text(statement), params)
        return result.all() if result.returns_rows else []


def _message_ids(app, conversation_id: int) -> list[int]:
    rows = _sql(
        app,
        "SELECT id FROM message WHERE conversation_id = :c ORDER BY position",
        c=conversation_id,
    )
    return [row[0] for row in rows]


def _marker(label: str) -> str:
    return f"{label}{uuid.uuid4().hex[:12]}"


def test_a_totp_seed_moved_into_a_message_is_withheld_not_shown(app, client, factory):
    staff = factory.make_user(roles=("reviewer:general",))
    owner = factory.make_user()
    conversation = make_conversation(app, owner, texts=("hello", "the reply stays readable"))
    first = _message_ids(app, conversation.id)[0]
    _sql(
        app,
        'UPDATE message SET text = (SELECT totp_secret FROM "user" WHERE id = :s) WHERE id = :m',
        s=staff.id,
        m=first,
    )
    figures.add("hostile inputs tried")
    factory.login(client, owner)
    page = client.get(f"/conversations/{conversation.id}")
    assert page.status_code == 200
    assert staff.totp_secret not in page.text and WITHHELD in page.text
    assert "the reply stays readable" in page.text  # one value refused, not the page
    assert client.get("/conversations").status_code == 200
    factory.login(app.test_client(), staff)  # the seed still opens where it belongs


def test_a_message_or_a_title_moved_to_another_users_row_is_withheld(app, client, factory):
    secret_text, secret_title = _marker("VICTIMTEXT"), _marker("VICTIMTITLE")
    victim, attacker = factory.make_user(), factory.make_user()
    theirs = make_conversation(app, victim, texts=(secret_text,), title=secret_title)
    mine = make_conversation(app, attacker, texts=("mine", "also mine"), title="Mine")
    # Within one user's rows too: the second message's text copied over the first.
    own = make_conversation(app, attacker, texts=("one", "two"), title="Own")
    (their_message,), (my_message, _) = _message_ids(app, theirs.id), _message_ids(app, mine.id)
    own_first, own_second = _message_ids(app, own.id)
    move = "UPDATE message SET text = (SELECT text FROM message WHERE id = :src) WHERE id = :dst"
    _sql(app, move, src=their_message, dst=my_message)
    _sql(app, move, src=own_second, dst=own_first)
    _sql(
        app,
        "UPDATE conversation SET title = (SELECT title FROM conversation WHERE id = :src)"
        " WHERE id = :dst",
        src=theirs.id,
        dst=mine.id,
    )
    figures.add("hostile inputs tried", 3)
    factory.login(client, attacker)
    listing = client.get("/conversations")
    assert listing.status_code == 200
    assert secret_title not in listing.text and WITHHELD in listing.text and "Own" in listing.text
    page = client.get(f"/conversations/{mine.id}")
    assert page.status_code == 200
    assert secret_text not in page.text and secret_title not in page.text
    assert WITHHELD in page.text and "also mine" in page.text
    assert WITHHELD in client.get(f"/conversations/{own.id}").text
    # The victim's own rows are untouched and still open.
    victim_client = app.test_client()
    factory.login(victim_client, victim)
    assert secret_text in victim_client.get(f"/conversations/{theirs.id}").text


def test_a_totp_seed_copied_to_another_account_does_not_sign_it_in(app, client, factory):
    donor = factory.make_user(roles=("reviewer:general",))
    target = factory.make_user(roles=("reviewer:general",))
    _sql(
        app,
        'UPDATE "user" SET totp_secret = (SELECT totp_secret FROM "user" WHERE id = :d)'
        " WHERE id = :t",
        d=donor.id,
        t=target.id,
    )
    figures.add("hostile inputs tried")
    password = post_form(client, "/login", {"email": target.email, "password": factory.password})
    assert password.headers["Location"].endswith("/login/mfa")
    code = pyotp.TOTP(donor.totp_secret).now()
    second = post_form(client, "/login/mfa", {"code": code}, token_from="/login/mfa")
    assert second.status_code == 200  # refused, on the form: no session
    assert client.get("/review/").status_code in (302, 401)
    # Pages that merely list the account are unaffected.
    admin = app.test_client()
    factory.login_as(admin, "admin")
    assert admin.get(f"/admin/accounts/{target.id}").status_code == 200


def _raw_dump(app) -> bytes:
    """Every row of every table as stored, read with reflected (plain) types."""
    engine = app.extensions["vigil.engine"]
    metadata = MetaData()
    metadata.reflect(engine)
    chunks = []
    with engine.connect() as conn:
        for table in metadata.sorted_tables:
            for row in conn.execute(select(table)):
                chunks.append(repr(tuple(row)).encode())
    return b"\n".join(chunks)


def test_titles_attachment_names_reasons_and_notes_are_not_stored_in_the_clear(
    app, client, factory
):
    title, attachment, reason, note = (
        _marker(x) for x in ("TITLE", "ATTACHMENT", "REASON", "NOTE")
    )
    owner = factory.make_user()
    make_conversation(app, owner, title=title)
    body = {
        "owner_id": "owner-1",
        "model_id": "vigil-demo-1",
        "product": "chat",
        "title": "",
        "messages": [
            {
                "id": "m0",
                "role": "user",
                "text": "see the file",
                "created_at": "2026-01-05T09:00:00+00:00",
                "attachment": {
                    "name": attachment,
                    "media_type": "image/png",
                    "size": 10,
                    "sha256": "ab" * 32,
                },
            }
        ],
    }
    token = make_token(app, scopes=("conversations:write",))
    put = client.put(
        f"/api/v1/conversations/c-{uuid.uuid4().hex[:8]}",
        json=body,
        headers={"Authorization": f"Bearer {token}"},
    )
    assert put.status_code == 201, put.get_json()
    case_id = make_case(app)
    reviewer = app.test_client()
    factory.login_as(reviewer, "reviewer:general")
    _, claim = claim_next(reviewer)
    page = f"/review/cases/{case_id}"
    noted = post_form(reviewer, f"{page}/notes", {"token": claim, "text": note}, token_from=page)
    assert noted.status_code == 302
    other = app.test_client()
    factory.login_as(other, "reviewer:general")
    asked = post_form(other, f"{page}/break-glass", {"reason": reason}, token_from="/account")
    assert asked.status_code in (302, 303)

    # Controls: the app still shows each one where it did.
    factory.login(client, owner)
    assert title in client.get("/conversations").text
    assert note in reviewer.get(page).text
    admin = app.test_client()
    factory.login_as(admin, "admin")
    assert reason in admin.get("/review/").text
    from privacy.models import Message

    with Session(app.extensions["vigil.engine"]) as db:
        assert attachment in {m.attachment_name for m in db.scalars(select(Message))}

    dumped = _raw_dump(app)
    assert owner.email.encode() in dumped  # control: the dump sees the rows
    for marker in (title, attachment, reason, note):
        assert marker.encode() not in dumped, marker


# --- the migration --------------------------------------------------------------------


def _seal_v1(app, value: str) -> str:
    """A value sealed the way Vigil did before 0014: one fixed associated data for all."""
    keys = store_keys(app.extensions["vigil.engine"].dialect)
    nonce = os.urandom(12)
    blob = AESGCM(keys.ring[keys.current]).encrypt(
        nonce, value.encode(), b"vigil/conversation-store/message-text/v1"
    )
    return f"v1:{keys.current}:{base64.b64encode(nonce + blob).decode()}"


def test_the_migration_reseals_rows_written_the_old_way(app, client, factory):
    engine = app.extensions["vigil.engine"]
    title, text_, attachment, reason, note = (
        _marker(x) for x in ("TITLE", "TEXT", "ATTACHMENT", "REASON", "NOTE")
    )
    seed = pyotp.random_base32()
    case_id = make_case(app)
    staff = factory.make_user(roles=("reviewer:general",))
    owner = factory.make_user()
    conversation = make_conversation(app, owner, texts=("placeholder",), title="")
    (message_id,) = _message_ids(app, conversation.id)
    scripts = ScriptDirectory.from_config(migrate.alembic_config(engine))
    migrate.downgrade(engine, scripts.get_revision("0014_sealed_rows").down_revision)

    # Rows as the previous release wrote them: v1 seals, plaintext metadata.
    _sql(app, 'UPDATE "user" SET totp_secret = :v WHERE id = :u', v=_seal_v1(app, seed), u=staff.id)
    _sql(app, "UPDATE conversation SET title = :t WHERE id = :c", t=title, c=conversation.id)
    _sql(
        app,
        "UPDATE message SET text = :v, attachment_name = :a, attachment_media_type = 'image/png',"
        " attachment_size = 10 WHERE id = :m",
        v=_seal_v1(app, text_),
        a=attachment,
        m=message_id,
    )
    _sql(
        app,
        "INSERT INTO break_glass_grant (case_id, requester_id, reason, state, requested_at,"
        " refusal_reason) SELECT id, :u, :r, 'pending', created_at, '' FROM moderation_case"
        " WHERE id = :c",
        u=staff.id,
        r=reason,
        c=case_id,
    )
    _sql(
        app,
        "INSERT INTO case_event (case_id, kind, actor_id, actor_label, detail, occurred_at)"
        " SELECT id, 'note', :u, 'old reviewer', :n, created_at FROM moderation_case"
        " WHERE id = :c",
        u=staff.id,
        n=note,
        c=case_id,
    )

    result = app.test_cli_runner().invoke(args=["db", "upgrade"])
    assert result.exit_code == 0, result.output

    dumped = _raw_dump(app)
    for marker in (title, text_, attachment, reason, note, seed):
        assert marker.encode() not in dumped, marker
    assert b"'v1:" not in dumped  # nothing left under the unbound format
    # Read back the way people read them.
    staff.totp_secret = seed
    factory.login(app.test_client(), staff)  # the resealed seed signs in
    factory.login(client, owner)
    assert title in client.get("/conversations").text
    page = client.get(f"/conversations/{conversation.id}").text
    assert text_ in page and attachment in page
    admin = app.test_client()
    factory.login_as(admin, "admin")
    assert reason in admin.get("/review/").text
    from moderation.review.models import CaseEvent

    with Session(engine) as db:
        notes = db.scalars(select(CaseEvent).where(CaseEvent.case_id == case_id)).all()
    assert note in [event.detail for event in notes]


# --- key rotation ---------------------------------------------------------------------


def test_rotate_evidence_reseals_every_sealed_column_and_the_old_key_can_go(database_url, tmp_path):
    from app import create_app
    from tests.conftest import test_settings
    from tests.factories import Factory

    old_key, new_key = (base64.b64encode(os.urandom(32)).decode() for _ in range(2))
    settings = test_settings(database_url, tmp_path)
    title, note, reason = (_marker(x) for x in ("TITLE", "NOTE", "REASON"))
    first = create_app(settings | {"EVIDENCE_KEY": old_key})
    try:
        factory = Factory(first)
        owner = factory.make_user()
        make_conversation(first, owner, title=title)
        case_id = make_case(first)
        reviewer = first.test_client()
        factory.login_as(reviewer, "reviewer:general")
        _, claim = claim_next(reviewer)
        page = f"/review/cases/{case_id}"
        post_form(reviewer, f"{page}/notes", {"token": claim, "text": note}, token_from=page)
        other = first.test_client()
        factory.login_as(other, "reviewer:general")
        post_form(other, f"{page}/break-glass", {"reason": reason}, token_from="/account")
    finally:
        first.extensions["vigil.engine"].dispose()

    second = create_app(settings | {"EVIDENCE_KEY": new_key, "EVIDENCE_OLD_KEYS": old_key})
    try:
        result = second.test_cli_runner().invoke(args=["keys", "rotate-evidence"])
        assert result.exit_code == 0, result.output
        assert "resealed" in result.output
    finally:
        second.extensions["vigil.engine"].dispose()

    third = create_app(settings | {"EVIDENCE_KEY": new_key})  # the old key destroyed
    try:
        factory = Factory(third)
        client = third.test_client()
        factory.login(client, owner)
        assert title in client.get("/conversations").text
        admin = third.test_client()
        factory.login_as(admin, "admin")
        assert reason in admin.get("/review/").text
        from moderation.review.models import CaseEvent

        with Session(third.extensions["vigil.engine"]) as db:
            details = {e.detail for e in db.scalars(select(CaseEvent))}
        assert note in details and WITHHELD not in details
    finally:
        third.extensions["vigil.engine"].dispose()
