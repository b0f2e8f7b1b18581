"""The DATEV export: one month of an account's Stripe activity as a DATEV-Format Buchungsstapel (EXTF 700, 21, 13).

The Stripe balance is its own money account (the clearing account): every booking has it as `Konto` and
the category's account as `Gegenkonto`; `S` when money comes into the Stripe balance, `H` when it leaves.
- Sales are booked gross, Stripe's fee on them apart (fees account); refunds, chargebacks and their
  reversals on their own accounts; every other movement on the "other" account.
- A payout is booked when it arrived (its arrival day), clearing account against money in transit, with
  its po_… id in Belegfeld 1. A failed or canceled payout never arrived: neither it nor the money that came
  back for it (payout_failure / payout_cancel) is booked, as the two cancel out on the Stripe balance.
So the clearing account's month (S - H) is the change of the Stripe balance, payouts counted on arrival.
"""
import calendar
from dataclasses import dataclass
from datetime import date, datetime, timezone

from flask_babel import gettext as _

from ..models import BalanceTransaction, Charge, Invoice, Payout
from .categories import category_label

FORMAT = ("EXTF", 700, 21, "Buchungsstapel", 13)
RETURNED_PAYOUTS = ("payout_failure", "payout_cancel")
FAILED = ("failed", "canceled")
ROLE_OF_CATEGORY = {
    "charge": "revenue_account", "charge_failure": "revenue_account", "partial_capture_reversal": "revenue_account",
    "refund": "refunds_account", "refund_failure": "refunds_account",
    "dispute": "disputes_account", "dispute_reversal": "disputes_account",
    "fee": "fees_account", "tax": "fees_account",
}
# The 125 columns of Formatversion 13 (DATEV-Format Buchungsstapel), names as line 2 carries them.
COLUMNS = (
    ["Umsatz", "Soll/Haben-Kennzeichen", "WKZ Umsatz", "Kurs", "Basis-Umsatz", "WKZ Basis-Umsatz", "Konto",
     "Gegenkonto (ohne BU-Schlüssel)", "BU-Schlüssel", "Belegdatum", "Belegfeld 1", "Belegfeld 2", "Skonto",
     "Buchungstext", "Postensperre", "Diverse Adressnummer", "Geschäftspartnerbank", "Sachverhalt", "Zinssperre",
     "Beleglink"]
    + [name for n in range(1, 9) for name in (f"Beleginfo - Art {n}", f"Beleginfo - Inhalt {n}")]
    + ["KOST1 - Kostenstelle", "KOST2 - Kostenstelle", "Kost-Menge", "EU-Land u. UStID (Bestimmung)",
       "EU-Steuersatz (Bestimmung)", "Abw. Versteuerungsart", "Sachverhalt L+L", "Funktionsergänzung L+L",
       "BU 49 Hauptfunktionstyp", "BU 49 Hauptfunktionsnummer", "BU 49 Funktionsergänzung"]
    + [name for n in range(1, 21) for name in (f"Zusatzinformation - Art {n}", f"Zusatzinformation - Inhalt {n}")]
    + ["Stück", "Gewicht", "Zahlweise", "Forderungsart", "Veranlagungsjahr", "Zugeordnete Fälligkeit", "Skontotyp",
       "Auftragsnummer", "Buchungstyp", "USt-Schlüssel (Anzahlungen)", "EU-Mitgliedstaat (Anzahlungen)",
       "Sachverhalt L+L (Anzahlungen)", "EU-Steuersatz (Anzahlungen)", "Erlöskonto (Anzahlungen)", "Herkunft-Kz",
       "Leerfeld", "KOST-Datum", "SEPA-Mandatsreferenz", "Skontosperre", "Gesellschaftername", "Beteiligtennummer",
       "Identifikationsnummer", "Zeichnernummer", "Postensperre bis", "Bezeichnung SoBil-Sachverhalt",
       "Kennzeichen SoBil-Buchung", "Festschreibung", "Leistungsdatum", "Datum Zuord. Steuerperiode", "Fälligkeit",
       "Generalumkehr (GU)", "Steuersatz", "Land", "Abrechnungsreferenz", "BVV-Position",
       "EU-Land u. UStID (Ursprung)", "EU-Steuersatz (Ursprung)", "Abw. Skontokonto"]
)
TEXT_LIMIT = 60
BELEGFELD_LIMIT = 36


