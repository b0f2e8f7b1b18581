"""Versioned schema migrations (playhouse.migrate), run by the Procfile's `release:` line: `flask db upgrade`.

Migration 1 creates the tables as `models.py` declares them. Every later change to a table is a new
numbered migration written so that it is a no-op where its change is already there: a fresh database
(migration 1 builds the current tables) and an upgraded one then end with the same schema.
"""
import logging
import re

from peewee import CharField, DateTimeField, IntegerField, Model, TextField
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


def _connection_status_fields(db, migrator):
    # lifecycle.py writes a cause code and the missing permissions instead of English text parsed back later;
    # Stripe App connections keep their kind and the access token's expiry.
    columns = {column.name for column in db.get_columns("stripe_connection")}
    added = [(name, field) for name, field in (
        ("status_code", CharField(max_length=40, null=True)),
        ("missing_permissions", TextField(null=True)),
        ("oauth_kind", CharField(max_length=10, null=True)),
        ("access_expires_at", DateTimeField(null=True)),
    ) if name not in columns]
    if added:
        migrate(*(migrator.add_column("stripe_connection", name, field) for name, field in added))
    # Rows written before: their reason text becomes the structured fields once.
    for row in db.execute_sql(
        "SELECT id, status, status_reason, method FROM stripe_connection WHERE status_reason IS NOT NULL "
        "AND status_code IS NULL"
    ).fetchall():
        code, missing = _cause_from_text(row[2], row[1])
        db.execute_sql(
            f"UPDATE stripe_connection SET status_code = {_param()}, missing_permissions = {_param()} WHERE id = {_param()}",
            (code, missing, row[0]),
        )
    db.execute_sql("UPDATE stripe_connection SET oauth_kind = 'connect' WHERE method = 'oauth' AND oauth_kind IS NULL")


def _param():
    return "?" if is_sqlite() else "%s"


def _cause_from_text(reason, status):
    names = " ".join(dict.fromkeys(re.findall(r"\brak_[a-z_]+\b", reason or ""))) or None
    if names:
        return "permissions-missing", names
    if "decrypted" in (reason or ""):
        return "secret-unreadable", None
    if "deauthorized" in (reason or ""):
        return "deauthorized", None
    if "rejected the key" in (reason or ""):
        return "key-rejected", None
    return ("access-revoked" if status == "revoked" else None), None


def _one_owner_per_account(db, migrator):
    db.create_tables([models.AccountOwner], safe=True)
    # Accounts connected before: their current holder (the earliest active connection) claims them.
    taken = {row[0] for row in db.execute_sql("SELECT stripe_account_id FROM account_owner").fetchall()}
    rows = db.execute_sql(
        "SELECT stripe_account_id, user_id FROM stripe_connection WHERE status IN ('active', 'needs-attention') "
        "ORDER BY connected_at, id"
    ).fetchall()
    for account_id, user_id in rows:
        if account_id not in taken:
            db.execute_sql(
                f"INSERT INTO account_owner (stripe_account_id, user_id, claimed_at) VALUES ({_param()}, {_param()}, "
                "CURRENT_TIMESTAMP)", (account_id, user_id),
            )
            taken.add(account_id)


def _pending_installs(db, migrator):
    db.create_tables([models.PendingInstall], safe=True)


MIGRATIONS = [
    (1, "create tables", _create_tables),
    (2, "index import runs by connection and time", _index_import_runs_by_connection_and_time),
    (3, "import run progress and one active run per connection", _import_run_progress_and_one_active_run),
    (10, "connection status code, missing permissions, OAuth kind and token expiry", _connection_status_fields),
    (11, "one owner per Stripe account", _one_owner_per_account),
    (12, "pending Marketplace installs", _pending_installs),
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
