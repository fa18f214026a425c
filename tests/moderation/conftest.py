"""Fixtures for the intake tests."""

from __future__ import annotations

import pytest

from tests.factories import make_token
from tests.helpers import Api


@pytest.fixture
def token(app) -> str:
    """A live service token with reports:write."""
    return make_token(app)


@pytest.fixture
def api(client, token) -> Api:
    """The JSON API as the chat backend calls it."""
    return Api(client, token)
