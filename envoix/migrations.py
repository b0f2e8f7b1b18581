"""Versioned schema migrations (playhouse.migrate), run by the Procfile's `release:` line: `flask db upgrade`.

Migration 1 creates the tables as `models.py` declares them. Every later change to a table is a new
numbered migration written so that it is a no-op where its change is already there: a fresh database
(migration 1 builds the current tables) and an upgraded one then end with the same schema.
"""
import logging

from peewee import BigIntegerField, CharField, DateTimeField, IntegerField, Model, TextField
from playhouse.migrate import PostgresqlMigrator, SqliteMigrator, migrate

from . import models
from .db import database, is_sqlite

log = logging.getLogger(__name__)


class SchemaVersion(Model):
    version = IntegerField(primary_key=True)
    name = CharField(max_length=200)

    class Meta:
        database = database
        table_name = "schema_version"


def _create_tables(db, migrator):
    db.create_tables(models.ALL_MODELS, safe=True)


def _index_import_runs_by_connection_and_time(db, migrator):
    # The account pages ask for the newest run of each connection.
    columns = ["connection_id", "queued_at"]
    if columns not in [index.columns for index in db.get_indexes("import_run")]:
        migrate(migrator.add_index("import_run", ("connection_id", "queued_at"), False))


def _import_run_progress_and_one_active_run(db, migrator):
    # `added` and `heartbeat_at` for the progress display and stale-run detection; the partial unique index
    # keeps a double click (or the schedule racing the button) from queueing a second import.
    columns = {column.name for column in db.get_columns("import_run")}
    changes = []
    if "added" not in columns:
        changes.append(migrator.add_column("import_run", "added", IntegerField(default=0)))
    if "heartbeat_at" not in columns:
        changes.append(migrator.add_column("import_run", "heartbeat_at", DateTimeField(null=True)))
    if changes:
        migrate(*changes)
    if "import_run_one_active_per_connection" not in [index.name for index in db.get_indexes("import_run")]:
        db.execute_sql(
            'CREATE UNIQUE INDEX "import_run_one_active_per_connection" ON "import_run" ("connection_id") '
            "WHERE (\"status\" IN ('queued', 'running', 'retrying'))"
        )


def _user_account_security_columns(db, migrator):
    # Email confirmation, a changed address waiting for confirmation, and two-factor sign-in (issue 13).
    columns = {column.name for column in db.get_columns("user")}
    wanted = {
        "email_verified_at": DateTimeField(null=True),
        "pending_email": CharField(max_length=254, null=True),
        "totp_secret_encrypted": TextField(null=True),
        "totp_pending_encrypted": TextField(null=True),
        "totp_last_step": BigIntegerField(null=True),
        "recovery_codes": TextField(null=True),
    }
    changes = [migrator.add_column("user", name, field) for name, field in wanted.items() if name not in columns]
    if changes:
        migrate(*changes)


def _user_sessions(db, migrator):
    # Server-side sessions: logout, a password change and "sign out everywhere" end cookies for good.
    db.create_tables([models.UserSession], safe=True)


def _account_events(db, migrator):
    # The event log a user sees on /settings (sign-ins, connections, password changes …), cleaned after 90 days.
    db.create_tables([models.AccountEvent], safe=True)


MIGRATIONS = [
    (1, "create tables", _create_tables),
    (2, "index import runs by connection and time", _index_import_runs_by_connection_and_time),
    (3, "import run progress and one active run per connection", _import_run_progress_and_one_active_run),
    (40, "user: email confirmation and two-factor columns", _user_account_security_columns),
    (41, "user sessions", _user_sessions),
    (42, "account events", _account_events),
]
LATEST = MIGRATIONS[-1][0]


def current_version():
    if not database.table_exists("schema_version"):
        return 0
    newest = SchemaVersion.select().order_by(SchemaVersion.version.desc()).first()
    return newest.version if newest else 0


def upgrade(target=None):
    """Apply every migration newer than the database's version (up to `target`); returns what ran."""
    target = LATEST if target is None else target
    migrator = SqliteMigrator(database.obj) if is_sqlite() else PostgresqlMigrator(database.obj)
    database.create_tables([SchemaVersion], safe=True)
    applied = []
    for version, name, step in MIGRATIONS:
        if version <= current_version() or version > target:
            continue
        with database.atomic():
            step(database, migrator)
            SchemaVersion.create(version=version, name=name)
        log.info("applied migration %s: %s", version, name)
        applied.append(version)
    return applied
