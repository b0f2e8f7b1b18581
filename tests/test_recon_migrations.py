"""Migrations 20-22 on a database as version 3 left it (VARCHAR(40) types, no payout lifecycle columns, no tables
for invoices, disputes, unreadable objects and bookkeeping settings): afterwards a 43-character type is stored,
and a payout reconciled under the old rules keeps its verdict's inputs."""
from envoix import migrations
from envoix.db import database, is_sqlite
from envoix.models import BalanceTransaction, StripeConnection, UnreadableObject, User

from test_migrations import reset


def test_an_upgraded_database_stores_every_stripe_type_and_keeps_what_was_reconciled(app):
    with database.connection_context():
        reset()
        migrations.upgrade(target=3)
        placeholder = "?" if is_sqlite() else "%s"
        database.execute_sql(f'INSERT INTO "user" (email, password_hash, created_at) VALUES ({placeholder}, '
                             f"'x', '2026-01-01 00:00:00')", ("lena@example.com",))
        user_id = database.execute_sql('SELECT id FROM "user"').fetchone()[0]
        database.execute_sql(
            "INSERT INTO stripe_connection (user_id, stripe_account_id, method, livemode, status, connected_at, "
            f"updated_at) VALUES ({placeholder}, 'acct_1', 'api_key', {placeholder}, 'active', '2026-01-01', '2026-01-01')",
            (user_id, False))
        connection_id = database.execute_sql("SELECT id FROM stripe_connection").fetchone()[0]
        database.execute_sql(
            "INSERT INTO payout (connection_id, stripe_id, amount, currency, status, created, automatic, "
            f"reconciliation, reconciled_at) VALUES ({placeholder}, 'po_1', 100, 'eur', 'paid', 1, {placeholder}, "
            "'pending', '2026-01-01 00:00:00')", (connection_id, True))

        assert 20 in migrations.upgrade() and migrations.current_version() == migrations.LATEST

        connection = StripeConnection.get_by_id(connection_id)
        BalanceTransaction.create(connection=connection, stripe_id="txn_1",
                                  type="issuing_dispute_provisional_credit_reversal", amount=1, fee=0, net=1,
                                  currency="eur", created=1)
        assert BalanceTransaction.get().type == "issuing_dispute_provisional_credit_reversal"
        row = database.execute_sql("SELECT reconciliation, itemised_at FROM payout").fetchone()
        assert row[0] == "waiting" and row[1] is not None  # read once before: not read again for nothing
        UnreadableObject.create(connection=connection, object_type="balance_transactions", stripe_id="", reason="x")
        assert User.select().count() == 1
