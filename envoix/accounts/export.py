"""The CSV export, the bookkeeper's file: every payout with its reconciliation and failure, every transaction it
settled with its category in words, who paid and the invoice number; written row by row as it streams.

Spreadsheet conventions follow the user's language: German gets semicolons and a decimal comma (what German
Excel and LibreOffice expect), English commas and a decimal point; UTF-8 with a byte order mark, so Excel
reads umlauts. Amounts are plain numbers in the currency's major unit; times are in ENVOIX_TIMEZONE with
their UTC offset (the zone is named in the column's title); arrival days are calendar days. Every text cell
is guarded against spreadsheet formulas.
"""
import csv
import io
import re
import unicodedata
from datetime import datetime, timezone
from urllib.parse import quote

from babel.numbers import get_decimal_symbol
from flask_babel import get_locale, get_timezone
from flask_babel import gettext as _

from ..bookkeeping.categories import category_label
from ..db import database
from ..models import BalanceTransaction, Charge, Invoice, Payout
from ..money import format_plain
from ..sync.reconciliation import not_the_payouts_own
from .labels import payout_status_label, reconciliation_label

PAYOUTS_PER_CHUNK = 200
BOM = "\ufeff"
# What a spreadsheet may take for the start of a formula (or a DDE call), also in full-width forms and after
# leading blanks, which Excel skips.
FORMULA_START = set("=+-@\t\r\n ") | {"\uff1d", "\uff0b", "\uff0d", "\uff20", "\u3000"}
NUMBER = re.compile(r"^-?\d+(?:[.,]\d+)?$")


def filename(connection, today=None, locale=None):
    """The download's name in the user's language: (ASCII fallback, the real name)."""
    today = today or datetime.now(timezone.utc).date()
    mode = _("live") if connection.livemode else _("test")
    who = connection.business_name or connection.stripe_account_id
    name = f"{_('Stripe payouts')} {who} {mode} {today.isoformat()}.csv"
    name = re.sub(r'[\x00-\x1f\x7f"\\/:*?<>|;]+', "", name).strip()
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().strip() or "export.csv"
    return ascii_name, name


def content_disposition(connection, today=None):
    """RFC 6266: a plain ASCII filename for old clients, filename* (RFC 5987, UTF-8) with the real name."""
    ascii_name, name = filename(connection, today)
    return f'attachment; filename="{ascii_name}"; filename*=UTF-8\'\'{quote(name, safe="")}'


def guard(value):
    """A cell as text a spreadsheet shows and never runs: a leading formula character gets a "'" before it."""
    text = "" if value is None else str(value)
    if text and text[0] in FORMULA_START and not NUMBER.match(text):
        return "'" + text
    return text


def csv_rows(connection, locale=None):
    """Yield the CSV text line by line: a header, then each payout (oldest first) with the transactions it settled."""
    locale = str(locale or get_locale() or "de")
    zone = get_timezone()
    delimiter = ";" if get_decimal_symbol(locale) == "," else ","
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n")

    def line(values):
        writer.writerow([guard(value) for value in values])
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    def money(amount, currency):
        return format_plain(amount, currency, locale) if amount is not None else ""

    def moment(timestamp):
        if not timestamp:
            return ""
        return datetime.fromtimestamp(timestamp, timezone.utc).astimezone(zone).isoformat(sep=" ")

    zone_name = str(zone)
    yield BOM + line([
        _("Payout"), _("Payout status"), _("Reconciliation"), _("Difference"), _("Failure"),
        _("Payout created (%(zone)s)", zone=zone_name), _("Arrival date"), _("Payout amount"), _("Currency"),
        _("Transaction"), _("Type"), _("Category"), _("Created (%(zone)s)", zone=zone_name), _("Description"),
        _("Source"), _("Customer"), _("Invoice"), _("Gross"), _("Fee"), _("Net"),
    ])
    # The response streams after the view returned and its request closed the connection: open our own.
    with database.connection_context():
        for payouts in _payouts_in_chunks(connection):
            by_id = {payout.stripe_id: payout for payout in payouts}
            transactions = {}
            for txn in _transactions_of(connection, by_id):
                transactions.setdefault(txn.payout_id, []).append(txn)
            who = _who_paid(connection, [t.source_id for group in transactions.values() for t in group if t.source_id])
            for payout in payouts:
                money_of = payout.currency
                head = [
                    payout.stripe_id, payout_status_label(payout.status), reconciliation_label(payout.reconciliation),
                    money(payout.difference, money_of) if payout.reconciliation == "mismatch" else "",
                    " ".join(part for part in (payout.failure_message, payout.failure_code and f"({payout.failure_code})")
                             if part),
                    moment(payout.created), _date(payout.arrival_date), money(payout.amount, money_of), money_of.upper(),
                ]
                settled = transactions.get(payout.stripe_id, [])
                if not settled:
                    yield line(head + [""] * 11)
                for txn in settled:
                    customer, invoice = who.get(txn.source_id, ("", ""))
                    yield line(head + [
                        txn.stripe_id, txn.type, category_label(txn.reporting_category or "other_adjustment"),
                        moment(txn.created), txn.description, txn.source_id, customer, invoice,
                        money(txn.amount, txn.currency), money(txn.fee, txn.currency), money(txn.net, txn.currency),
                    ])


def _payouts_in_chunks(connection):
    # Keyset pagination on (created, id): memory holds one chunk, however many payouts there are.
    after = None
    while True:
        query = Payout.select().where(Payout.connection == connection)
        if after is not None:
            created, payout_id = after
            query = query.where((Payout.created > created) | ((Payout.created == created) & (Payout.id > payout_id)))
        chunk = list(query.order_by(Payout.created, Payout.id).limit(PAYOUTS_PER_CHUNK))
        if not chunk:
            return
        yield chunk
        after = (chunk[-1].created, chunk[-1].id)


def _transactions_of(connection, payouts_by_id):
    """The chunk's lines in one query, each payout's lines oldest first."""
    return (
        BalanceTransaction.select()
        .where((BalanceTransaction.connection == connection)
               & BalanceTransaction.payout_id.in_(list(payouts_by_id)) & not_the_payouts_own())
        .order_by(BalanceTransaction.created, BalanceTransaction.id)
        .iterator()
    )


def _who_paid(connection, source_ids):
    """charge id -> (customer name and email, invoice number) for the chunk's charges."""
    charge_ids = sorted({s for s in source_ids if s.startswith(("ch_", "py_"))})
    if not charge_ids:
        return {}
    charges = list(Charge.select().where((Charge.connection == connection) & Charge.stripe_id.in_(charge_ids)))
    intents = [c.payment_intent_id for c in charges if c.payment_intent_id]
    invoices = {}
    for invoice in Invoice.select().where((Invoice.connection == connection) & (
            Invoice.charge_id.in_(charge_ids) | Invoice.payment_intent_id.in_(intents or [""]))):
        invoices[invoice.charge_id] = invoices[invoice.payment_intent_id] = invoice
    found = {}
    for charge in charges:
        invoice = invoices.get(charge.stripe_id) or invoices.get(charge.payment_intent_id)
        customer = " ".join(part for part in (charge.customer_name, charge.customer_email and f"<{charge.customer_email}>")
                            if part)
        found[charge.stripe_id] = (customer, invoice.number if invoice and invoice.number else "")
    return found


def _date(timestamp):
    return datetime.fromtimestamp(timestamp, timezone.utc).date().isoformat() if timestamp else ""
