"""An Envoix app for a test: test settings, the Stripe test double's address, and a database with nothing in it.

Making one is cheap: every app shares one compiled-template cache (Jinja's parse and compile were a third of the
suite's CPU), and on SQLite each test's database file is a copy of one migrated once per session (migrating per
test was another tenth). PostgreSQL keeps its schema between tests and is emptied with TRUNCATE."""
import os
import shutil
import tempfile
from pathlib import Path
from urllib.parse import urlparse, urlunparse

from jinja2 import BytecodeCache
from stripe import _http_client as stripe_http_client
from peewee import SqliteDatabase

from envoix import create_app, migrations
from envoix.db import database
from envoix.models import ALL_MODELS



def _own_database(url):
    """Under pytest-xdist (`-n 2`) each worker empties and migrates a PostgreSQL database of its own: the given
    one's name with the worker's id appended (`envoix_platform_gw0`), made when missing."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not url or not worker:
        return url
    import psycopg

    parsed = urlparse(url)
    name = f"{parsed.path.lstrip('/')}_{worker}"
    with psycopg.connect(urlunparse(parsed._replace(path="/postgres")), autocommit=True) as server:
        if not server.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            server.execute(f'CREATE DATABASE "{name}"')
    return urlunparse(parsed._replace(path=f"/{name}"))


TEST_DATABASE_URL = _own_database(os.environ.get("ENVOIX_TEST_DATABASE_URL", "").strip())
WEBHOOK_SECRET = "whsec_test_envoix_webhook_secret_0123456789"
SECRET_KEY = "test-secret-key-that-is-long-enough-0123456789"


class SharedTemplateCode(BytecodeCache):
    """Jinja's compiled templates, kept in memory across every app of the session (checked against the source)."""

    def __init__(self):
        self.code = {}

    def load_bytecode(self, bucket):
        found = self.code.get(bucket.key)
        if found is not None and found[0] == bucket.checksum:
            bucket.code = found[1]

    def dump_bytecode(self, bucket):
        self.code[bucket.key] = (bucket.checksum, bucket.code)

    def clear(self):
        self.code.clear()


TEMPLATE_CODE = SharedTemplateCode()

# The stripe library sleeps at least half a second before each retry (HTTPClient.INITIAL_DELAY, jittered, doubling).
# The retries themselves still happen, against the double; the tests only wait 10 ms instead, as argon2 is cheap.
stripe_http_client.HTTPClient.INITIAL_DELAY = 0.01
_migrated_sqlite_file = None


def migrated_sqlite_file():
    """A SQLite file at the latest schema, made once per session; each test starts from a copy of it."""
    global _migrated_sqlite_file
    if _migrated_sqlite_file is None:
        path = Path(tempfile.mkdtemp(prefix="envoix-schema-")) / "migrated.sqlite3"
        database.initialize(SqliteDatabase(str(path), pragmas={"foreign_keys": 1}))
        with database.connection_context():
            migrations.upgrade()
        database.close()
        _migrated_sqlite_file = path
    return _migrated_sqlite_file


def empty_postgresql():
    with database.connection_context():
        tables = [model._meta.table_name for model in ALL_MODELS]
        if not migrations.pending() and database.table_exists("schema_version"):
            # The shared PostgreSQL database keeps its schema between tests: emptying it is much faster.
            database.execute_sql("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE")
            return
        database.execute_sql("DROP TABLE IF EXISTS " + ", ".join(f'"{t}"' for t in tables + ["schema_version"]) + " CASCADE")
        migrations.upgrade()


def test_config(tmp_path, stripe_double=None, **overrides):
    config = {
        "TESTING": True,
        "SECRET_KEY": SECRET_KEY,
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
    return config


def make_app(tmp_path, stripe_double=None, **overrides):
    """An app with the test settings (and `overrides`) on an empty database. A second app in the same test's
    `tmp_path` shares the first one's SQLite file, as two processes on one database would."""
    config = test_config(tmp_path, stripe_double, **overrides)
    url = config["DATABASE_URL"]
    fresh_file = None
    if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
        target = Path(url[len("sqlite:///"):])
        if not target.exists():
            fresh_file = migrated_sqlite_file()
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(fresh_file, target)
    app = create_app(config, environ={"ENVOIX_ENV": "development"}, instance_path=str(tmp_path / "instance"))
    app.jinja_env.bytecode_cache = TEMPLATE_CODE
    if url == TEST_DATABASE_URL and TEST_DATABASE_URL:
        empty_postgresql()
    elif fresh_file is None:
        with database.connection_context():
            migrations.upgrade()  # an in-memory database, or a file the test made itself
    return app
