"""Forms for sign-in, account settings and administration (CSRF via Flask-WTF)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import PasswordField, SelectField, SelectMultipleField, StringField
from wtforms.validators import DataRequired, EqualTo, Length, Optional, Regexp

from access_control.passwords import MAX_LENGTH, MIN_LENGTH
from access_control.permissions import ROLE_CATALOGUE

EMAIL = [DataRequired(), Length(max=254), Regexp(r"^[^@\s]+@[^@\s]+$", message="Enter an email.")]
REASON = [DataRequired(message="Say why."), Length(max=500)]


class LoginForm(FlaskForm):
    email = StringField("Email", validators=EMAIL)
    password = PasswordField("Password", validators=[DataRequired(), Length(max=MAX_LENGTH)])


class CodeForm(FlaskForm):
    code = StringField("Code from your authenticator app", validators=[Optional(), Length(max=8)])
    recovery_code = StringField("Or a recovery code", validators=[Optional(), Length(max=40)])


class EnrollForm(FlaskForm):
    code = StringField(
        "Code from your authenticator app", validators=[DataRequired(), Length(max=8)]
    )


class PasswordForm(FlaskForm):
    current = PasswordField("Current password", validators=[DataRequired(), Length(max=MAX_LENGTH)])
    new = PasswordField(
        "New password", validators=[DataRequired(), Length(min=MIN_LENGTH, max=MAX_LENGTH)]
    )
    confirm = PasswordField(
        "Repeat new password", validators=[EqualTo("new", message="The passwords differ.")]
    )


class EmptyForm(FlaskForm):
    """A form with only its CSRF token (logout, regenerate codes)."""


class SetPasswordForm(FlaskForm):
    """The person's own password, set through their one-time link."""

    new = PasswordField(
        "Choose a password", validators=[DataRequired(), Length(min=MIN_LENGTH, max=MAX_LENGTH)]
    )
    confirm = PasswordField(
        "Repeat it", validators=[EqualTo("new", message="The passwords differ.")]
    )


def role_choices(offered: list[str]) -> list[tuple[str, str]]:
    """The role picker's options: only roles with policy rows, described, no default."""
    return [(role, f"{role}: {ROLE_CATALOGUE[role]}") for role in offered]


class CreateAccountForm(FlaskForm):
    email = StringField("Email", validators=EMAIL)
    display_name = StringField("Name", validators=[DataRequired(), Length(max=120)])
    roles = SelectMultipleField("Roles (each needs a second admin's approval)", choices=[])
    reason = StringField("Reason", validators=REASON)


class RoleForm(FlaskForm):
    role = SelectField("Role", choices=[], validators=[DataRequired(message="Choose a role.")])
    reason = StringField("Reason", validators=REASON)

    def __init__(self, *args, offered: list[str], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.role.choices = [("", "Choose a role…"), *role_choices(offered)]


class StatusForm(FlaskForm):
    reason = StringField("Reason", validators=REASON)