class BadMonth(ValueError):
    """`month` is not YYYY-MM (or not a real month)."""


def parse_month(value):
    try:
        year, month = (value or "").split("-")
        if len(year) != 4 or len(month) != 2:
            raise ValueError
        first = date(int(year), int(month), 1)
    except ValueError:
        raise BadMonth(value) from None
    return first, first.replace(day=calendar.monthrange(first.year, first.month)[1])


@dataclass
class Booking:
    amount: int  # minor units, > 0
    debit: bool  # S on the clearing account
    currency: str
    contra: int  # Gegenkonto
    day: date
    reference: str  # Belegfeld 1
    text: str


def _timestamp(day):
    return int(datetime(day.year, day.month, day.day, tzinfo=timezone.utc).timestamp())


def _day(timestamp):
    return datetime.fromtimestamp(timestamp, timezone.utc).date()


def bookings(connection, first, last, numbers):
    """The month's bookings, oldest first: each balance transaction's gross and fee, then arrived payouts."""
    lo, hi = _timestamp(first), _timestamp(last) + 86400
    accounts = numbers.accounts
    transactions = list(
        BalanceTransaction.select().where(
            (BalanceTransaction.connection == connection) & (BalanceTransaction.created >= lo)
            & (BalanceTransaction.created < hi) & ~BalanceTransaction.type.in_(("payout",) + RETURNED_PAYOUTS))
        .order_by(BalanceTransaction.created, BalanceTransaction.id))
    names = _who_paid(connection, [t.source_id for t in transactions if t.source_id])
    found = []
    for txn in transactions:
        category = txn.reporting_category or "other_adjustment"
        role = ROLE_OF_CATEGORY.get(category, "other_account")
        reference, who = names.get(txn.source_id, (txn.source_id or txn.stripe_id, ""))
        day = _day(txn.created)
        label = category_label(category)
        if txn.amount:
            found.append(Booking(abs(txn.amount), txn.amount > 0, txn.currency, accounts[role], day, reference,
                                 _text(label, txn.source_id or txn.stripe_id, who)))
        if txn.fee:
            found.append(Booking(abs(txn.fee), txn.fee < 0, txn.currency, accounts["fees_account"], day, reference,
                                 _text(_("Stripe fee"), txn.source_id or txn.stripe_id, who)))
    arrived = (Payout.select().where(
        (Payout.connection == connection) & (Payout.arrival_date >= lo) & (Payout.arrival_date < hi)
        & ~Payout.status.in_(FAILED)).order_by(Payout.arrival_date, Payout.id))
    for payout in arrived:
        if payout.amount:
            found.append(Booking(abs(payout.amount), payout.amount < 0, payout.currency, accounts["transit_account"],
                                 _day(payout.arrival_date), payout.stripe_id,
                                 _text(_("Stripe payout"), payout.stripe_id, "")))
    return found


def _who_paid(connection, source_ids):
    """source id -> (Belegfeld 1: the invoice number where Stripe has one, else the id; customer's name)."""
    charges = {c.stripe_id: c for c in Charge.select().where(
        (Charge.connection == connection) & Charge.stripe_id.in_(list(set(source_ids))))} if source_ids else {}
    invoices = {}
    if charges:
        for invoice in Invoice.select().where((Invoice.connection == connection) & (
                Invoice.charge_id.in_(list(charges)) | Invoice.payment_intent_id.in_(
                    [c.payment_intent_id for c in charges.values() if c.payment_intent_id]))):
            invoices[invoice.charge_id or invoice.payment_intent_id] = invoice
    found = {}
    for charge_id, charge in charges.items():
        invoice = invoices.get(charge_id) or invoices.get(charge.payment_intent_id)
        number = invoice.number if invoice and invoice.number else charge_id
        found[charge_id] = (number, charge.customer_name or charge.customer_email or "")
    return found


