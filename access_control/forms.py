"""Forms for sign-in, account settings and administration (CSRF via Flask-WTF)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import PasswordField, SelectField, SelectMultipleField, StringField
from wtforms.validators import DataRequired, EqualTo, Length, Optional, Regexp

from access_control.passwords import MAX_LENGTH, MIN_LENGTH
from access_control.permissions import all_roles

EMAIL = [DataRequired(), Length(max=254), Regexp(r"^[^@\s]+@[^@\s]+$", message="Enter an email.")]
REASON = [DataRequired(message="Say why."), Length(max=500)]


class LoginForm(FlaskForm):
    email = StringField("Email", validators=EMAIL)
    password = PasswordField("Password", validators=[DataRequired(), Length(max=MAX_LENGTH)])


class CodeForm(FlaskForm):
    code = StringField("Code from your authenticator app", validators=[Optional(), Length(max=8)])
    recovery_code = StringField("Or a recovery code", validators=[Optional(), Length(max=20)])


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


class CreateAccountForm(FlaskForm):
    email = StringField("Email", validators=EMAIL)
    display_name = StringField("Name", validators=[DataRequired(), Length(max=120)])
    roles = SelectMultipleField("Roles", choices=all_roles())
    reason = StringField("Reason", validators=REASON)


class RoleForm(FlaskForm):
    role = SelectField("Role", choices=all_roles())
    reason = StringField("Reason", validators=REASON)


class StatusForm(FlaskForm):
    reason = StringField("Reason", validators=REASON)
