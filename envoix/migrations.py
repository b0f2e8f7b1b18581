"""Versioned schema migrations (playhouse.migrate), run by the Procfile's `release:` line: `flask db upgrade`.

Migration 1 creates version 1's tables from their frozen copy (`schema_v1.py`), never from today's `models.py`.
Every later change to a table (a new table, column or index) is a new numbered migration that makes it explicitly,
written so that it is a no-op where its change is already there. tests/test_migrations.py checks that all of them
together give exactly the tables of `models.py`, and that leaving any one out does not. Numbers may have gaps
(each area of the code has its own range); migrations run in number order, each once, recorded in schema_version.
A migration that changes data but no table is marked `@data_only` (the schema test then does not expect it to
change the schema).
"""
import logging
import re

from peewee import (BigIntegerField, BooleanField, CharField, CompositeKey, DateTimeField, ForeignKeyField, IntegerField, Model,
                    TextField)
from playhouse.migrate import PostgresqlMigrator, SqliteMigrator, migrate

from . import schema_v1
from .db import database, is_sqlite

log = logging.getLogger(__name__)


class SchemaVersion(Model):
    version = IntegerField(primary_key=True)
    name = CharField(max_length=200)

    class Meta:
        database = database
        table_name = "schema_version"


def data_only(step):
    """Marks a migration that changes rows, not tables."""
    step.data_only = True
    return step


def _create_tables(db, migrator):
    # Version 1's tables, frozen: never today's models (their later columns and indexes have migrations of their own).
    db.create_tables(schema_v1.TABLES, safe=True)


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


class _AccountOwner11(schema_v1._Frozen):
    # Frozen as migration 11 creates it (models.AccountOwner may change later: with a migration of its own).
    stripe_account_id = CharField(max_length=255, unique=True)
    user = ForeignKeyField(schema_v1.User, on_delete="CASCADE")
    claimed_at = DateTimeField()

    class Meta:
        table_name = "account_owner"


class _PendingInstall12(schema_v1._Frozen):
    reference = CharField(max_length=64, unique=True)
    stripe_account_id = CharField(max_length=255)
    tokens_encrypted = TextField()
    created_at = DateTimeField()

    class Meta:
        table_name = "pending_install"


def _one_owner_per_account(db, migrator):
    db.create_tables([_AccountOwner11], safe=True)
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
    db.create_tables([_PendingInstall12], safe=True)
def _import_run_owner_and_enqueued_at(db, migrator):
    # The worker holding a run, and whether its job reached the queue (sync/runs.py).
    columns = {column.name for column in db.get_columns("import_run")}
    changes = []
    if "owner" not in columns:
        changes.append(migrator.add_column("import_run", "owner", CharField(max_length=40, null=True)))
    if "enqueued_at" not in columns:
        changes.append(migrator.add_column("import_run", "enqueued_at", DateTimeField(null=True)))
    if changes:
        migrate(*changes)


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


class _ImportStream31(schema_v1._Frozen):
    # As migration 31 creates it (frozen: a later change to models.ImportStream gets a migration of its own).
    connection = ForeignKeyField(schema_v1.StripeConnection, on_delete="CASCADE")
    object_type = CharField(max_length=40)
    created_gte = BigIntegerField(null=True)
    created_lt = BigIntegerField(null=True)
    resume_after = CharField(max_length=255, null=True)
    newest = BigIntegerField(null=True)
    position = BigIntegerField(null=True)
    done = BooleanField(default=False)

    class Meta:
        table_name = "import_stream"
        indexes = ((("connection", "object_type"), False),)


def _import_streams(db, migrator):
    # Streams of an unfinished import read side by side, each with its own cursor (sync/importer.py).
    db.create_tables([_ImportStream31], safe=True)


class _UserSession40(schema_v1._Frozen):
    # As migration 41 creates it (frozen: a later change to models.UserSession gets a migration of its own).
    user = ForeignKeyField(schema_v1.User, on_delete="CASCADE")
    key_hash = CharField(max_length=64, unique=True)
    remember = BooleanField(default=False)
    user_agent = CharField(max_length=200, null=True)
    created_at = DateTimeField()
    last_seen_at = DateTimeField()
    expires_at = DateTimeField()

    class Meta:
        table_name = "user_session"


class _AccountEvent40(schema_v1._Frozen):
    user = ForeignKeyField(schema_v1.User, on_delete="CASCADE")
    kind = CharField(max_length=40)
    details = TextField(null=True)
    at = DateTimeField(index=True)

    class Meta:
        table_name = "account_event"


def _user_sessions(db, migrator):
    # Server-side sessions: logout, a password change and "sign out everywhere" end cookies for good.
    db.create_tables([_UserSession40], safe=True)


def _account_events(db, migrator):
    # The event log a user sees on /settings (sign-ins, connections, password changes …), cleaned after 90 days.
    db.create_tables([_AccountEvent40], safe=True)


