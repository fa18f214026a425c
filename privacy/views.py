"""The user's own conversations."""

from __future__ import annotations

from flask import Blueprint, abort, render_template
from flask_login import current_user

from access_control.guard import authorize, signed_in
from core.db import get_session
from privacy.conversations import conversation_resource, list_conversations, messages_of
from privacy.models import Conversation

privacy_bp = Blueprint("privacy", __name__)


def own_conversation_or_404(conversation_id: int) -> Conversation:
    """The conversation if the signed-in account may read it; 404 otherwise (no probing)."""
    conversation = get_session().get(Conversation, conversation_id)
    user = current_user._get_current_object()
    if conversation is None or not authorize(user, conversation_resource(conversation), "read"):
        abort(404)
    return conversation


@privacy_bp.route("/conversations")
@signed_in
def conversations():
    items = list_conversations(get_session(), owner=current_user._get_current_object())
    return render_template("privacy/conversations.html", conversations=items)


@privacy_bp.route("/conversations/<int:conversation_id>")
@signed_in
def conversation(conversation_id: int):
    item = own_conversation_or_404(conversation_id)
    messages = messages_of(get_session(), conversation_id=item.id)
    return render_template("privacy/conversation.html", conversation=item, messages=messages)
