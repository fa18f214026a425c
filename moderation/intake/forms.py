"""Report forms: a signed-in user's report and the public DSA Art. 16 notice."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, SelectField, SelectMultipleField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional, Regexp
from wtforms.widgets import CheckboxInput, ListWidget

from moderation.intake import taxonomy
from moderation.intake.limits import MAX_DESCRIPTION_CHARS

GOOD_FAITH = (
    "I believe in good faith that the information and allegations in this notice are "
    "accurate and complete."
)


def category_choices() -> list[tuple[str, str]]:
    """Categories for a select, in taxonomy order, with an empty first choice."""
    return [("", "Choose a category"), *((c.key, c.label) for c in taxonomy.categories())]


def _strip(value: str | None) -> str | None:
    return value.strip() if isinstance(value, str) else value


class MessageChecklist(SelectMultipleField):
    """Checkboxes, one per message; choices are set by the view."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class ReportForm(FlaskForm):
    message_ids = MessageChecklist("Messages to report", validate_choice=True)
    category = SelectField(
        "What is wrong with it?", validators=[DataRequired(message="Choose a category.")]
    )
    description = TextAreaField(
        "Anything we should know (optional)",
        validators=[Optional(), Length(max=MAX_DESCRIPTION_CHARS)],
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.category.choices = category_choices()


class NoticeForm(FlaskForm):
    message_ids = MessageChecklist("Where exactly: the messages concerned", validate_choice=True)
    category = SelectField(
        "Which law does it break?", validators=[DataRequired(message="Choose a category.")]
    )
    explanation = TextAreaField(
        "Why is this content illegal?",
        validators=[
            DataRequired(message="Explain why you consider the content illegal."),
            Length(max=MAX_DESCRIPTION_CHARS),
        ],
    )
    name = StringField("Your name", filters=[_strip], validators=[Optional(), Length(max=120)])
    email = StringField(
        "Your email",
        filters=[_strip],
        validators=[
            Optional(),
            Length(max=254),
            Regexp(r"^[^@\s]+@[^@\s]+\.[^@\s]+$", message="Enter an email address."),
        ],
    )
    good_faith = BooleanField(
        GOOD_FAITH, validators=[DataRequired(message="Please confirm this statement.")]
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.category.choices = category_choices()

    def validate(self, extra_validators=None) -> bool:
        """Name and email are required unless the category is child sexual abuse (Art. 16(2)(c))."""
        ok = super().validate(extra_validators)
        try:
            optional = taxonomy.category(self.category.data or "").contact_optional
        except KeyError:
            return False
        for field in (self.name, self.email):
            if not optional and not (field.data or "").strip():
                field.errors = [*field.errors, "Required for this kind of notice."]
                ok = False
        return ok
