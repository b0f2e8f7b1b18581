"""Versioned schema migrations (playhouse.migrate), run by the Procfile's `release:` line: `flask db upgrade`.

Migration 1 creates the tables as `models.py` declares them. Every later change to a table is a new
numbered migration written so that it is a no-op where its change is already there: a fresh database
(migration 1 builds the current tables) and an upgraded one then end with the same schema.
"""
import logging

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


def _stripe_enums_as_text(db, migrator):
    # balance_transaction.type was VARCHAR(40); the pinned API has a 43-character type and Stripe adds more.
    # SQLite does not enforce VARCHAR lengths: nothing to change there.
    if is_sqlite():
        return
    columns = {"balance_transaction": ("type", "reporting_category", "status"), "payout": ("status",),
               "charge": ("status",), "refund": ("status",)}
    for table, names in columns.items():
        for name in names:
            kind = db.execute_sql(
                "SELECT data_type FROM information_schema.columns WHERE table_name = %s AND column_name = %s",
                (table, name)).fetchone()
            if kind and kind[0] != "text":
                db.execute_sql(f'ALTER TABLE "{table}" ALTER COLUMN "{name}" TYPE TEXT')


def _add_columns(db, table, new_columns, migrator):
    present = {column.name for column in db.get_columns(table)}
    changes = [migrator.add_column(table, name, field) for name, field in new_columns if name not in present]
    if changes:
        migrate(*changes)


def _payout_lifecycle_and_who_paid(db, migrator):
    # What Stripe says about a payout's itemisation and failure; who paid a charge; a transaction's balance.
    _add_columns(db, "payout", [
        ("reconciliation_status", TextField(null=True)), ("failure_code", TextField(null=True)),
        ("failure_message", TextField(null=True)), ("failure_balance_transaction_id", CharField(max_length=255, null=True)),
        ("original_payout_id", CharField(max_length=255, null=True)),
        ("reversed_by_id", CharField(max_length=255, null=True)), ("itemised_at", DateTimeField(null=True)),
    ], migrator)
    _add_columns(db, "charge", [
        ("customer_name", TextField(null=True)), ("customer_email", TextField(null=True)),
        ("payment_intent_id", CharField(max_length=255, null=True)),
    ], migrator)
    _add_columns(db, "balance_transaction", [("balance_type", TextField(null=True))], migrator)
    # "pending" became "waiting" (the contract's word); every import decides each payout afresh anyway.
    db.execute_sql("UPDATE payout SET reconciliation = 'waiting' WHERE reconciliation = 'pending'")
    db.execute_sql("UPDATE payout SET itemised_at = reconciled_at WHERE itemised_at IS NULL AND reconciled_at IS NOT NULL")


def _invoices_disputes_unreadable_objects_bookkeeping(db, migrator):
    db.create_tables([models.Invoice, models.Dispute, models.UnreadableObject, models.BookkeepingSettings], safe=True)


MIGRATIONS = [
    (1, "create tables", _create_tables),
    (2, "index import runs by connection and time", _index_import_runs_by_connection_and_time),
    (3, "import run progress and one active run per connection", _import_run_progress_and_one_active_run),
    (20, "stripe enums as text", _stripe_enums_as_text),
    (21, "payout lifecycle and who paid", _payout_lifecycle_and_who_paid),
    (22, "invoices, disputes, unreadable objects, bookkeeping settings",
     _invoices_disputes_unreadable_objects_bookkeeping),
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
