"""The user's own pages: conversations, privacy settings, feedback, share links, data rights."""

from __future__ import annotations

import json
import re

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user, logout_user

from access_control.guard import authorize, signed_in
from access_control.signin import confirm_password
from core import throttle
from core.config import setting
from core.db import get_session
from core.web import public
from privacy.consent import (
    NEVER_TRAINED,
    PLAN_LABELS,
    ConsentError,
    Owner,
    consent_history,
    explain,
    feedback_disclosure_kind,
    note_feedback_disclosed,
    privacy_of,
    set_privacy,
)
from privacy.conversations import conversation_resource, list_conversations, messages_of
from privacy.feedback import (
    FeedbackError,
    disclosure,
    disclosure_seen,
    feedback_of,
    give_feedback,
)
from privacy.forms import (
    DeleteAccountForm,
    DeleteConversationForm,
    EmptyForm,
    FeedbackForm,
    ShareForm,
    TrainingChoiceForm,
)
from privacy.models import ConsentSource, Conversation, Role
from privacy.rights import RightsError, delete_account, erase_conversations, export_user_data
from privacy.sharing import (
    LinkGone,
    ShareError,
    create_link,
    link_state,
    links_of,
    open_link,
    revoke_link,
)

privacy_bp = Blueprint("privacy", __name__)
MESSAGE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:\-]{0,127}")


def me():
    return current_user._get_current_object()


def own_conversation_or_404(conversation_id: int) -> Conversation:
    """The conversation if the signed-in account may read it; 404 otherwise (no probing)."""
    conversation = get_session().get(Conversation, conversation_id)
    if (
        conversation is None
        or conversation.deleted_at is not None
        or not authorize(me(), conversation_resource(conversation), "read")
    ):
        abort(404)
    return conversation


@privacy_bp.route("/conversations")
@signed_in
def conversations():
    items = list_conversations(get_session(), owner=me())
    return render_template("privacy/conversations.html", conversations=items)


def _conversation_page(item: Conversation, *, share_form=None, feedback_errors=None, status=200):
    db = get_session()
    overrides = setting("FEEDBACK_OVERRIDES_OPT_OUT")
    html = render_template(
        "privacy/conversation.html",
        conversation=item,
        messages=messages_of(db, conversation_id=item.id),
        ratings=feedback_of(db, conversation_id=item.id),
        feedback_form=FeedbackForm(formdata=None),
        feedback_errors=feedback_errors or {},
        disclosure=None if disclosure_seen(db, item, overrides) else disclosure(overrides),
        disclosure_kind=feedback_disclosure_kind(overrides),
        share_form=share_form or ShareForm(formdata=None),
        assistant=Role.ASSISTANT,
    )
    return make_response(html, status)


@privacy_bp.route("/conversations/<int:conversation_id>")
@signed_in
def conversation(conversation_id: int):
    return _conversation_page(own_conversation_or_404(conversation_id))


@privacy_bp.post("/conversations/<int:conversation_id>/messages/<message_id>/feedback")
@signed_in
def rate_message(conversation_id: int, message_id: str):
    item = own_conversation_or_404(conversation_id)
    if not MESSAGE_ID.fullmatch(message_id):
        abort(404)
    form = FeedbackForm()
    db = get_session()
    overrides = setting("FEEDBACK_OVERRIDES_OPT_OUT")
    kind = feedback_disclosure_kind(overrides)
    errors: list[str] = []
    if not form.validate_on_submit():
        errors = [error for field in form.errors.values() for error in field]
    elif not disclosure_seen(db, item, overrides) and form.disclosed.data != kind:
        errors = ["Read how ratings are used (shown above the messages), then rate again."]
    else:
        try:
            give_feedback(
                db,
                conversation=item,
                message_external_id=message_id,
                rating=form.rating.data,
                comment=form.comment.data or "",
                source=ConsentSource.WEB,
            )
        except FeedbackError as exc:
            errors = [str(exc)]
    if errors:
        db.rollback()
        return _conversation_page(item, feedback_errors={message_id: errors}, status=422)
    note_feedback_disclosed(db, Owner(user_id=me().id), kind)
    db.commit()
    flash("Thank you, your rating was saved.")
    return redirect(
        url_for("privacy.conversation", conversation_id=item.id) + f"#message-{message_id}"
    )


