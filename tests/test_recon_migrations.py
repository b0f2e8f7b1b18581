"""Migrations 20-22 on a database as version 3 left it: VARCHAR(40) types, no payout lifecycle columns, no
tables for invoices, disputes, unreadable objects and bookkeeping settings. After the upgrade a 43-character type
is stored, and a payout reconciled under the old rules keeps its verdict's inputs."""
from envoix import migrations
from envoix.db import database, is_sqlite
from envoix.models import BalanceTransaction, StripeConnection, User, UnreadableObject

from test_migrations import schema

NEW_TABLES = ("invoice", "dispute", "unreadable_object", "bookkeeping_settings")
NEW_COLUMNS = {
    "payout": ("reconciliation_status", "failure_code", "failure_message", "failure_balance_transaction_id",
               "original_payout_id", "reversed_by_id", "itemised_at"),
    "charge": ("customer_name", "customer_email", "payment_intent_id"),
    "balance_transaction": ("balance_type",),
}


def as_version_3_left_it():
    for table in NEW_TABLES:
        database.execute_sql(f'DROP TABLE IF EXISTS "{table}"')
    for table, columns in NEW_COLUMNS.items():
        for column in columns:
            database.execute_sql(f'ALTER TABLE "{table}" DROP COLUMN "{column}"')
    if not is_sqlite():
        database.execute_sql('ALTER TABLE "balance_transaction" ALTER COLUMN "type" TYPE VARCHAR(40)')
    database.execute_sql("DELETE FROM schema_version WHERE version > 3")


def test_an_upgraded_database_stores_every_stripe_type_and_ends_like_a_fresh_one(app):
    with database.connection_context():
        fresh = schema()
        user = User.create(email="lena@example.com", password_hash="x")
        connection = StripeConnection.create(user=user, stripe_account_id="acct_1", method="api_key", livemode=False)
        database.execute_sql(
            "INSERT INTO payout (connection_id, stripe_id, amount, currency, status, created, automatic, "
            "reconciliation, reconciled_at) VALUES (%s, 'po_1', 100, 'eur', 'paid', 1, %s, 'pending', %s)"
            .replace("%s", "?" if is_sqlite() else "%s"), (connection.id, True, "2026-01-01 00:00:00"))
        as_version_3_left_it()

        assert migrations.upgrade() == [v for v, _, _ in migrations.MIGRATIONS if v > 3]

        assert schema() == fresh
        BalanceTransaction.create(connection=connection, stripe_id="txn_1",
                                  type="issuing_dispute_provisional_credit_reversal", amount=1, fee=0, net=1,
                                  currency="eur", created=1)
        assert BalanceTransaction.get().type == "issuing_dispute_provisional_credit_reversal"
        row = database.execute_sql("SELECT reconciliation, itemised_at FROM payout").fetchone()
        assert row[0] == "waiting" and row[1] is not None  # read once before: not read again for nothing
        UnreadableObject.create(connection=connection, object_type="balance_transactions", stripe_id="", reason="x")
