"""Shared fixtures: an app on a fresh database (SQLite, or PostgreSQL via ENVOIX_TEST_DATABASE_URL),
a test client with a small `web` helper that speaks forms with CSRF tokens, and the Stripe test double."""
import os
import re

import pytest

from envoix import create_app
from envoix.db import database
from envoix import migrations
from envoix.models import ALL_MODELS

TEST_DATABASE_URL = os.environ.get("ENVOIX_TEST_DATABASE_URL", "").strip()
WEBHOOK_SECRET = "whsec_test_envoix_webhook_secret_0123456789"
CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)"')


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


def _fresh_database(app):
    with database.connection_context():
        tables = [model._meta.table_name for model in ALL_MODELS]
        if TEST_DATABASE_URL and migrations.current_version() == migrations.LATEST:
            # The shared PostgreSQL database keeps its schema between tests: emptying it is much faster.
            database.execute_sql("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE")
            return
        if TEST_DATABASE_URL:
            database.execute_sql("DROP TABLE IF EXISTS " + ", ".join(f'"{t}"' for t in tables + ["schema_version"]) + " CASCADE")
        migrations.upgrade()


def make_app(tmp_path, stripe_double=None, **overrides):
    config = {
        "TESTING": True,
        "SECRET_KEY": "test-secret-key-that-is-long-enough-0123456789",
        "DATABASE_URL": TEST_DATABASE_URL or f"sqlite:///{tmp_path / 'envoix.sqlite3'}",
        "HUEY_IMMEDIATE": True,
        "ENVOIX_EMBEDDED_WORKER": False,
        "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "STRIPE_MAX_RETRIES": 1,
        "STRIPE_TIMEOUT": 3,
        # Argon2id still, but cheap: the production parameters cost half a second per hash.
        "ARGON2_PARAMETERS": {"time_cost": 1, "memory_cost": 1024, "parallelism": 1},
    }
    if stripe_double is not None:
        config.update(
            STRIPE_API_BASE=stripe_double.url,
            STRIPE_CONNECT_BASE=stripe_double.url,
            STRIPE_CLIENT_ID=stripe_double.client_id,
            STRIPE_SECRET_KEY=stripe_double.platform_secret_key,
        )
    config.update(overrides)
    environ = {"ENVOIX_ENV": "development"}
    app = create_app(config, environ=environ, instance_path=str(tmp_path / "instance"))
    _fresh_database(app)
    return app


@pytest.fixture
def app(tmp_path, stripe):
    app = make_app(tmp_path, stripe)
    yield app
    if not database.is_closed():
        database.close()


@pytest.fixture
def client(app):
    return app.test_client()


class Web:
    """Drives the app as a browser would: pages carry a CSRF token, forms send it back."""

    def __init__(self, client):
        self.client = client

    def csrf(self):
        for path in ("/login", "/connect", "/"):
            response = self.client.get(path)
            found = CSRF_META.search(response.get_data(as_text=True))
            if found:
                return found.group(1)
        raise AssertionError("no page carried a CSRF token")

    def post(self, path, data=None, htmx=False, **kwargs):
        data = dict(data or {})
        headers = dict(kwargs.pop("headers", {}))
        if htmx:
            headers.update({"HX-Request": "true", "X-CSRFToken": self.csrf()})
        else:
            data.setdefault("csrf_token", self.csrf())
        return self.client.post(path, data=data, headers=headers, **kwargs)

    def get(self, path, htmx=False, **kwargs):
        headers = {"HX-Request": "true"} if htmx else {}
        return self.client.get(path, headers=headers, **kwargs)

    def sign_up(self, email="lena@example.com", password="korrekt-Pferd-42"):
        return self.post("/signup", {"email": email, "password": password})

    def log_in(self, email="lena@example.com", password="korrekt-Pferd-42", **extra):
        return self.post("/login", {"email": email, "password": password, **extra})

    def log_out(self):
        return self.post("/logout")


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
