"""store.py's hand-built path (peewee writes the statement once, the driver runs it for every row) pinned against
the library: the parameters peewee writes are exactly the row's columns in order, and the rows stored equal what
peewee's own insert_many(…).on_conflict(…) stores."""
from envoix.db import database
from envoix.models import BalanceTransaction, Payout, StripeConnection, User
from envoix.sync import store, stripe_rows


def page(n, first=0):
    return [{"id": f"po_{first + i:04d}", "object": "payout", "amount": 1000 + i, "currency": "eur", "status": "paid",
             "arrival_date": 1700000000, "created": 1700000000 + i, "automatic": True,
             "balance_transaction": f"txn_{i}", "reconciliation_status": "completed"} for i in range(n)]


def rows_of(model):
    return sorted(tuple((name, value) for name, value in row.items() if name != "id")
                  for row in model.select().dicts())


def test_peewee_writes_one_parameter_per_column_in_the_order_given(app):
    with app.app_context(), database.connection_context():
        row = store._complete(Payout, stripe_rows.payout(1, page(1)[0]))
        names = list(row)
        fields = [Payout._meta.fields[name] for name in names]
        for refreshed in ((), store.PAYOUT_CHANGES):
            sql, params = store.statement(Payout, [[row[n] for n in names]], fields, refreshed).sql()
            assert params == [field.db_value(row[name]) for field, name in zip(fields, names)]
            assert "RETURNING" not in sql.upper()


def test_the_hand_built_path_stores_what_peewees_own_insert_many_stores(app):
    with app.app_context(), database.connection_context():
        user = User.create(email="lena@example.com", password_hash="x")
        connection = StripeConnection.create(user=user, stripe_account_id="acct_1", method="api_key", livemode=False)
        objects = page(150)
        with database.atomic():
            assert store.store("payouts", connection.id, objects[:100]) == 100
            store.store("payouts", connection.id, objects[50:])  # overlapping: updated, never duplicated
        by_hand = rows_of(Payout)
        Payout.delete().execute()
        rows = [store._complete(Payout, stripe_rows.payout(connection.id, obj)) for obj in objects]
        with database.atomic():
            store.statement(Payout, rows[:100], None, store.PAYOUT_CHANGES).execute()
            store.statement(Payout, rows[50:], None, store.PAYOUT_CHANGES).execute()
        assert rows_of(Payout) == by_hand and len(by_hand) == 150


def test_a_page_that_names_an_object_twice_is_stored_once(app):
    with app.app_context(), database.connection_context():
        user = User.create(email="lena@example.com", password_hash="x")
        connection = StripeConnection.create(user=user, stripe_account_id="acct_1", method="api_key", livemode=False)
        txn = {"id": "txn_1", "type": "charge", "amount": 100, "fee": 0, "net": 100, "currency": "eur", "created": 1}
        with database.atomic():
            store.store("balance_transactions", connection.id, [txn, dict(txn)], payout_id="po_1")
        assert BalanceTransaction.select().count() == 1
