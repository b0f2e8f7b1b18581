"""Shared fixtures: an app on an empty database (SQLite, or PostgreSQL via ENVOIX_TEST_DATABASE_URL), a test
client with a small `web` helper that speaks forms with CSRF tokens, the Stripe test double, and Chromium for the
browser journeys. What they are built from lives in tests/support/; the leak watch is the plugin
tests/leak_watch.py. Fixture modules of their own (tests/fixtures_<name>.py) go in `pytest_plugins`, one a line."""
import os

import pytest

from envoix.db import database
from tests.support.app import TEST_DATABASE_URL, WEBHOOK_SECRET, make_app  # noqa: F401 (tests import these)
from tests.support.leaks import secrets_of as _secrets_of  # noqa: F401
from tests.support.web import CSRF_META, Web  # noqa: F401

pytest_plugins = [
    "tests.leak_watch",
    "tests.fixtures_account",
]


@pytest.fixture(scope="session")
def stripe_double():
    from envoix.stripe_double import StripeDouble

    double = StripeDouble()
    double.start()
    yield double
    double.stop()


@pytest.fixture
def stripe(stripe_double):
    """The Stripe test double, reset to its seeded state for this test."""
    stripe_double.reset()
    return stripe_double


@pytest.fixture
def app_with(tmp_path, stripe):
    """`app_with(**overrides)`: an app like `app` with some settings changed; its connection closed after the test."""
    yield lambda **overrides: make_app(tmp_path, stripe, **overrides)
    if not database.is_closed():
        database.close()


@pytest.fixture
def app(app_with):
    return app_with()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def web(client):
    return Web(client)


@pytest.fixture
def user(web):
    """A signed-up, signed-in user."""
    web.sign_up()
    from envoix.models import User

    with database.connection_context():
        return User.get(User.email == "lena@example.com")


# Browser journeys: Debian's Chromium through pytest-playwright (Playwright cannot download browsers here).
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.fixture(scope="session")
def browser_type_launch_args():
    return {"executable_path": CHROMIUM, "headless": True, "args": CHROMIUM_FLAGS}


def pytest_collection_modifyitems(config, items):
    if os.path.exists(CHROMIUM):
        return
    skip = pytest.mark.skip(reason=f"{CHROMIUM} is not installed (apt-get install chromium)")
    for item in items:
        if "browser" in item.keywords:
            item.add_marker(skip)
