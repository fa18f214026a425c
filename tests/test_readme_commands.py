"""Every command line the README's "Command line" section shows runs as written."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from audit.access_log import record_access
from audit.reasons import AccessAction, Decision, ReasonCode
from core.db import session_scope
from tests.conftest import empty_database_url

README = Path(__file__).resolve().parents[1] / "README.md"
# Placeholders the README uses, with values that exist once the commands before ran.
PLACEHOLDERS = {"N": "0", "S": "1"}


def readme_command_lines() -> list[str]:
    """The `flask --app app ...` lines of the Command line section, comments removed."""
    text = README.read_text(encoding="utf-8")
    block = text.split("## Command line", 1)[1].split("```sh", 1)[1].split("```", 1)[0]
    lines = [line.split("  #", 1)[0].strip() for line in block.splitlines()]
    return [line for line in lines if line.startswith("flask --app app ")]


def _argv(line: str, **more: str) -> list[str]:
    line = re.sub(r"\[[^\]]*\]", "", line)  # optional parts ([--every 3600]) are left out
    words = shlex.split(line)[3:]  # drop `flask --app app`
    placeholders = {**PLACEHOLDERS, **more}
    return [placeholders.get(word, word) for word in words]


def test_the_readme_shows_the_commands_every_package_registers():
    groups = {line.split()[3] for line in readme_command_lines()}
    expected = {"db", "users", "policy", "seed-demo", "tokens", "keys", "moderation", "audit"}
    expected |= {"privacy", "training", "webhooks", "backup"}
    assert expected <= groups


def _one_round(_seconds: float) -> None:
    raise KeyboardInterrupt  # what Ctrl-C does to a sidecar between two rounds


def test_every_readme_command_line_runs_as_written(app, request, tmp_path, monkeypatch):
    monkeypatch.setattr("audit.sidecar.time.sleep", _one_round)
    with session_scope(app.extensions["vigil.engine"]) as session:
        # One entry in the log, so `audit prove --index N --size S` has something to prove.
        record_access(
            session,
            actor=None,
            action=AccessAction.OPEN,
            decision=Decision.ALLOWED,
            reason_code=ReasonCode.LEGAL_REQUEST,
            case_id=1,
            conversation_id=1,
            evidence_version=1,
            mac_key=app.extensions["vigil.keys"].entry_mac,
        )
    # `backup create --output PATH` writes the file `backup restore PATH --to URL` reads.
    backup_file = str(tmp_path / "readme.backup")
    restore_into = empty_database_url(request, app.config["VIGIL"]["DATABASE_URL"], tmp_path)
    runner = app.test_cli_runner()
    for line in readme_command_lines():
        argv = _argv(line, DIR=str(tmp_path / "export"), PATH=backup_file, URL=restore_into)
        result = runner.invoke(args=argv, catch_exceptions=False)
        assert result.exit_code == 0, f"{line}\n{result.output}"


def test_the_command_line_help_describes_vigil(database_url, tmp_path):
    from click.testing import CliRunner
    from flask.cli import FlaskGroup

    from app import create_app
    from tests.conftest import test_settings

    group = FlaskGroup(create_app=lambda: create_app(test_settings(database_url, tmp_path)))
    result = CliRunner().invoke(group, ["--help"])
    assert result.exit_code == 0, result.output
    assert "Vigil: the trust-and-safety back office" in result.output
    assert "seed-demo" in result.output and "webhooks" in result.output
