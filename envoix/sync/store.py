"""Writes one page of Stripe objects into Envoix's tables: one INSERT … ON CONFLICT statement, run for every row."""
from peewee import EXCLUDED

from ..db import database
from ..models import BalanceTransaction, Charge, Payout, Refund
from . import stripe_rows

# Stripe's list name -> (table, row builder, columns an already stored row takes from a newer read).
# Balance transactions, charges and refunds are kept as first read (their money does not change); a
# payout's status does, until it is paid, failed or canceled.
TABLES = {
    "balance_transactions": (BalanceTransaction, stripe_rows.balance_transaction, ()),
    "payouts": (Payout, stripe_rows.payout, ("status", "arrival_date", "amount", "balance_transaction_id")),
    "charges": (Charge, stripe_rows.charge, ()),
    "refunds": (Refund, stripe_rows.refund, ()),
}


def store(kind, connection_id, objects, **extra):
    """Store a page of `kind`; a row already there (same connection and Stripe id) is never duplicated.

    `extra` columns (e.g. payout_id) are set on new rows and on rows already stored. Returns how many rows
    the statement wrote: for balance transactions, charges and refunds without `extra`, the new ones.
    Call it inside the page's transaction.
    """
    if not objects:
        return 0
    model, to_row, refreshed = TABLES[kind]
    rows = [to_row(connection_id, obj, **extra) for obj in objects]
    names = list(rows[0])
    fields = [model._meta.fields[name] for name in names]
    statement = _statement(model, fields, refreshed + tuple(extra), tuple(rows[0].values()))
    sql, params = statement.as_rowcount().sql()  # as_rowcount: no RETURNING id on PostgreSQL
    # peewee writes the statement (quoting, placeholders, ON CONFLICT for SQLite and PostgreSQL alike) and
    # appends the column defaults it filled in (e.g. payout.reconciliation) after our columns. Having it
    # render all 100 rows costs more than fetching the page; the driver's executemany costs next to nothing.
    defaults = tuple(params[len(names):])
    values = [tuple(field.db_value(row[name]) for field, name in zip(fields, names)) + defaults for row in rows]
    cursor = database.cursor()
    cursor.executemany(sql, values)
    return cursor.rowcount


def _statement(model, fields, refreshed, first_row):
    query = model.insert_many([first_row], fields=fields)
    conflict = [model.connection, model.stripe_id]
    if refreshed:
        columns = [getattr(model, name) for name in refreshed]
        return query.on_conflict(conflict_target=conflict,
                                 update={column: getattr(EXCLUDED, column.column_name) for column in columns})
    # ON CONFLICT (connection_id, stripe_id) DO NOTHING, not SQLite's INSERT OR IGNORE, which would also
    # swallow a NOT NULL violation.
    return query.on_conflict(conflict_target=conflict, action="NOTHING")