@privacy_bp.post("/conversations/<int:conversation_id>/share")
@signed_in
def share_conversation(conversation_id: int):
    item = own_conversation_or_404(conversation_id)
    form = ShareForm()
    if not form.validate_on_submit():
        return _conversation_page(item, share_form=form, status=422)
    db = get_session()
    try:
        link, token = create_link(
            db,
            conversation=item,
            owner=me(),
            show_name=bool(form.show_name.data),
            expires_in_days=form.expires_in_days(),
        )
    except ShareError as exc:
        form.expires.errors = [str(exc)]
        return _conversation_page(item, share_form=form, status=422)
    db.commit()
    url = url_for("privacy.shared", token=token, _external=True)
    return render_template("privacy/share_created.html", link=link, url=url, conversation=item)


@privacy_bp.route("/shares")
@signed_in
def shares():
    items = links_of(get_session(), owner=me())
    return render_template(
        "privacy/shares.html", links=items, state=link_state, revoke_form=EmptyForm()
    )


@privacy_bp.post("/shares/<int:link_id>/revoke")
@signed_in
def revoke_share(link_id: int):
    EmptyForm().validate_on_submit() or abort(400)
    db = get_session()
    if revoke_link(db, owner=me(), link_id=link_id) is None:
        abort(404)
    db.commit()
    flash("The link is revoked: it now answers “gone” to anyone who opens it.")
    return redirect(url_for("privacy.shares"))


@privacy_bp.route("/s/<token>")
@public
def shared(token: str):
    address = request.remote_addr or "unknown"
    throttle.take([(setting("SHARE_LIMIT_PER_ADDRESS"), throttle.key_for("share-addr", address))])
    db = get_session()
    try:
        view = open_link(db, token)
    except LinkGone as gone:
        page = render_template("privacy/shared_gone.html", removed=gone.removed)
        response = make_response(page, 410)
    else:
        if view is None:
            abort(404)
        db.commit()  # the open count
        html = render_template("privacy/shared.html", view=view, token=token)
        response = make_response(html)
    # A shared page is for the people it is sent to, not for search engines, and its URL
    # is the key: no index, no referrer.
    response.headers["X-Robots-Tag"] = "noindex, nofollow, noarchive"
    return response


@privacy_bp.route("/privacy", methods=["GET", "POST"])
@signed_in
def settings():
    db = get_session()
    owner = Owner(user_id=me().id)
    row = privacy_of(db, owner)
    form = TrainingChoiceForm()
    if request.method == "GET":
        form.opt_out.data = bool(row and row.training_opt_out)
    elif form.validate_on_submit():
        wanted = bool(form.opt_out.data)
        unchanged = wanted == bool(row and row.training_opt_out)
        try:
            row = set_privacy(
                db,
                owner,
                opt_out=None if unchanged else wanted,
                source=ConsentSource.WEB,
                actor=f"{me().subject} (the account itself)",
            )
        except ConsentError as exc:
            form.opt_out.errors = [str(exc)]
        else:
            db.commit()
            flash("Saved. " + explain(row))
            return redirect(url_for("privacy.settings"))
    plan = row.plan if row else None
    return render_template(
        "privacy/settings.html",
        form=form,
        row=row,
        plan_label=PLAN_LABELS.get(plan, "not known to Vigil"),
        never_trained=plan in NEVER_TRAINED,
        explanation=explain(row),
        history=consent_history(db, owner),
        overrides=setting("FEEDBACK_OVERRIDES_OPT_OUT"),
    )


@privacy_bp.route("/privacy/download")
@signed_in
def download():
    document = export_user_data(get_session(), me())
    body = json.dumps(document, indent=2, ensure_ascii=False)
    return Response(
        body,
        mimetype="application/json",
        headers={"Content-Disposition": 'attachment; filename="vigil-my-data.json"'},
    )


@privacy_bp.route("/conversations/<int:conversation_id>/delete", methods=["GET", "POST"])
@signed_in
def delete_conversation(conversation_id: int):
    item = own_conversation_or_404(conversation_id)
    form = DeleteConversationForm()
    if form.validate_on_submit():
        db = get_session()
        result = erase_conversations(db, [item])
        db.commit()
        return render_template("privacy/deleted.html", what="conversation", result=result)
    return render_template("privacy/delete_conversation.html", conversation=item, form=form)


@privacy_bp.route("/privacy/delete-account", methods=["GET", "POST"])
@signed_in
def delete_my_account():
    form = DeleteAccountForm()
    user, db = me(), get_session()
    if form.validate_on_submit():
        if not confirm_password(
            db, user=user, password=form.password.data, purpose="account deletion"
        ):
            db.commit()  # the journal of the wrong guess
            form.password.errors = ["That is not your password."]
        else:
            try:
                result = delete_account(db, user)
            except RightsError as exc:
                db.rollback()
                form.confirm.errors = [str(exc)]
            else:
                db.commit()
                logout_user()
                return render_template("privacy/deleted.html", what="account", result=result)
    return render_template("privacy/delete_account.html", form=form)