def _text(what, stripe_id, who):
    text = " ".join(part for part in (what, stripe_id, who) if part)
    return text[:TEXT_LIMIT]


# --- writing the file -------------------------------------------------------------------------------------

def _quoted(value):
    value = "" if value is None else str(value)
    value = value.replace("\r", " ").replace("\n", " ").replace('"', '""')
    return f'"{value}"'


def _amount(cents):
    return f"{cents // 100},{cents % 100:02d}"


def _fiscal_year_start(first, start_month):
    year = first.year if first.month >= start_month else first.year - 1
    return date(year, start_month, 1)


def header(first, last, numbers, created):
    fields = [
        _quoted("EXTF"), "700", "21", _quoted("Buchungsstapel"), "13",
        created.strftime("%Y%m%d%H%M%S") + f"{created.microsecond // 1000:03d}",  # 6 erzeugt am
        "",  # 7 Importiert: left for DATEV to fill
        _quoted("RE"),  # 8 Herkunft
        _quoted("Envoix"),  # 9 Exportiert von
        _quoted(""),  # 10 Importiert von
        str(numbers.adviser_number), str(numbers.client_number),  # 11 Beraternummer, 12 Mandantennummer
        _fiscal_year_start(first, numbers.fiscal_year_start_month).strftime("%Y%m%d"),  # 13 WJ-Beginn
        str(numbers.account_length),  # 14 Sachkontenlänge
        first.strftime("%Y%m%d"), last.strftime("%Y%m%d"),  # 15 Datum vom, 16 Datum bis
        _quoted(f"Stripe {first:%Y-%m}"),  # 17 Bezeichnung (≤ 30)
        _quoted(""),  # 18 Diktatkürzel
        "1",  # 19 Buchungstyp: Finanzbuchführung
        "0",  # 20 Rechnungslegungszweck: unabhängig
        "0",  # 21 Festschreibung: none, the advisor checks first
        _quoted("EUR"),  # 22 WKZ
        "",  # 23 reserviert
        _quoted(""),  # 24 Derivatskennzeichen
        "", "",  # 25, 26 reserviert
        _quoted(numbers.chart[3:]),  # 27 Sachkontenrahmen: "03" or "04"
        "",  # 28 ID der Branchenlösung
        "",  # 29 reserviert
        _quoted(""),  # 30 reserviert
        _quoted(""),  # 31 Anwendungsinformation
    ]
    return ";".join(fields)


def booking_line(booking, numbers):
    values = [""] * len(COLUMNS)
    values[0] = _amount(booking.amount)
    values[1] = _quoted("S" if booking.debit else "H")
    values[2] = _quoted(booking.currency.upper())
    values[5] = _quoted("")
    values[6] = str(numbers.accounts["clearing_account"])
    values[7] = str(booking.contra)
    values[8] = _quoted("")
    values[9] = booking.day.strftime("%d%m")
    values[10] = _quoted(booking.reference[:BELEGFELD_LIMIT])
    values[11] = _quoted("")
    values[13] = _quoted(booking.text)
    return ";".join(values)


def lines(connection, first, last, numbers, created=None):
    """The file's lines (without line ends): header, column names, one per booking."""
    created = created or datetime.now(timezone.utc)
    yield header(first, last, numbers, created)
    yield ";".join(COLUMNS)
    for booking in bookings(connection, first, last, numbers):
        yield booking_line(booking, numbers)


def encode(text_lines):
    """Windows-1252, CR LF: what DATEV reads. A character it cannot hold becomes "?" (names only)."""
    return "".join(line + "\r\n" for line in text_lines).encode("cp1252", errors="replace")


def filename(connection, first):
    return f"EXTF_Buchungsstapel_{connection.stripe_account_id}_{first:%Y-%m}.csv"
