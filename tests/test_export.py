"""The CSV export, the bookkeeper's file: every payout with its reconciliation, every settled transaction with its
category in words, who paid and the invoice; spreadsheet conventions of the user's language; safe to open."""
import csv
import io
import re
from decimal import Decimal
from urllib.parse import unquote

import pytest

import account_steps as steps
from conftest import Web
from envoix.accounts import export
from envoix.db import database
from envoix.models import BalanceTransaction, Charge, Invoice

COLUMNS = 20


def shop(app, web, stripe, user, reconciled=1, business_name="Bäckerei Müller"):
    """An account with `reconciled` payouts that add up, one that does not and one still on its way, imported."""
    connection, account_id, _ = steps.connect_by_key(app, stripe, user, business_name=business_name,
                                                     n_balance_transactions=15)
    good = [stripe.add_payout_with_transactions(account_id, 3 + i) for i in range(reconciled)]
    off = stripe.add_payout_with_transactions(account_id, 2, mismatch_cents=5)
    later = stripe.add_payout_with_transactions(account_id, 2, status="in_transit")
    web.post(f"/accounts/{connection.id}/import")
    return connection, account_id, good, off, later


def settled(payout_id):
    with database.connection_context():
        return list(BalanceTransaction.select().where(
            (BalanceTransaction.payout_id == payout_id) & (BalanceTransaction.type != "payout"))
            .order_by(BalanceTransaction.created, BalanceTransaction.id))


def rows_of(response, delimiter=";"):
    data = response.get_data()
    assert data.startswith(b"\xef\xbb\xbf")  # UTF-8 byte order mark: German Excel then reads umlauts
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig")), delimiter=delimiter))


def test_german_export_has_every_payout_with_its_reconciliation_in_words(app, web, user, stripe):
    connection, _, (good,), off, later = shop(app, web, stripe, user)

    response = web.get(f"/accounts/{connection.id}/export.csv")

    assert response.status_code == 200
    assert "Content-Length" not in response.headers  # streamed as it is written, not built whole first
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    rows = rows_of(response)
    header, lines = rows[0], rows[1:]
    assert header[:3] == ["Auszahlung", "Status der Auszahlung", "Abgleich"]
    assert header[5] == "Auszahlung erstellt (Europe/Berlin)" and header[-3:] == ["Brutto", "Gebühr", "Netto"]
    assert all(len(row) == COLUMNS for row in rows)
    by_payout = {}
    for line in lines:
        by_payout.setdefault(line[0], []).append(line)
    assert {good, off, later} <= set(by_payout)
    assert {line[2] for line in by_payout[good]} == {"abgeglichen"}
    assert by_payout[off][0][2] == "Differenz" and by_payout[off][0][3] == "0,05"
    assert by_payout[later][0][2] == "wartet" and by_payout[later][0][9] == ""  # no lines listed yet
    transactions = settled(good)
    assert [line[9] for line in by_payout[good]] == [t.stripe_id for t in transactions]
    assert {line[11] for line in by_payout[good]} == {"Zahlungen"}  # the category in words
    payout = steps.payout(connection, good)
    assert by_payout[good][0][7] == f"{payout.amount // 100},{payout.amount % 100:02d}" and by_payout[good][0][8] == "EUR"
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\+0[12]:00", by_payout[good][0][12])  # the zone's offset
    assert sum(Decimal(line[-1].replace(",", ".")) for line in by_payout[good]) == Decimal(payout.amount) / 100


def test_the_file_name_is_in_the_users_language_and_safe_for_every_browser(app, web, user, stripe):
    connection, *_ = shop(app, web, stripe, user, business_name='Bäckerei "Müller"; Café/Konditorei')

    disposition = web.get(f"/accounts/{connection.id}/export.csv").headers["Content-Disposition"]

    plain, encoded = re.fullmatch(r'attachment; filename="([^"]*)"; filename\*=UTF-8\'\'(\S+)', disposition).groups()
    assert plain.isascii() and plain.startswith("Stripe-Auszahlungen Backerei Muller CafeKonditorei Test ")
    assert unquote(encoded).startswith("Stripe-Auszahlungen Bäckerei Müller CaféKonditorei Test ")
    web.post("/language", {"lang": "en"})
    disposition = web.get(f"/accounts/{connection.id}/export.csv").headers["Content-Disposition"]
    assert 'filename="Stripe payouts Backerei Muller CafeKonditorei test ' in disposition


