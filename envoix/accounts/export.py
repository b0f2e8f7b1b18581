"""The CSV export of an account's reconciled payouts and their transactions, written row by row as it streams.

Spreadsheet conventions follow the user's language: German gets semicolons and a decimal comma (what
German Excel and LibreOffice expect), English commas and a decimal point. Amounts are plain numbers in
the currency's major unit (no symbol, no grouping); dates are ISO 8601 in UTC.
"""
import csv
import io
from datetime import datetime, timezone

from babel.numbers import get_decimal_symbol
from flask_babel import get_locale
from flask_babel import gettext as _

from ..db import database
from ..models import BalanceTransaction, Payout
from ..money import format_plain
from ..sync.reconciliation import not_the_payouts_own

PAYOUTS_PER_CHUNK = 200


def filename(connection, today=None):
    today = today or datetime.now(timezone.utc).date()
    mode = "live" if connection.livemode else "test"
    return f"envoix-payouts-{connection.stripe_account_id}-{mode}-{today.isoformat()}.csv"


def csv_rows(connection, locale=None):
    """Yield the CSV text line by line: a header, then one line per transaction of each reconciled payout."""
    locale = str(locale or get_locale() or "de")
    delimiter = ";" if get_decimal_symbol(locale) == "," else ","
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n")

    def line(values):
        writer.writerow(values)
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    yield line([
        _("Payout"), _("Payout created"), _("Arrival date"), _("Payout amount"), _("Currency"), _("Transaction"),
        _("Type"), _("Created"), _("Description"), _("Source"), _("Gross"), _("Fee"), _("Net"),
    ])
    # The response streams after the view returned and its request closed the connection: open our own.
    with database.connection_context():
        for payouts in _reconciled_payouts_in_chunks(connection):
            by_id = {payout.stripe_id: payout for payout in payouts}
            for txn in _transactions_of(connection, by_id):
                payout = by_id[txn.payout_id]
                money = payout.currency
                yield line([
                    payout.stripe_id, _date(payout.created), _date(payout.arrival_date),
                    format_plain(payout.amount, money, locale), money.upper(), txn.stripe_id, txn.type,
                    _datetime(txn.created), _text(txn.description), _text(txn.source_id),
                    format_plain(txn.amount, txn.currency, locale), format_plain(txn.fee, txn.currency, locale),
                    format_plain(txn.net, txn.currency, locale),
                ])


def _reconciled_payouts_in_chunks(connection):
    # Keyset pagination on (created, id): memory holds one chunk, however many payouts there are.
    after = None
    while True:
        query = Payout.select().where((Payout.connection == connection) & (Payout.reconciliation == "reconciled"))
        if after is not None:
            created, payout_id = after
            query = query.where((Payout.created > created) | ((Payout.created == created) & (Payout.id > payout_id)))
        chunk = list(query.order_by(Payout.created, Payout.id).limit(PAYOUTS_PER_CHUNK))
        if not chunk:
            return
        yield chunk
        after = (chunk[-1].created, chunk[-1].id)


def _transactions_of(connection, payouts_by_id):
    """The chunk's lines in one query, in the payouts' order (oldest first), each payout's lines oldest first."""
    settled_by = (Payout.connection == BalanceTransaction.connection) & (Payout.stripe_id == BalanceTransaction.payout_id)
    return (
        BalanceTransaction.select()
        .join(Payout, on=settled_by)
        .where((BalanceTransaction.connection == connection)
               & Payout.id.in_([payout.id for payout in payouts_by_id.values()]) & not_the_payouts_own())
        .order_by(Payout.created, Payout.id, BalanceTransaction.created, BalanceTransaction.id)
        .iterator()
    )


def _text(value):
    # Free text from Stripe (descriptions are set by whoever made the charge): a leading =, +, - or @ would
    # make a spreadsheet run it as a formula.
    value = value or ""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def _date(timestamp):
    return datetime.fromtimestamp(timestamp, timezone.utc).date().isoformat() if timestamp else ""


def _datetime(timestamp):
    return datetime.fromtimestamp(timestamp, timezone.utc).strftime("%Y-%m-%d %H:%M:%S") if timestamp else ""
