"""Writes one page of Stripe objects into Envoix's tables (one INSERT … ON CONFLICT that peewee writes, run for
every row), and keeps the objects it cannot read aside (UnreadableObject) so they never block the rest of the
page or the import."""
import logging

from peewee import EXCLUDED

from ..db import database
from ..models import BalanceTransaction, Charge, Dispute, Invoice, Payout, Refund, UnreadableObject, utcnow
from . import stripe_rows

log = logging.getLogger(__name__)
# Stripe's list name -> (table, row builder, columns an already stored row takes from a newer read).
# Balance transactions, refunds and disputes' money is kept as first read; a payout changes (status,
# itemisation, failure) until it is final, and a charge's refunded amount and customer may change.
PAYOUT_CHANGES = ("status", "arrival_date", "amount", "balance_transaction_id", "automatic", "reconciliation_status",
                  "failure_code", "failure_message", "failure_balance_transaction_id", "original_payout_id",
                  "reversed_by_id")
TABLES = {
    "balance_transactions": (BalanceTransaction, stripe_rows.balance_transaction, ()),
    "payouts": (Payout, stripe_rows.payout, PAYOUT_CHANGES),
    "charges": (Charge, stripe_rows.charge, ("amount_refunded", "customer_name", "customer_email")),
    "refunds": (Refund, stripe_rows.refund, ()),
    "invoices": (Invoice, stripe_rows.invoice, ("number", "status", "charge_id", "payment_intent_id")),
    "disputes": (Dispute, stripe_rows.dispute, ("status",)),
}


def store(kind, connection_id, objects, **extra):
    """Store a page of `kind`; a row already there (same connection and Stripe id) is never duplicated.

    `extra` columns (e.g. payout_id) are set on new rows and on rows already stored. Returns how many rows
    the statement wrote: for balance transactions, charges and refunds without `extra`, the new ones.
    Objects that cannot be read are recorded as UnreadableObject (and forgotten once they read well).
    Call it inside the page's transaction.
    """
    if not objects:
        return 0
    model, to_row, refreshed = TABLES[kind]
    rows, unreadable = [], []
    for obj in objects:
        try:
            rows.append(to_row(connection_id, obj, **extra))
        except stripe_rows.Unreadable as problem:
            unreadable.append(problem)
    _remember_unreadable(kind, connection_id, unreadable)
    # One row per id: a page that names an object twice must not make ON CONFLICT touch a row twice.
    rows = list({row["stripe_id"]: row for row in rows}.values())
    if not rows:
        return 0
    _forget_unreadable(kind, connection_id, [row["stripe_id"] for row in rows])
    return _write(model, rows, refreshed + tuple(extra))


def statement(model, rows, fields, refreshed):
    """peewee's INSERT … ON CONFLICT for these rows: DO UPDATE of `refreshed`, else DO NOTHING (not SQLite's
    INSERT OR IGNORE, which would also swallow a NOT NULL violation)."""
    query = model.insert_many(rows, fields=fields)
    conflict = [model.connection, model.stripe_id]
    if refreshed:
        columns = [getattr(model, name) for name in refreshed]
        query = query.on_conflict(conflict_target=conflict,
                                  update={column: getattr(EXCLUDED, column.column_name) for column in columns})
    else:
        query = query.on_conflict(conflict_target=conflict, action="NOTHING")
    # No RETURNING id (peewee adds it on PostgreSQL when the query is built; as_rowcount drops it only when peewee
    # itself executes): the driver's executemany counts the rows written.
    return query.returning().as_rowcount()


def _write(model, rows, refreshed):
    # peewee writes the statement for the page's first row (quoting, placeholders, ON CONFLICT for SQLite and
    # PostgreSQL alike); the driver's executemany runs it for every row. Having peewee render all 100 rows
    # costs four times the CPU (benchmarks/import_throughput.py: CPU ratio 1.25 against 1.6, over the 1.5
    # target). Rows are complete (every column with a default is given), so the statement's parameters are
    # exactly `fields`, in order, by name; tests/test_store.py pins that peewee behaviour.
    rows = [_complete(model, row) for row in rows]
    names = list(rows[0])
    fields = [model._meta.fields[name] for name in names]
    sql, params = statement(model, [[row[name] for name in names] for row in rows[:1]], fields, refreshed).sql()
    if len(params) != len(fields):
        raise RuntimeError(f"peewee wrote {len(params)} parameters for {len(fields)} columns of {model.__name__}")
    values = [tuple(field.db_value(row[name]) for field, name in zip(fields, names)) for row in rows]
    cursor = database.cursor()
    cursor.executemany(sql, values)
    return cursor.rowcount


def _complete(model, row):
    for field in model._meta.sorted_fields:
        if field.name not in row and not field.primary_key and field.default is not None:
            row[field.name] = field.default() if callable(field.default) else field.default
    return row


def _remember_unreadable(kind, connection_id, problems):
    if not problems:
        return
    for problem in problems:
        log.warning("connection %s: kept aside an unreadable %s object %s (%s)", connection_id, kind,
                    problem.stripe_id or "without id", problem.reason)
    now = utcnow()
    rows = {(p.stripe_id, p.reason[:500]) for p in problems}
    UnreadableObject.insert_many(
        [{"connection": connection_id, "object_type": kind, "stripe_id": stripe_id, "reason": reason, "seen_at": now}
         for stripe_id, reason in sorted(dict(rows).items())]
    ).on_conflict(
        conflict_target=[UnreadableObject.connection, UnreadableObject.object_type, UnreadableObject.stripe_id],
        update={UnreadableObject.reason: EXCLUDED.reason, UnreadableObject.seen_at: EXCLUDED.seen_at},
    ).as_rowcount().execute()


def _forget_unreadable(kind, connection_id, stripe_ids):
    # Stripe fixed an object (or a newer Envoix reads it): it is no longer kept aside.
    UnreadableObject.delete().where(
        (UnreadableObject.connection == connection_id) & (UnreadableObject.object_type == kind)
        & UnreadableObject.stripe_id.in_(stripe_ids)
    ).execute()


def newest_created(objects):
    """The newest `created` among a page's objects that have a readable one (None if none has)."""
    found = [obj["created"] for obj in objects if isinstance(obj, dict) and isinstance(obj.get("created"), int)
             and not isinstance(obj.get("created"), bool) and abs(obj["created"]) <= stripe_rows.BIGINT]
    return max(found) if found else None


def last_id(objects):
    """The id of the page's last object Envoix can name (what `starting_after` continues from)."""
    for obj in reversed(objects):
        found = stripe_rows.object_id(obj)
        if found:
            return found
    return None
