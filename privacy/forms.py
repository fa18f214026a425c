"""Forms of the user's side (CSRF via Flask-WTF)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, PasswordField, RadioField, SelectField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length

from access_control.passwords import MAX_LENGTH
from privacy.feedback import MAX_COMMENT_CHARS
from privacy.sharing import EXPIRY_CHOICES


class TrainingChoiceForm(FlaskForm):
    opt_out = BooleanField("Do not use my conversations to train models")


class ShareForm(FlaskForm):
    show_name = BooleanField("Show my name on the shared page")
    expires = SelectField(
        "Link expires",
        choices=[
            SelectChoice("", "Never (until you revoke it)"),
            SelectChoice("1", "After 1 day"),
            SelectChoice("7", "After 7 days"),
            SelectChoice("30", "After 30 days"),
        ],
        default="",
        validate_choice=True,
    )

    def expires_in_days(self) -> int | None:
        return EXPIRY_CHOICES[self.expires.data or ""]


class FeedbackForm(FlaskForm):
    rating = RadioField(
        "Rating",
        choices=[SelectChoice("up", "Good answer"), SelectChoice("down", "Bad answer")],
        validators=[InputRequired(message="Choose thumbs up or down.")],
    )
    comment = TextAreaField("Comment (optional)", validators=[Length(max=MAX_COMMENT_CHARS)])
    # Present only in forms rendered next to the disclosure: the first rating needs it.
    disclosed = HiddenField()


class DeleteConversationForm(FlaskForm):
    confirm = BooleanField(
        "I understand this conversation will be deleted",
        validators=[DataRequired("Tick to confirm.")],
    )


class DeleteAccountForm(FlaskForm):
    password = PasswordField("Your password", validators=[DataRequired(), Length(max=MAX_LENGTH)])
    confirm = BooleanField(
        "I understand my account and conversations will be deleted",
        validators=[DataRequired("Tick to confirm.")],
    )


class EmptyForm(FlaskForm):
    """Only the CSRF token (revoke)."""
