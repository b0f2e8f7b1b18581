"""Shared fixtures: an app on a fresh database (SQLite, or PostgreSQL via ENVOIX_TEST_DATABASE_URL),
a test client with a small `web` helper that speaks forms with CSRF tokens, and the Stripe test double."""
import os
import re

import pytest

from envoix import create_app
from envoix.db import database
from envoix import log_redaction, migrations
from envoix.models import ALL_MODELS

# Redaction for the whole session, not only once an app exists: tests that drive the double with the stripe
# library alone would otherwise log its DEBUG lines (OAuth token bodies among them) unredacted.
log_redaction.install()

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
            STRIPE_MARKETPLACE_BASE=stripe_double.url,
            STRIPE_CLIENT_ID=stripe_double.client_id,
            STRIPE_SECRET_KEY=stripe_double.platform_secret_key,
        )
    config.update(overrides)
    environ = {"ENVOIX_ENV": "development"}
    app = create_app(config, environ=environ, instance_path=str(tmp_path / "instance"))
    _fresh_database(app)
    return app


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


# --- Secrets never leak: log capture and page record for EVERY test (see tests/test_secrets_never_leak.py) ----
# Each test runs with the root logger at DEBUG into LeakWatch, which also keeps every response a Flask test
# client receives (body, headers, decoded session cookie). Afterwards none of it may contain a secret the
# test's world knows: the double's keys and tokens, the keys sent to it, the webhook secret, and every
# plaintext Envoix encrypted during the test. A leak fails the test (reported at teardown, secret masked).
import logging  # noqa: E402

from flask.testing import FlaskClient  # noqa: E402
from itsdangerous import BadData  # noqa: E402

SHORTEST_SECRET = 12  # shorter strings are not credentials and would match ordinary text


class LeakWatch(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        self.lines, self.pages, self.encrypted = [], [], set()

    def emit(self, record):
        self.lines.append(self.format(record))  # with the traceback, if the record has one

    def saw(self, app, response):
        for answer in [*getattr(response, "history", ()), response]:
            body = answer.get_data(as_text=False).decode("utf-8", "replace")
            self.pages.append(f"{answer.status}\n{answer.headers}\n{body}\n{_session_cookies(app, answer)}")

    def leaks(self, known):
        texts = {"log line": self.lines, "response": self.pages}
        found = []
        for secret in sorted(s for s in known if s and len(s) >= SHORTEST_SECRET):
            for where, items in texts.items():
                for text in items:
                    if secret in text:
                        shown = text.replace(secret, "[SECRET]")
                        at = shown.index("[SECRET]")
                        found.append(f"{_masked(secret)} in a {where}: …{shown[max(0, at - 200):at + 100]}…")
                        break
        return found


def _masked(secret):
    return f"{secret[:8]}…{secret[-4:]}"


def _session_cookies(app, response):
    # Flask's session is signed, not encrypted: whatever is in it, the browser (and anyone with it) can read.
    name = app.config.get("SESSION_COOKIE_NAME", "session")
    serializer = app.session_interface.get_signing_serializer(app)
    decoded = []
    for header in response.headers.getlist("Set-Cookie"):
        cookie_name, _, rest = header.partition("=")
        if cookie_name == name and serializer is not None:
            try:
                decoded.append(repr(serializer.loads(rest.split(";", 1)[0])))
            except BadData:
                pass
    return "\n".join(decoded)


def _secrets_of(double):
    """Every credential the double issued or was shown (keys in Authorization headers, client_secret, tokens)."""
    state = double.state
    known = {key.secret for key in state.keys.values() if key.kind != "publishable"}
    known |= set(state.refresh_tokens) | set(state.app_refresh_tokens) | {state.platform_secret_key, state.app_signing_secret}
    for entry in list(double.requests):
        scheme, _, value = (entry.get("headers") or {}).get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer":
            known.add(value.strip())
        for name in ("client_secret", "refresh_token"):
            known.update((entry.get("form") or {}).get(name, []))
    return {secret for secret in known if secret and not secret.startswith(("pk_live_", "pk_test_"))}


@pytest.fixture(autouse=True)
def leak_watch(request, monkeypatch):
    """Fails any test whose log lines or responses contain a Stripe key, token or secret in plaintext."""
    from envoix import secrets as envoix_secrets

    watch = LeakWatch()
    root = logging.getLogger()
    previous_level = root.level
    root.addHandler(watch)
    root.setLevel(logging.DEBUG)
    double = request.getfixturevalue("stripe_double") if "stripe_double" in request.fixturenames else None

    encrypt = envoix_secrets.encrypt

    def remembering_encrypt(plaintext):
        watch.encrypted.add(plaintext)
        return encrypt(plaintext)

    monkeypatch.setattr(envoix_secrets, "encrypt", remembering_encrypt)
    open_ = FlaskClient.open

    def recording_open(self, *args, **kwargs):
        response = open_(self, *args, **kwargs)
        watch.saw(self.application, response)
        return response

    monkeypatch.setattr(FlaskClient, "open", recording_open)
    try:
        yield watch
    finally:
        root.removeHandler(watch)
        root.setLevel(previous_level)
    known = set(watch.encrypted) | {WEBHOOK_SECRET}
    if double is not None:
        known |= _secrets_of(double)
    leaks = watch.leaks(known)
    if leaks:
        pytest.fail("a secret leaked (shown masked):\n" + "\n".join(leaks), pytrace=False)
# --- end of the secrets-never-leak section -------------------------------------------------------------------