def test_english_export_uses_commas_and_decimal_points(app, web, user, stripe):
    connection, _, (good,), _, _ = shop(app, web, stripe, user)
    web.post("/language", {"lang": "en"})

    rows = rows_of(web.get(f"/accounts/{connection.id}/export.csv"), delimiter=",")

    assert rows[0][0] == "Payout" and rows[0][-1] == "Net" and rows[0][11] == "Category"
    line = next(row for row in rows if row[0] == good)
    payout = steps.payout(connection, good)
    assert line[7] == f"{payout.amount // 100}.{payout.amount % 100:02d}" and line[2] == "reconciled"
    assert all(len(row) == COLUMNS for row in rows)


def test_customers_and_invoice_numbers_are_in_the_export(app, web, user, stripe):
    connection, account_id, _ = steps.connect_by_key(app, stripe, user, n_balance_transactions=80, n_payouts=3)
    web.post(f"/accounts/{connection.id}/import")
    with database.connection_context():
        named = Charge.select().where(Charge.customer_name.is_null(False)).first()
        invoice = Invoice.select().where(Invoice.charge_id.is_null(False)).first()
    assert named is not None and invoice is not None  # read with the charges (expanded) and the invoices

    text = web.get(f"/accounts/{connection.id}/export.csv").get_data().decode("utf-8-sig")

    rows = list(csv.reader(io.StringIO(text), delimiter=";"))
    customers = {row[14]: row[15] for row in rows[1:] if row[14]}
    invoices = {row[14]: row[16] for row in rows[1:] if row[16]}
    if named.stripe_id in customers:
        assert named.customer_name in customers[named.stripe_id]
    if invoice.charge_id in invoices:
        assert invoices[invoice.charge_id] == invoice.number
    assert any(customers.values()) and any(invoices.values())


HOSTILE = ["=HYPERLINK(\"http://evil\")", "+1+1", "-2+3", "@SUM(A1)", " =1+1", "\t=1", "\r=1", "\n=1", "＝1+1",
           "＋1", "－1", "＠SUM(A1)"]


@pytest.mark.parametrize("description", HOSTILE)
def test_no_cell_can_become_a_formula(app, web, user, stripe, description):
    connection, account_id, _ = steps.connect_by_key(app, stripe, user, n_balance_transactions=5)
    payout_id = stripe.add_payout_with_transactions(account_id, 2)
    txn = next(t for t in stripe.account(account_id).collections["balance_transaction"].by_id.values()
               if t.payout == payout_id and t.type != "payout")
    stripe.make_odd(account_id, txn.id, {"description": description})
    web.post(f"/accounts/{connection.id}/import")

    rows = rows_of(web.get(f"/accounts/{connection.id}/export.csv"))

    (line,) = [row for row in rows if row[9] == txn.id]
    assert line[13] == "'" + description
    for row in rows:
        for cell in row:
            if cell and cell[0] in "=+-@\t\r\n ＝＋－＠":
                assert re.fullmatch(r"-?\d+,\d\d", cell), cell  # only plain negative amounts start like that


def test_guard_keeps_numbers_and_quotes_everything_else():
    assert export.guard("-12,50") == "-12,50" and export.guard("-12.50") == "-12.50"
    assert export.guard("-1+1") == "'-1+1" and export.guard("=1") == "'=1" and export.guard(None) == ""
    assert export.guard("Müller") == "Müller"


def test_an_export_of_many_payouts_is_written_chunk_by_chunk_in_order(app, web, user, stripe, monkeypatch):
    monkeypatch.setattr(export, "PAYOUTS_PER_CHUNK", 2)
    connection, _, good, _, _ = shop(app, web, stripe, user, reconciled=3)

    rows = rows_of(web.get(f"/accounts/{connection.id}/export.csv"))[1:]

    listed = [row[9] for row in rows if row[0] in good]
    assert listed == [t.stripe_id for payout_id in good for t in settled(payout_id)]


def test_nobody_else_can_export_lenas_payouts(app, web, user, stripe):
    connection, *_ = shop(app, web, stripe, user)
    other = Web(app.test_client())
    other.sign_up(email="mallory@example.com")

    assert other.get(f"/accounts/{connection.id}/export.csv").status_code == 404
    assert other.get(f"/accounts/{connection.id}/export.datev?month=2026-01").status_code == 404