def _stripe_enums_as_text(db, migrator):
    # balance_transaction.type was VARCHAR(40); the pinned API has a 43-character type and Stripe adds more.
    # (On SQLite the length is not enforced, but the column's declared type follows models.py all the same.)
    columns = {"balance_transaction": (("type", False), ("reporting_category", True), ("status", True)),
               "payout": (("status", False),), "charge": (("status", True),), "refund": (("status", True),)}
    for table, names in columns.items():
        declared = {column.name: column.data_type.lower() for column in db.get_columns(table)}
        changes = [migrator.alter_column_type(table, name, TextField(null=null)) for name, null in names
                   if declared.get(name, "text") != "text"]
        if changes:
            migrate(*changes)


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


# As migration 22 creates them (frozen: later changes to these models get migrations of their own).
class _Invoice22(schema_v1._Frozen):
    connection = ForeignKeyField(schema_v1.StripeConnection, on_delete="CASCADE")
    stripe_id = CharField(max_length=255)
    number = TextField(null=True)
    customer_id = CharField(max_length=255, null=True)
    customer_name = TextField(null=True)
    customer_email = TextField(null=True)
    charge_id = CharField(max_length=255, null=True, index=True)
    payment_intent_id = CharField(max_length=255, null=True)
    amount_paid = BigIntegerField(default=0)
    currency = CharField(max_length=3)
    status = TextField(null=True)
    created = BigIntegerField()

    class Meta:
        table_name = "invoice"
        indexes = ((("connection", "stripe_id"), True),)


class _Dispute22(schema_v1._Frozen):
    connection = ForeignKeyField(schema_v1.StripeConnection, on_delete="CASCADE")
    stripe_id = CharField(max_length=255)
    charge_id = CharField(max_length=255, null=True)
    amount = BigIntegerField()
    currency = CharField(max_length=3)
    reason = TextField(null=True)
    status = TextField(null=True)
    created = BigIntegerField()

    class Meta:
        table_name = "dispute"
        indexes = ((("connection", "stripe_id"), True),)


class _UnreadableObject22(schema_v1._Frozen):
    connection = ForeignKeyField(schema_v1.StripeConnection, on_delete="CASCADE")
    object_type = CharField(max_length=40)
    stripe_id = CharField(max_length=255)
    reason = TextField()
    seen_at = DateTimeField()

    class Meta:
        table_name = "unreadable_object"
        indexes = ((("connection", "object_type", "stripe_id"), True),)


class _BookkeepingSettings22(schema_v1._Frozen):
    user = ForeignKeyField(schema_v1.User, on_delete="CASCADE", unique=True)
    chart = CharField(max_length=5, default="SKR03")
    adviser_number = IntegerField(null=True)
    client_number = IntegerField(null=True)
    fiscal_year_start_month = IntegerField(default=1)
    account_length = IntegerField(default=4)
    clearing_account = IntegerField(null=True)
    revenue_account = IntegerField(null=True)
    fees_account = IntegerField(null=True)
    refunds_account = IntegerField(null=True)
    disputes_account = IntegerField(null=True)
    transit_account = IntegerField(null=True)
    other_account = IntegerField(null=True)
    updated_at = DateTimeField()

    class Meta:
        table_name = "bookkeeping_settings"


def _invoices_disputes_unreadable_objects_bookkeeping(db, migrator):
    db.create_tables([_Invoice22, _Dispute22, _UnreadableObject22, _BookkeepingSettings22], safe=True)


_TALLY_SQLITE = [
    'CREATE TRIGGER IF NOT EXISTS "balance_transaction_tally_insert" AFTER INSERT ON "balance_transaction" BEGIN '
    'INSERT INTO "transaction_tally" ("connection_id", "shard", "stored") VALUES (NEW."connection_id", 0, 1) '
    'ON CONFLICT ("connection_id", "shard") DO UPDATE SET "stored" = "stored" + 1; END',
    'CREATE TRIGGER IF NOT EXISTS "balance_transaction_tally_delete" AFTER DELETE ON "balance_transaction" BEGIN '
    'UPDATE "transaction_tally" SET "stored" = "stored" - 1 WHERE "connection_id" = OLD."connection_id" AND "shard" = 0; END',
]
# Each writing transaction counts into its own row (shard = its transaction id): no transaction ever waits for
# another's counter (a shared row per connection deadlocked imports whose streams store pages side by side).
# A delete whose connection is gone (the cascade of deleting it) counts nothing: its rows go with it.
_TALLY_POSTGRESQL = [
    'CREATE OR REPLACE FUNCTION "envoix_tally_inserted"() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN '
    'INSERT INTO "transaction_tally" ("connection_id", "shard", "stored") '
    'SELECT "connection_id", txid_current(), COUNT(*) FROM "inserted_rows" GROUP BY "connection_id" '
    'ON CONFLICT ("connection_id", "shard") DO UPDATE SET "stored" = "transaction_tally"."stored" + EXCLUDED."stored"; '
    'RETURN NULL; END $$',
    'CREATE OR REPLACE FUNCTION "envoix_tally_deleted"() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN '
    'INSERT INTO "transaction_tally" ("connection_id", "shard", "stored") '
    'SELECT d."connection_id", txid_current(), -d."n" FROM '
    '(SELECT "connection_id", COUNT(*) AS "n" FROM "deleted_rows" GROUP BY "connection_id") AS d '
    'WHERE EXISTS (SELECT 1 FROM "stripe_connection" AS c WHERE c."id" = d."connection_id") '
    'ON CONFLICT ("connection_id", "shard") DO UPDATE SET "stored" = "transaction_tally"."stored" + EXCLUDED."stored"; '
    'RETURN NULL; END $$',
    'DROP TRIGGER IF EXISTS "balance_transaction_tally_insert" ON "balance_transaction"',
    'CREATE TRIGGER "balance_transaction_tally_insert" AFTER INSERT ON "balance_transaction" '
    'REFERENCING NEW TABLE AS "inserted_rows" FOR EACH STATEMENT EXECUTE FUNCTION "envoix_tally_inserted"()',
    'DROP TRIGGER IF EXISTS "balance_transaction_tally_delete" ON "balance_transaction"',
    'CREATE TRIGGER "balance_transaction_tally_delete" AFTER DELETE ON "balance_transaction" '
    'REFERENCING OLD TABLE AS "deleted_rows" FOR EACH STATEMENT EXECUTE FUNCTION "envoix_tally_deleted"()',
]


class _TransactionTally60(schema_v1._Frozen):
    # As migration 60 creates it (frozen: a later change to models.TransactionTally gets a migration of its own).
    connection = ForeignKeyField(schema_v1.StripeConnection, on_delete="CASCADE")
    shard = BigIntegerField(default=0)
    stored = BigIntegerField(default=0)

    class Meta:
        table_name = "transaction_tally"
        primary_key = CompositeKey("connection", "shard")


def _transaction_tally(db, migrator):
    # The account cards' count of stored balance transactions, kept by triggers (models.TransactionTally):
    # counting them per connection on every page view was most of the overview's SQL time. (On SQLite a migration
    # that rebuilds balance_transaction, e.g. alter_column_type, drops its triggers: it must make them again.)
    postgresql = not is_sqlite()
    if postgresql:
        # No import may store rows between the backfill and the triggers (an old worker still running).
        db.execute_sql('LOCK TABLE "balance_transaction" IN SHARE ROW EXCLUSIVE MODE')
    created = not db.table_exists("transaction_tally")
    db.create_tables([_TransactionTally60], safe=True)
    for statement in _TALLY_POSTGRESQL if postgresql else _TALLY_SQLITE:
        db.execute_sql(statement)
    if created:
        db.execute_sql('INSERT INTO "transaction_tally" ("connection_id", "shard", "stored") '
                       'SELECT "connection_id", 0, COUNT(*) FROM "balance_transaction" GROUP BY "connection_id"')


# (number, name, step). Keep the list in number order; gaps are fine (numbers 10-59 are handed out by area).
MIGRATIONS = [
    (1, "create tables", _create_tables),
    (2, "index import runs by connection and time", _index_import_runs_by_connection_and_time),
    (3, "import run progress and one active run per connection", _import_run_progress_and_one_active_run),
    (10, "connection status code, missing permissions, OAuth kind and token expiry", _connection_status_fields),
    (11, "one owner per Stripe account", _one_owner_per_account),
    (12, "pending Marketplace installs", _pending_installs),
    (20, "stripe enums as text", _stripe_enums_as_text),
    (21, "payout lifecycle and who paid", _payout_lifecycle_and_who_paid),
    (22, "invoices, disputes, unreadable objects, bookkeeping settings",
     _invoices_disputes_unreadable_objects_bookkeeping),
    (30, "import run owner and enqueued_at", _import_run_owner_and_enqueued_at),
    (31, "import streams", _import_streams),
    (40, "user: email confirmation and two-factor columns", _user_account_security_columns),
    (41, "user sessions", _user_sessions),
    (42, "account events", _account_events),
    (60, "transaction tally kept by triggers", _transaction_tally),
]
MIGRATIONS.sort(key=lambda migration: migration[0])
assert len({version for version, _, _ in MIGRATIONS}) == len(MIGRATIONS), "two migrations share a number"
LATEST = MIGRATIONS[-1][0]


def applied_versions():
    if not database.table_exists("schema_version"):
        return set()
    return {row.version for row in SchemaVersion.select(SchemaVersion.version)}


def current_version():
    return max(applied_versions(), default=0)


def pending(target=None):
    """The migrations not yet applied (up to `target`), in number order: also one whose number is lower than the
    newest applied, as when two branches each added a migration in their own range."""
    target = LATEST if target is None else target
    done = applied_versions()
    return [migration for migration in MIGRATIONS if migration[0] not in done and migration[0] <= target]


def upgrade(target=None, skip=()):
    """Apply every pending migration (up to `target`; none of `skip`, which only tests use); returns what ran."""
    migrator = SqliteMigrator(database.obj) if is_sqlite() else PostgresqlMigrator(database.obj)
    database.create_tables([SchemaVersion], safe=True)
    applied = []
    for version, name, step in pending(target):
        if version in skip:
            continue
        with database.atomic():
            step(database, migrator)
            SchemaVersion.create(version=version, name=name)
        log.info("applied migration %s: %s", version, name)
        applied.append(version)
    return applied
